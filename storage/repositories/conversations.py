"""Conversation state, one row per user, so a restart resumes at the same step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    delete,
    select,
)

from storage.models import (
    ConversationState,
)
from storage.repositories._base import _Repository


class ConversationRepository(_Repository):
    async def get(self, telegram_user_id: int) -> ConversationState | None:
        return await self.session.get(ConversationState, telegram_user_id)

    async def save(
        self,
        telegram_user_id: int,
        name: str,
        state: str,
        data: str,
        now: datetime,
        expires_at: datetime,
    ) -> ConversationState:
        row = await self.get(telegram_user_id)
        if row is None:
            row = ConversationState(telegram_user_id=telegram_user_id, name=name, state=state)
            self.session.add(row)
        row.name, row.state, row.data = name, state, data
        row.updated_at, row.expires_at = now, expires_at
        return row

    async def delete(self, telegram_user_id: int) -> None:
        await self.session.execute(
            delete(ConversationState).where(ConversationState.telegram_user_id == telegram_user_id)
        )

    async def expired(self, now: datetime, limit: int = 100) -> Sequence[ConversationState]:
        return (
            await self.session.scalars(
                select(ConversationState)
                .where(ConversationState.expires_at <= now)
                .order_by(ConversationState.expires_at)
                .limit(limit)
            )
        ).all()

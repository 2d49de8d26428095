"""Figures about the running service (backlogs, ages) for /readyz and /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    select,
)

from storage.models import (
    InboundUpdate,
    OutboxMessage,
    Query,
    Reminder,
)
from storage.repositories._base import _Repository


class StatusRepository(_Repository):
    """Counts for readiness and metrics, from indexed status columns (nothing decrypted)."""

    async def _by_status(self, column: Any) -> dict[str, int]:
        rows = await self.session.execute(select(column, func.count()).group_by(column))
        return {str(status): int(count) for status, count in rows.all()}

    async def outbox_by_status(self) -> dict[str, int]:
        return await self._by_status(OutboxMessage.status)

    async def oldest_unsent(self) -> datetime | None:
        return await self.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status.in_(("pending", "sending"))
            )
        )

    async def reminders_by_status(self) -> dict[str, int]:
        return await self._by_status(Reminder.status)

    async def reminders_due(self, now: datetime) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(Reminder.status == "pending", Reminder.due_at <= now)
            )
            or 0
        )

    async def escalations_by_level(self) -> dict[int, int]:
        rows = await self.session.execute(
            select(Query.escalation_level, func.count())
            .where(Query.escalation_level > 0)
            .group_by(Query.escalation_level)
        )
        return {int(level): int(count) for level, count in rows.all()}

    async def inbound_pending(self) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(InboundUpdate)
                .where(InboundUpdate.status == "pending")
            )
            or 0
        )

"""Stored Telegram updates: written before acknowledgement, handled from the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.crypto import associated_data
from storage.models import (
    InboundUpdate,
)
from storage.repositories._base import _Repository, rowcount
from storage.types import new_uid


class InboundRepository(_Repository):
    async def add_new(self, updates: dict[int, str], now: datetime) -> set[int]:
        """Store the updates (id: payload) not stored yet, in one statement; their ids.

        One INSERT for a whole getUpdates batch: a statement per update was most of the
        cost of storing it.
        """
        rows = []
        for update_id, payload in updates.items():
            uid = new_uid()
            blob = self.keyring.encrypt(payload, associated_data("inbound_updates", "payload", uid))
            rows.append(
                {"update_id": update_id, "uid": uid, "payload_enc": blob, "received_at": now}
            )
        if not rows:
            return set()
        result = await self.session.execute(_insert_new_updates(self._postgres()), rows)
        return set(result.scalars())

    async def pending(self, limit: int = 100) -> Sequence[InboundUpdate]:
        return (
            await self.session.scalars(
                select(InboundUpdate)
                .where(InboundUpdate.status == "pending")
                .order_by(InboundUpdate.update_id)
                .limit(limit)
            )
        ).all()

    async def get(self, update_id: int) -> InboundUpdate | None:
        return await self.session.get(InboundUpdate, update_id)

    async def mark_done(self, update_id: int, now: datetime) -> None:
        """Handled: keep the id (so a redelivery is recognised), drop the content."""
        await self.session.execute(_MARK_DONE, {"id": update_id, "now": now})

    async def highest_id(self) -> int | None:
        return await self.session.scalar(select(func.max(InboundUpdate.update_id)))

    async def handled_before(self, before: datetime, keep: int | None, limit: int) -> list[int]:
        """Ids of updates handled and received before `before`, except `keep`."""
        return await self._ids(
            select(InboundUpdate.update_id)
            .where(
                InboundUpdate.status == "done",
                InboundUpdate.received_at < before,
                InboundUpdate.update_id != keep,
            )
            .order_by(InboundUpdate.update_id)
            .limit(limit)
        )

    async def delete(self, update_ids: Sequence[int]) -> int:
        return rowcount(
            await self.session.execute(
                delete(InboundUpdate).where(InboundUpdate.update_id.in_(update_ids))
            )
        )


_INBOUND = cast(Table, InboundUpdate.__table__)
# Core statements on the per-update paths, built once: ORM-enabled statements cost more to
# prepare and execute than the SQL they send.
_MARK_DONE = (
    update(_INBOUND)
    .where(_INBOUND.c.update_id == bindparam("id"))
    .values(status="done", handled_at=bindparam("now"), payload_enc=None)
)


def mark_all_done(update_ids: Sequence[int], now: datetime) -> Any:
    """One statement marking the updates of a grouped commit done (see CommitGroup)."""
    return (
        update(_INBOUND)
        .where(_INBOUND.c.update_id.in_(update_ids))
        .values(status="done", handled_at=now, payload_enc=None)
    )


@lru_cache(maxsize=2)
def _insert_new_updates(postgres: bool) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING update_id: the ids
    returned are the updates that were new (both SQLite and PostgreSQL return only the
    rows inserted). Executed with a list of rows, SQLAlchemy sends them as one
    multi-row statement ("insertmanyvalues")."""
    dialect_insert = postgresql_insert if postgres else sqlite_insert
    return (
        dialect_insert(_INBOUND)
        .values(status="pending")
        .on_conflict_do_nothing(index_elements=[_INBOUND.c.update_id])
        .returning(_INBOUND.c.update_id)
    )

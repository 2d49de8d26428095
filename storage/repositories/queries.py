"""Queries and their thread of messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case as sql_case
from sqlalchemy import select, update

from storage.models import Case, Query, ThreadMessage
from storage.repositories._base import _Repository, rowcount

ESCALATION_BATCH = 200


class QueryRepository(_Repository):
    """Queries and their thread of messages."""

    async def get(self, query_id: int) -> Query | None:
        return await self.session.get(Query, query_id)

    def add(self, query: Query) -> None:
        self.session.add(query)

    def add_message(
        self,
        case_id: int | None,
        author_id: int | None,
        body: str,
        now: datetime,
        query_id: int | None = None,
    ) -> ThreadMessage:
        """A message on the case's thread (on one of its queries when `query_id` is given)."""
        message = ThreadMessage(
            case_id=case_id, query_id=query_id, author_id=author_id, body=body, created_at=now
        )
        self.session.add(message)
        return message

    async def messages_of(self, query_id: int) -> Sequence[ThreadMessage]:
        """One query's messages in the order they were written."""
        return (
            await self.session.scalars(
                select(ThreadMessage)
                .where(ThreadMessage.query_id == query_id)
                .order_by(ThreadMessage.created_at, ThreadMessage.id)
            )
        ).all()

    async def thread_with_askers(self, case_id: int) -> list[tuple[ThreadMessage, int | None]]:
        """The case's thread, each message with who asked its query (None off a query)."""
        rows = await self.session.execute(
            select(ThreadMessage, Query.asked_by_id)
            .outerjoin(Query, Query.id == ThreadMessage.query_id)
            .where(ThreadMessage.case_id == case_id)
            .order_by(ThreadMessage.created_at, ThreadMessage.id)
        )
        return [(message, asked_by) for message, asked_by in rows.all()]

    async def held_by(self, clinician_id: int, statuses: Sequence[str]) -> Sequence[Query]:
        """A clinician's queue: the queries they hold in these statuses, urgent cases'
        first, then oldest first."""
        routine_last = sql_case((Case.urgency == "urgent", 0), else_=1)
        return (
            await self.session.scalars(
                select(Query)
                .join(Case, Case.id == Query.case_id)
                .where(Query.holder_id == clinician_id, Query.status.in_(statuses))
                .order_by(routine_last, Query.created_at, Query.id)
            )
        ).all()

    async def unresolved_of_case(self, case_id: int) -> Sequence[Query]:
        return (
            await self.session.scalars(
                select(Query)
                .where(Query.case_id == case_id, Query.status != "resolved")
                .order_by(Query.id)
            )
        ).all()

    async def unacknowledged_to_escalate(self) -> list[tuple[Query, Case]]:
        """Open queries not yet escalated to the admins, with their cases, oldest first.

        Claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so several processes never
        escalate the same query twice.
        """
        statement = (
            select(Query, Case)
            .join(Case, Case.id == Query.case_id)
            .where(Query.status == "open", Query.escalation_level < 2)
            .order_by(Query.id)
            .limit(ESCALATION_BATCH)
        )
        if self._postgres():
            statement = statement.with_for_update(skip_locked=True, of=Query)
        return [(query, case) for query, case in (await self.session.execute(statement)).all()]

    async def purge_threads(self, case_ids: Sequence[int], now: datetime) -> int:
        """Blank the message bodies of these cases' threads; returns how many were cleared."""
        return rowcount(
            await self.session.execute(
                update(ThreadMessage)
                .where(ThreadMessage.case_id.in_(case_ids), ThreadMessage.purged_at.is_(None))
                .values(body_enc=None, purged_at=now)
            )
        )

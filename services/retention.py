"""Retention: closing a case, and the purge that removes what must not be kept.

`purge` clears, for cases closed longer than RETENTION_DAYS: message bodies, the case's
free text and patient identifiers, appointment locations, follow-up notes, queued and
sent copies of messages, and the patient's Telegram binding. Rows, references, statuses
and timestamps stay, so reports still count and the audit chain still verifies. Copies of
texts kept only for delivery (sent outbox payloads, handled inbound updates) go after a
short window whatever the case. Each batch is its own transaction; a run interrupted
half-way finishes on the next run, and a second run changes nothing.

`purge_once` is the scheduled run: once per night across every process of a database.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, func, select, text, update

from services.erasure import erase_person, patients_of_case
from storage.models import (
    Appointment,
    AuditEntry,
    Case,
    InboundUpdate,
    OutboxMessage,
    Person,
    Query,
    Reminder,
    ThreadMessage,
)
from storage.uow import Database, UnitOfWork

BATCH = 200
COPIES_KEPT = timedelta(days=30)
FINISHED = ("sent", "failed", "undeliverable")
# First key of the scheduled purge's advisory lock ("PURG"); the second is the schema's
# hash, as for the update taker's lock (bot/leadership.py).
PURGE_LOCK_CLASS = 0x50555247


class Skipped(enum.Enum):
    """Why `purge_once` did not purge."""

    DONE = "a purge ran since it was due"
    ELSEWHERE = "another process is purging now"


@dataclass
class PurgeResult:
    """What one purge run removed (counts only: this goes into the audit log)."""

    cases: int = 0
    thread_messages: int = 0
    appointments: int = 0
    reminders: int = 0
    patients: int = 0
    outbox_payloads: int = 0
    inbound_updates: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Closed:
    case: Case
    open_queries: Sequence[Query]


async def close_case(uow: UnitOfWork, case: Case, by: Person, now: datetime) -> Closed:
    """Close a case; refused (nothing changes) while any of its queries is unresolved."""
    open_queries = (
        await uow.session.scalars(
            select(Query)
            .where(Query.case_id == case.id, Query.status != "resolved")
            .order_by(Query.id)
        )
    ).all()
    if open_queries or case.status == "closed":
        return Closed(case, open_queries)
    case.status, case.closed_at = "closed", now
    await uow.audit.record(now, by.ref, "case.closed", case.ref)
    return Closed(case, [])


def _rows(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


async def _purge_cases(uow: UnitOfWork, ids: list[int], now: datetime, result: PurgeResult) -> None:
    session = uow.session
    result.thread_messages += _rows(
        await session.execute(
            update(ThreadMessage)
            .where(ThreadMessage.case_id.in_(ids), ThreadMessage.purged_at.is_(None))
            .values(body_enc=None, purged_at=now)
        )
    )
    result.appointments += _rows(
        await session.execute(
            update(Appointment)
            .where(Appointment.case_id.in_(ids), Appointment.location_enc.is_not(None))
            .values(location_enc=None)
        )
    )
    result.reminders += _rows(
        await session.execute(
            update(Reminder)
            .where(Reminder.case_id.in_(ids), Reminder.note_enc.is_not(None))
            .values(note_enc=None)
        )
    )
    result.outbox_payloads += _rows(
        await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.case_id.in_(ids),
                OutboxMessage.status.in_(FINISHED),
                OutboxMessage.payload_enc.is_not(None),
            )
            .values(payload_enc=None)
        )
    )
    for case_id in ids:
        for patient in await patients_of_case(uow, case_id):
            await erase_person(uow, patient, now)
            result.patients += 1
    result.cases += _rows(
        await session.execute(
            update(Case)
            .where(Case.id.in_(ids))
            .values(
                nhs_number_enc=None,
                nhs_number_index=None,
                date_of_birth_enc=None,
                site_enc=None,
                summary_enc=None,
                purged_at=now,
            )
        )
    )


async def purge(
    db: Database,
    now: datetime,
    retention: timedelta,
    *,
    copies_kept: timedelta = COPIES_KEPT,
    batch: int = BATCH,
    actor: str = "system",
) -> PurgeResult:
    """Apply the retention policy; one audit entry per run, with counts."""
    result = PurgeResult()
    cutoff = now - retention
    while True:
        async with db.uow() as uow:
            ids = list(
                (
                    await uow.session.scalars(
                        select(Case.id)
                        .where(
                            Case.status == "closed",
                            Case.closed_at < cutoff,
                            Case.purged_at.is_(None),
                            # A query asked or reopened after closing keeps the case whole
                            # until someone resolves it: never purge what is still asked.
                            ~exists().where(Query.case_id == Case.id, Query.status != "resolved"),
                        )
                        .order_by(Case.id)
                        .limit(batch)
                    )
                ).all()
            )
            if not ids:
                break
            await _purge_cases(uow, ids, now, result)
            await uow.commit()
    copies_before = now - copies_kept
    while True:
        async with db.uow() as uow:
            ids = list(
                (
                    await uow.session.scalars(
                        select(OutboxMessage.id)
                        .where(
                            OutboxMessage.status.in_(FINISHED),
                            OutboxMessage.created_at < copies_before,
                            OutboxMessage.payload_enc.is_not(None),
                        )
                        .order_by(OutboxMessage.id)
                        .limit(batch)
                    )
                ).all()
            )
            if not ids:
                break
            result.outbox_payloads += _rows(
                await uow.session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(payload_enc=None)
                )
            )
            await uow.commit()
    while True:
        async with db.uow() as uow:
            # The newest stored update is kept: polling resumes after its id.
            newest = await uow.session.scalar(select(func.max(InboundUpdate.update_id)))
            ids = list(
                (
                    await uow.session.scalars(
                        select(InboundUpdate.update_id)
                        .where(
                            and_(
                                InboundUpdate.status == "done",
                                InboundUpdate.received_at < copies_before,
                                InboundUpdate.update_id != newest,
                            )
                        )
                        .order_by(InboundUpdate.update_id)
                        .limit(batch)
                    )
                ).all()
            )
            if not ids:
                break
            result.inbound_updates += _rows(
                await uow.session.execute(
                    delete(InboundUpdate).where(InboundUpdate.update_id.in_(ids))
                )
            )
            await uow.commit()
    async with db.uow() as uow:
        await uow.audit.record(
            now,
            actor,
            "retention.purged",
            "",
            retention_days=retention.days,
            closed_before=cutoff.date().isoformat(),
            **result.as_dict(),
        )
        await uow.commit()
    return result


async def last_purge(uow: UnitOfWork) -> datetime | None:
    """When the latest purge ran (its audit entry is the record), or None if none did."""
    return await uow.session.scalar(
        select(func.max(AuditEntry.at)).where(AuditEntry.action == "retention.purged")
    )


@asynccontextmanager
async def _purge_lock(db: Database) -> AsyncIterator[bool]:
    """Whether this process may purge: on PostgreSQL, holds a session advisory lock."""
    if db.dialect != "postgresql":
        yield True  # SQLite: one bot process per database file (bot/leadership.py)
        return
    # A lock for the whole run, which spans many transactions: on a connection of its own,
    # freed by the server if this process dies half-way.
    key = {"c": PURGE_LOCK_CLASS}
    async with db.engine.connect() as conn:
        held = bool(
            await conn.scalar(
                text("SELECT pg_try_advisory_lock(:c, hashtext(current_schema()))"), key
            )
        )
        await conn.commit()
        try:
            yield held
        finally:
            if held:
                try:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"), key
                    )
                    await conn.commit()
                except BaseException:
                    # Never back to the pool still holding the lock: closed, it is freed.
                    await conn.invalidate()
                    raise


async def purge_once(
    db: Database, now: datetime, retention: timedelta, due: datetime
) -> PurgeResult | Skipped:
    """The scheduled purge that fell due at `due`, run by one process only.

    Under the lock, a purge recorded at or after `due` means another process did it; a
    process finding the lock taken leaves it to the holder. So however many processes
    share the database, one purge and one audit entry per night.
    """
    async with _purge_lock(db) as held:
        if not held:
            return Skipped.ELSEWHERE
        async with db.uow() as uow:
            last = await last_purge(uow)
        if last is not None and last >= due:
            return Skipped.DONE
        return await purge(db, now, retention)

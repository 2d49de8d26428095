"""Retention: closing a case, and the purge that removes what must not be kept.

`purge` clears, for cases closed longer than RETENTION_DAYS: message bodies, the case's
free text and patient identifiers, attached files (bytes, captions, Telegram file ids),
appointment locations, follow-up notes, queued and sent copies of messages, and the
patient's Telegram binding. Rows, references, statuses, timestamps and each file's type,
size and hash stay, so reports still count and the audit chain still verifies. Copies of
texts kept only for delivery (sent outbox payloads, handled inbound updates) go after a
short window whatever the case. Each batch is its own transaction; a run interrupted
half-way finishes on the next run, and a second run changes nothing.

`purge_once` is the scheduled run: once per night across every process of a database.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from services.erasure import erase_person
from storage.models import Case, Person, Query
from storage.uow import Database, UnitOfWork

BATCH = 200
COPIES_KEPT = timedelta(days=30)
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
    attachments: int = 0
    mdt_listings: int = 0
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
    # The MDT meeting the case waits for: a case is not closed under a pending discussion
    # (its listing would neither roll over nor get an outcome).
    listed_for: date | None = None


async def close_case(uow: UnitOfWork, case: Case, by: Person, now: datetime) -> Closed:
    """Close a case; refused (nothing changes) while any of its queries is unresolved."""
    open_queries = await uow.queries.unresolved_of_case(case.id)
    listed = await uow.mdt.active_listing(case.id)
    if open_queries or listed is not None or case.status == "closed":
        return Closed(case, open_queries, listed[1].meeting_date if listed else None)
    case.status, case.closed_at = "closed", now
    await uow.audit.record(now, by.ref, "case.closed", case.ref)
    return Closed(case, [])


async def _purge_cases(uow: UnitOfWork, ids: list[int], now: datetime, result: PurgeResult) -> None:
    result.thread_messages += await uow.queries.purge_threads(ids, now)
    result.attachments += await uow.attachments.purge_of_cases(ids, now)
    result.mdt_listings += await uow.mdt.purge_of_cases(ids, now)
    result.appointments += await uow.appointments.clear_appointment_locations(ids)
    result.reminders += await uow.appointments.clear_reminder_notes(ids)
    result.outbox_payloads += await uow.outbox.clear_finished_of_cases(ids)
    for patient in await uow.people.patients_of_cases(ids):
        await erase_person(uow, patient, now)
        result.patients += 1
    result.cases += await uow.cases.purge(ids, now)


async def _in_batches(
    db: Database,
    find: Callable[[UnitOfWork], Awaitable[list[int]]],
    apply: Callable[[UnitOfWork, list[int]], Awaitable[None]],
) -> None:
    """Find a batch and apply the step to it, each batch its own transaction, until
    nothing is found."""
    while True:
        async with db.uow() as uow:
            ids = await find(uow)
            if not ids:
                return
            await apply(uow, ids)
            await uow.commit()


async def _purge_closed_cases(
    db: Database, now: datetime, cutoff: datetime, batch: int, result: PurgeResult
) -> None:
    """Cases closed before the cut-off lose their texts and identifiers."""

    async def find(uow: UnitOfWork) -> list[int]:
        return await uow.cases.due_for_purge(cutoff, batch)

    async def apply(uow: UnitOfWork, ids: list[int]) -> None:
        await _purge_cases(uow, ids, now, result)

    await _in_batches(db, find, apply)


async def _clear_sent_copies(
    db: Database, before: datetime, batch: int, result: PurgeResult
) -> None:
    """Texts kept only for delivery go once the message is finished and old enough."""

    async def find(uow: UnitOfWork) -> list[int]:
        return await uow.outbox.finished_copies_before(before, batch)

    async def apply(uow: UnitOfWork, ids: list[int]) -> None:
        result.outbox_payloads += await uow.outbox.clear_payloads(ids)

    await _in_batches(db, find, apply)


async def _drop_handled_updates(
    db: Database, before: datetime, batch: int, result: PurgeResult
) -> None:
    """Stored Telegram updates go once handled and old enough."""

    async def find(uow: UnitOfWork) -> list[int]:
        # The newest stored update is kept: polling resumes after its id.
        newest = await uow.inbound.highest_id()
        return await uow.inbound.handled_before(before, newest, batch)

    async def apply(uow: UnitOfWork, ids: list[int]) -> None:
        result.inbound_updates += await uow.inbound.delete(ids)

    await _in_batches(db, find, apply)


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
    await _purge_closed_cases(db, now, cutoff, batch, result)
    copies_before = now - copies_kept
    await _clear_sent_copies(db, copies_before, batch, result)
    await _drop_handled_updates(db, copies_before, batch, result)
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
    return await uow.audit.last_at("retention.purged")


async def purge_once(
    db: Database, now: datetime, retention: timedelta, due: datetime
) -> PurgeResult | Skipped:
    """The scheduled purge that fell due at `due`, run by one process only.

    Under the lock, a purge recorded at or after `due` means another process did it; a
    process finding the lock taken leaves it to the holder. So however many processes
    share the database, one purge and one audit entry per night.
    """
    async with db.run_lock(PURGE_LOCK_CLASS) as held:
        if not held:
            return Skipped.ELSEWHERE
        async with db.uow() as uow:
            last = await last_purge(uow)
        if last is not None and last >= due:
            return Skipped.DONE
        return await purge(db, now, retention)

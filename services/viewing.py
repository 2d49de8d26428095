"""Audit entries for reading records: who looked at a case, a referrer's card, the
governance figures or the registrations waiting. Handlers show; this records that they did."""

from __future__ import annotations

from datetime import date, datetime

from storage.models import Case, Person
from storage.uow import UnitOfWork


async def case_viewed(uow: UnitOfWork, viewer: Person, case: Case, now: datetime) -> None:
    """`viewer` read `case` and its thread."""
    await uow.audit.record(now, viewer.ref, "case.viewed", case.ref)


async def referrer_viewed(uow: UnitOfWork, viewer: Person, referrer: Person, now: datetime) -> None:
    """An admin read a referrer's contact card."""
    await uow.audit.record(now, viewer.ref, "referrer.viewed", referrer.ref)


async def report_viewed(
    uow: UnitOfWork, viewer: Person, since: date, until: date, now: datetime
) -> None:
    """An admin read the governance figures of a period (/stats)."""
    await uow.audit.record(
        now, viewer.ref, "report.viewed", "", since=since.isoformat(), until=until.isoformat()
    )


async def registrations_listed(
    uow: UnitOfWork, viewer: Person, pending: int, now: datetime
) -> None:
    """An admin listed the registrations awaiting approval (/pending)."""
    await uow.audit.record(now, viewer.ref, "registrations.listed", "", pending=pending)

"""A clinician's availability: away until a date (new queries go to the deputy), or back."""

from __future__ import annotations

from datetime import date, datetime

from storage.models import Person
from storage.uow import UnitOfWork


async def set_away(uow: UnitOfWork, clinician: Person, until: date, now: datetime) -> None:
    """New queries for `clinician` go to their deputies until `until` (inclusive)."""
    clinician.away_until = until
    await uow.audit.record(now, clinician.ref, "clinician.away", until=str(until))


async def set_back(uow: UnitOfWork, clinician: Person, now: datetime) -> None:
    """`clinician` takes new queries again."""
    clinician.away_until = None
    await uow.audit.record(now, clinician.ref, "clinician.back")

"""Who must know when someone can no longer be reached through Telegram."""

from __future__ import annotations

from collections.abc import Sequence

from storage.models import Person, Role
from storage.uow import UnitOfWork


async def dependants_of(uow: UnitOfWork, person: Person) -> Sequence[Person]:
    """Whom to tell: the named clinician for a patient, the admins for everyone else.

    Until patients are linked to cases, a patient's carers are reached through the
    admins too, so nobody unreachable goes unnoticed.
    """
    admins = await uow.people.by_role(Role.ADMIN)
    return [a for a in admins if a.id != person.id and a.telegram_user_id and a.reachable]


async def admins(uow: UnitOfWork) -> Sequence[Person]:
    """Admins who can be told about delivery problems."""
    return [a for a in await uow.people.by_role(Role.ADMIN) if a.telegram_user_id and a.reachable]

"""Who must know when someone can no longer be reached through Telegram."""

from __future__ import annotations

from collections.abc import Sequence

from storage.models import Person, Role
from storage.uow import UnitOfWork


async def dependants_of(uow: UnitOfWork, person: Person) -> Sequence[Person]:
    """Whom to tell: the named clinician for a patient, the admins for everyone else
    (and for a patient whose case has no reachable named clinician)."""
    if person.role == Role.PATIENT and person.case_id is not None:
        case = await uow.cases.get(person.case_id)
        named = (
            await uow.people.get(case.named_clinician_id)
            if case and case.named_clinician_id
            else None
        )
        if named is not None and named.telegram_user_id and named.reachable:
            return [named]
    admins = await uow.people.by_role(Role.ADMIN)
    return [a for a in admins if a.id != person.id and a.telegram_user_id and a.reachable]


def wrote_to_the_bot(person: Person) -> None:
    """Writing to the bot is how someone who blocked it becomes reachable again."""
    if not person.reachable:
        person.reachable, person.unreachable_since = True, None


async def admins(uow: UnitOfWork) -> Sequence[Person]:
    """Admins who can be told about delivery problems."""
    return [a for a in await uow.people.by_role(Role.ADMIN) if a.telegram_user_id and a.reachable]

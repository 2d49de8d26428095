"""Cases: opening one, allocating its clinicians, who may see it, the next clinic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.allocation import Candidate, allocate
from storage.models import Case, Clinic, Person, PersonStatus, Role, ThreadMessage
from storage.uow import UnitOfWork


@dataclass(frozen=True)
class CaseDraft:
    """What the referrer confirmed."""

    nhs_number: str
    date_of_birth: str
    tumour_type: str
    site: str
    summary: str
    urgency: str


@dataclass
class CaseOpened:
    """A new case and everyone to tell."""

    case: Case
    named: Person | None
    deputy: Person | None
    link_clinicians: Sequence[Person]
    admins: Sequence[Person] = field(default_factory=list)
    duplicate_of: Case | None = None


def parse_ref(text: str, prefix: str) -> int | None:
    """`C-12`, `c12` or `12` -> 12."""
    raw = text.strip().upper().removeprefix(prefix).lstrip("-")
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


async def open_case_with_nhs(uow: UnitOfWork, nhs_number: str) -> Case | None:
    """The open case of this patient, found by blind index."""
    return await uow.cases.open_for_nhs_number(nhs_number)


async def candidates(uow: UnitOfWork) -> list[Candidate]:
    """Active clinicians with their load (open cases as named or deputy)."""
    clinicians = await uow.people.by_role(Role.CLINICIAN)
    load = await uow.cases.open_load_by_clinician()
    return [
        Candidate(
            person_id=c.id,
            specialties=frozenset(c.specialty_set),
            open_cases=int(load.get(c.id, 0)),
            away_until=c.away_until,
            default_deputy_id=c.deputy_id,
        )
        for c in clinicians
    ]


async def link_clinicians_for(
    uow: UnitOfWork, centre_id: str | None, tumour_type: str
) -> list[Person]:
    """The centre's link clinicians: specialty matching, or all of them if none match."""
    if centre_id is None:
        return []
    everyone = [
        p for p in await uow.people.by_role(Role.LINK_CLINICIAN) if p.centre_id == centre_id
    ]
    matching = [p for p in everyone if tumour_type in p.specialty_set]
    return matching or everyone


async def open_case(
    uow: UnitOfWork, referrer: Person, draft: CaseDraft, now: datetime, today: date
) -> CaseOpened:
    """Create the case and allocate its named clinician and deputy."""
    duplicate = await open_case_with_nhs(uow, draft.nhs_number)
    case = Case(
        referrer_id=referrer.id,
        centre_id=referrer.centre_id,
        nhs_number=draft.nhs_number,
        date_of_birth=draft.date_of_birth,
        tumour_type=draft.tumour_type,
        site=draft.site,
        summary=draft.summary,
        urgency=draft.urgency,
        status="open",
        created_at=now,
    )
    uow.cases.add(case)
    await uow.flush()
    await uow.audit.record(
        now,
        referrer.ref,
        "case.created",
        case.ref,
        tumour=draft.tumour_type,
        urgency=draft.urgency,
        duplicate_of=duplicate.ref if duplicate else None,
    )
    allocation = allocate(await candidates(uow), draft.tumour_type, today)
    links = await link_clinicians_for(uow, case.centre_id, case.tumour_type)
    if allocation is None:
        await uow.audit.record(now, "system", "case.unallocated", case.ref)
        admins = [a for a in await uow.people.by_role(Role.ADMIN) if a.telegram_user_id]
        return CaseOpened(case, None, None, links, admins, duplicate)
    named = await uow.people.get(allocation.named_id)
    deputy = await uow.people.get(allocation.deputy_id)
    await _allocated(uow, case, allocation.named_id, allocation.deputy_id, "system", now)
    return CaseOpened(case, named, deputy, links, [], duplicate)


async def _allocated(
    uow: UnitOfWork,
    case: Case,
    named_id: int,
    deputy_id: int,
    actor: str,
    now: datetime,
    **details: object,
) -> None:
    """Give the case its named clinician and deputy, and audit it."""
    case.named_clinician_id, case.deputy_id = named_id, deputy_id
    await uow.audit.record(
        now,
        actor,
        "case.allocated",
        case.ref,
        named=f"person:{named_id}",
        deputy=f"person:{deputy_id}",
        **details,
    )


async def allocate_by_hand(
    uow: UnitOfWork,
    admin: Person,
    case: Case,
    named_dir_id: str,
    deputy_dir_id: str,
    now: datetime,
) -> tuple[Person, Person] | str:
    """An admin's allocation; returns the two clinicians or what is wrong."""
    named = await uow.people.by_directory_id(named_dir_id)
    deputy = await uow.people.by_directory_id(deputy_dir_id)
    for given, person in ((named_dir_id, named), (deputy_dir_id, deputy)):
        if person is None or person.role != Role.CLINICIAN:
            return f"{given!r} is not a clinician in the directory."
        if person.status != PersonStatus.ACTIVE:
            return f"{given!r} is not active."
    assert named is not None and deputy is not None
    if named.id == deputy.id:
        return "The named clinician and the deputy must be two different people."
    await _allocated(uow, case, named.id, deputy.id, admin.ref, now, by_hand=True)
    return named, deputy


async def may_see(uow: UnitOfWork, person: Person | None, case: Case) -> bool:
    """Referrer, named, deputy, the centre's link clinicians, admins; nobody else."""
    if person is None or person.status != PersonStatus.ACTIVE:
        return False
    if person.role == Role.ADMIN:
        return True
    if person.id in (case.referrer_id, case.named_clinician_id, case.deputy_id):
        return True
    return (
        person.role == Role.LINK_CLINICIAN
        and person.centre_id is not None
        and (person.centre_id == case.centre_id)
    )


def holds_case(person: Person | None, case: Case) -> bool:
    """An active clinician who is the case's named clinician or deputy."""
    return (
        person is not None
        and person.status == PersonStatus.ACTIVE
        and person.role == Role.CLINICIAN
        and person.id in (case.named_clinician_id, case.deputy_id)
    )


def is_admin(person: Person | None) -> bool:
    """An active administrator."""
    return person is not None and person.status == PersonStatus.ACTIVE and person.role == Role.ADMIN


def may_manage(person: Person | None, case: Case) -> bool:
    """Book, move, close, list for the MDT...: an active admin, or an active clinician
    holding the case."""
    return is_admin(person) or holds_case(person, case)


def link_may_read(asked_by_id: int | None, case: Case) -> bool:
    """Need to know: a link clinician reads the referrer's queries and the answers to
    them, not what the patient raised themselves (a "can't attend" reason and its replies)."""
    return asked_by_id is not None and asked_by_id == case.referrer_id


async def thread_for(
    uow: UnitOfWork, person: Person, case: Case
) -> tuple[Sequence[ThreadMessage], bool]:
    """The case's thread as this person may read it, and whether anything was left out.

    Link clinicians get the referrer's queries with their answers; the patient's own
    messages and the queries they raised are for the case's clinicians, its referrer and
    the admins.
    """
    rows = await uow.queries.thread_with_askers(case.id)
    if person.role != Role.LINK_CLINICIAN:
        return [message for message, _ in rows], False
    shown = [message for message, asked_by in rows if link_may_read(asked_by, case)]
    return shown, len(shown) < len(rows)


async def visible_case(uow: UnitOfWork, person: Person | None, ref: str) -> Case | None:
    """The case if it exists and this person may see it; None either way otherwise."""
    case_id = parse_ref(ref, "C")
    case = await uow.cases.get(case_id) if case_id else None
    if case is None or not await may_see(uow, person, case):
        return None
    return case


async def cases_of(uow: UnitOfWork, person: Person) -> Sequence[Case]:
    """The cases one sees in /cases, newest first."""
    if person.role == Role.LINK_CLINICIAN:
        return await uow.cases.newest_of_centre(person.centre_id)
    if person.role == Role.ADMIN:
        return await uow.cases.newest()
    return await uow.cases.newest_involving(person.id)


def next_clinic(
    clinics: Sequence[Clinic], now: datetime, tz: ZoneInfo, kind: str = "one_stop"
) -> tuple[datetime, Clinic] | None:
    """The next session of a recurring clinic, as a local datetime."""
    local_now = now.astimezone(tz)
    best: tuple[datetime, Clinic] | None = None
    for clinic in clinics:
        if clinic.kind != kind:
            continue
        hour, minute = (int(x) for x in clinic.time.split(":"))
        days = (clinic.weekday - local_now.weekday()) % 7
        for extra in (0, 7):
            day = local_now.date() + timedelta(days=days + extra)
            start = datetime.combine(day, time(hour, minute), tzinfo=tz)
            if start > local_now:
                if best is None or start < best[0]:
                    best = (start, clinic)
                break
    return best

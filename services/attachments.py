"""Files on a case: who may add one, when a case takes no more, storing a checked file
once, and who receives it.

The file itself was checked before it gets here (services.attachment_check: its type
from its bytes, images re-encoded, unsafe PDFs refused); this module keeps the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from services.attachment_check import Checked
from services.cases import holds_case, link_clinicians_for, link_may_read
from services.queries import is_away
from storage.models import Attachment, Case, Person, PersonStatus, Query, Role
from storage.repositories import DuplicateAttachment
from storage.uow import UnitOfWork


class Refusal(StrEnum):
    """Why a file cannot be added to a case (before anything is downloaded)."""

    NOT_YOURS = "not_yours"  # not the case's referrer, clinician or the query's holder
    CLOSED = "closed"
    FULL = "full"  # the case has ATTACHMENTS_PER_CASE files


@dataclass(frozen=True)
class Attached:
    """A file stored on a case, and who is to hear of it."""

    attachment: Attachment
    files_to: Sequence[Person]  # get the file itself
    told: Sequence[Person]  # link clinicians: a line saying files were added, not the files


@dataclass(frozen=True)
class AlreadyThere:
    """The same file (by hash of the cleaned bytes) is on the case already."""

    existing: Attachment


def _active(person: Person | None) -> bool:
    return person is not None and person.status == PersonStatus.ACTIVE


def may_attach(person: Person | None, case: Case, query: Query | None = None) -> Refusal | None:
    """The case's active referrer, its named clinician or deputy, or the clinician holding
    the query; and only while the case is open."""
    referrer = _active(person) and person is not None and person.id == case.referrer_id
    holder = (
        query is not None
        and _active(person)
        and person is not None
        and person.role == Role.CLINICIAN
        and person.id == query.holder_id
    )
    if not (referrer or holds_case(person, case) or holder):
        return Refusal.NOT_YOURS
    if case.status != "open" or case.purged_at is not None:
        return Refusal.CLOSED
    return None


async def room_on(uow: UnitOfWork, case: Case, per_case: int) -> bool:
    """Whether the case takes another file."""
    return await uow.attachments.count_of_case(case.id) < per_case


async def attach(
    uow: UnitOfWork,
    sender: Person,
    case: Case,
    query: Query | None,
    file: Checked,
    caption: str | None,
    now: datetime,
    today: date,
) -> Attached | AlreadyThere:
    """Store the checked file on the case (once per case, by hash) and say who gets it.

    The caller has checked `may_attach` and `room_on`, in this transaction.
    """
    try:
        attachment = await uow.attachments.add(
            case_id=case.id,
            query_id=query.id if query else None,
            uploaded_by_id=sender.id,
            kind=file.kind.value,
            content=file.data,
            now=now,
            caption=caption or None,
            pages=file.page_count,
            width=file.width,
            height=file.height,
        )
    except DuplicateAttachment as duplicate:
        return AlreadyThere(duplicate.existing)
    await uow.flush()
    await uow.audit.record(
        now,
        sender.ref,
        "attachment.added",
        attachment.ref,
        case=case.ref,
        query=query.ref if query else None,
        kind=attachment.kind,
        size=attachment.size,
    )
    files_to = await _receivers(uow, sender, case, query, today)
    told: list[Person] = []
    if query is None or link_may_read(query.asked_by_id, case):
        told = [
            p
            for p in await link_clinicians_for(uow, case.centre_id, case.tumour_type)
            if p.id != sender.id and _active(p)
        ]
    return Attached(attachment, files_to, told)


async def _receivers(
    uow: UnitOfWork, sender: Person, case: Case, query: Query | None, today: date
) -> list[Person]:
    """The referrer, the clinician answering for the case now (the deputy while the named
    clinician is away) and the query's holder: everyone of them but the sender."""
    named = await uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
    deputy = await uow.people.get(case.deputy_id) if case.deputy_id else None
    current = named
    if is_away(named, today) and deputy is not None and not is_away(deputy, today):
        current = deputy
    holder = await uow.people.get(query.holder_id) if query and query.holder_id else None
    referrer = await uow.people.get(case.referrer_id)
    found: dict[int, Person] = {}
    for person in (referrer, current, holder):
        if person is not None and person.id != sender.id and _active(person):
            found.setdefault(person.id, person)
    return list(found.values())


async def files_of(uow: UnitOfWork, case: Case) -> Sequence[Attachment]:
    """The case's files, oldest first (metadata only)."""
    return await uow.attachments.of_case(case.id)


async def files_of_query(uow: UnitOfWork, query: Query) -> list[Attachment]:
    """The files sent on one query (for its advice summary), oldest first."""
    return [f for f in await uow.attachments.of_case(query.case_id) if f.query_id == query.id]


def may_receive(person: Person | None, case: Case) -> bool:
    """Who may have a case's files sent to them: its referrer, named clinician, deputy
    and admins. Not link clinicians: a letter or report carries the NHS number and date
    of birth, which they are not shown (docs/SECURITY.md)."""
    if not _active(person) or person is None:
        return False
    return person.role == Role.ADMIN or person.id in (
        case.referrer_id,
        case.named_clinician_id,
        case.deputy_id,
    )


@dataclass(frozen=True)
class SendAgain:
    """A stored file someone asked for again: the file, its case, its number there."""

    attachment: Attachment
    case: Case
    number: int


async def send_again(
    uow: UnitOfWork, person: Person | None, attachment_id: int, now: datetime
) -> SendAgain | str:
    """The file to send again to `person`, audited; or why not: "not_for_you" (also when
    there is no such file) or "gone" (removed by the retention purge)."""
    attachment = await uow.attachments.get(attachment_id)
    case = await uow.cases.get(attachment.case_id) if attachment else None
    if attachment is None or case is None or person is None or not may_receive(person, case):
        return "not_for_you"
    if attachment.purged_at is not None:
        return "gone"
    number = [f.id for f in await files_of(uow, case)].index(attachment.id) + 1
    await uow.audit.record(now, person.ref, "attachment.sent", attachment.ref, case=case.ref)
    return SendAgain(attachment, case, number)

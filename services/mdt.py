"""The Monday MDT: which meeting a case goes to, listing and taking off, the agenda,
outcomes (recorded once), and what rolls over when a meeting day ends without one.

Meetings come from the directory (`clinics` entries of kind `mdt` with a listing
cut-off); dates are in the service time zone and turned into instants with
`reminder_times.resolve_local`, so a cut-off or meeting on the night the clocks change
lands where a person reading the calendar expects it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.cases import holds_case, is_admin, link_clinicians_for, link_may_read, may_manage
from services.reminder_times import resolve_local
from storage.models import (
    Case,
    Clinic,
    MdtListing,
    MdtMeeting,
    Person,
    PersonStatus,
    Role,
)
from storage.uow import UnitOfWork

MDT = "mdt"
LOOK_AHEAD_WEEKS = 12  # how far ahead a meeting is looked for (cancellations skipped)
ROLLED_REMINDER_AT = time(8, 0)  # the morning after a meeting day, service time

# The outcome categories, in the words the clinicians use (the order of the buttons).
OUTCOMES: dict[str, str] = {
    "biopsy_centre": "Biopsy at the sarcoma centre",
    "imaging_local": "Further imaging locally",
    "surgery_centre": "Surgery at the sarcoma centre",
    "oncology": "Oncology referral",
    "not_sarcoma": "Not sarcoma: manage locally",
    "discuss_again": "Discuss again at a later MDT",
}


@dataclass(frozen=True)
class Meeting:
    """One date of an MDT clinic, with its start and listing cut-off as instants."""

    clinic: Clinic
    day: date
    starts_at: datetime
    cutoff_at: datetime


def _at(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return resolve_local(datetime.combine(day, time(hour, minute)), tz)


def meeting_on(clinic: Clinic, day: date, tz: ZoneInfo) -> Meeting:
    """The clinic's meeting on `day` (a day of its weekday): start and cut-off.

    The cut-off is the last `cutoff_weekday` at `cutoff_time` before the meeting (the
    same day when that is earlier than the meeting, e.g. Monday 08:00 for 13:00).
    """
    cutoff_weekday = clinic.weekday if clinic.cutoff_weekday is None else clinic.cutoff_weekday
    cutoff_time = clinic.cutoff_time or clinic.time
    days_before = (clinic.weekday - cutoff_weekday) % 7
    if days_before == 0 and cutoff_time >= clinic.time:
        days_before = 7
    return Meeting(
        clinic,
        day,
        _at(day, clinic.time, tz),
        _at(day - timedelta(days=days_before), cutoff_time, tz),
    )


def meetings_from(
    clinics: Sequence[Clinic], start: date, cancelled: set[date], tz: ZoneInfo
) -> list[Meeting]:
    """Every MDT meeting from `start` (a local date) over the look-ahead, in date order,
    without the cancelled dates."""
    found: list[Meeting] = []
    for clinic in clinics:
        if clinic.kind != MDT:
            continue
        first = start + timedelta(days=(clinic.weekday - start.weekday()) % 7)
        for week in range(LOOK_AHEAD_WEEKS):
            day = first + timedelta(weeks=week)
            if day not in cancelled:
                found.append(meeting_on(clinic, day, tz))
    return sorted(found, key=lambda m: (m.starts_at, m.clinic.id))


async def upcoming(uow: UnitOfWork, now: datetime, tz: ZoneInfo) -> list[Meeting]:
    """MDT meetings that have not started yet, soonest first (cancelled dates skipped)."""
    today = now.astimezone(tz).date()
    cancelled = await uow.mdt.cancelled_dates(today)
    meetings = meetings_from(await uow.clinics.all(), today, cancelled, tz)
    return [m for m in meetings if m.starts_at > now]


@dataclass(frozen=True)
class Choice:
    """The meeting a case is listed for, and the nearer one it missed (cut-off passed)."""

    meeting: Meeting
    missed: Meeting | None = None


async def choose_meeting(
    uow: UnitOfWork, now: datetime, tz: ZoneInfo, wanted: date | None, override: bool
) -> Choice | str:
    """The meeting to list a case for: `wanted` if given, else the next one whose cut-off
    has not passed. `override` (admins) lists after the cut-off. Why not, otherwise:
    "no_meeting", "not_a_meeting" (no MDT that day, or cancelled), "too_late"."""
    meetings = await upcoming(uow, now, tz)
    if not meetings:
        return "no_meeting"
    if wanted is not None:
        chosen = next((m for m in meetings if m.day == wanted), None)
        if chosen is None:
            return "not_a_meeting"
        if chosen.cutoff_at <= now and not override:
            later = next((m for m in meetings if m.cutoff_at > now), None)
            return Choice(later, chosen) if later else "too_late"
        return Choice(chosen)
    if override or meetings[0].cutoff_at > now:
        return Choice(meetings[0])
    later = next((m for m in meetings if m.cutoff_at > now), None)
    return Choice(later, meetings[0]) if later else "too_late"


def may_list(person: Person | None, case: Case) -> bool:
    """The case's named clinician or deputy, or an admin (cases.may_manage)."""
    return may_manage(person, case)


def may_override(person: Person | None) -> bool:
    """Admins list a case after the cut-off."""
    return is_admin(person)


@dataclass
class Listed:
    """A case on a meeting's list, and who is to be told the date."""

    listing: MdtListing
    meeting: Meeting
    missed: Meeting | None
    tell: Sequence[Person] = field(default_factory=list)
    # Listed after the meeting's agenda went out (an admin, past the cut-off): the
    # presenter and the admins hear of it, as the agenda they have lacks it.
    late_for: Sequence[Person] = field(default_factory=list)


async def list_case(
    uow: UnitOfWork,
    person: Person,
    case: Case,
    question: str,
    now: datetime,
    tz: ZoneInfo,
    wanted: date | None = None,
) -> Listed | str:
    """List the case for a meeting with its question for the meeting.

    Why not: "not_yours", "closed", "already" (listed and waiting), or what
    `choose_meeting` says.
    """
    if not may_list(person, case):
        return "not_yours"
    if case.status != "open":
        return "closed"
    if await uow.mdt.active_listing(case.id) is not None:
        return "already"
    choice = await choose_meeting(uow, now, tz, wanted, override=is_admin(person))
    if isinstance(choice, str):
        return choice
    meeting = choice.meeting
    row = await uow.mdt.meeting_for(
        meeting.clinic.id, meeting.day, meeting.starts_at, meeting.cutoff_at
    )
    # The clinician who lists it presents it; an admin's listing is presented by the
    # named clinician.
    presenting = person.id if holds_case(person, case) else case.named_clinician_id
    listing = await uow.mdt.listing_of(case.id, row.id)
    if listing is None:  # (one removed earlier is listed again)
        listing = MdtListing(case_id=case.id, meeting_id=row.id, created_at=now)
        uow.mdt.add(listing)
    listing.status, listing.listed_by_id = "listed", person.id
    listing.presenting_id = presenting
    listing.question = question
    listing.removed_at, listing.removed_reason = None, None
    await uow.flush()
    await uow.audit.record(
        now,
        person.ref,
        "mdt.listed",
        case.ref,
        meeting=meeting.day.isoformat(),
        after_cutoff=bool(is_admin(person) and meeting.cutoff_at <= now),
    )
    late_for: list[Person] = []
    if row.agenda_sent_at is not None:
        presenter = await uow.people.get(presenting) if presenting else None
        admins = [
            a for a in await uow.people.by_role(Role.ADMIN) if a.status == PersonStatus.ACTIVE
        ]
        late_for = [p for p in [presenter, *admins] if p is not None and p.id != person.id]
    return Listed(listing, meeting, choice.missed, await referrer_and_links(uow, case), late_for)


async def referrer_and_links(uow: UnitOfWork, case: Case) -> list[Person]:
    """Who hears of a listing and its outcome: the referrer and the centre's link
    clinicians (the MDT discusses the referrer's case: need to know)."""
    people = [await uow.people.get(case.referrer_id)]
    if link_may_read(case.referrer_id, case):
        people += await link_clinicians_for(uow, case.centre_id, case.tumour_type)
    return [p for p in people if p is not None and p.status == PersonStatus.ACTIVE]


@dataclass(frozen=True)
class Removed:
    listing: MdtListing
    meeting: MdtMeeting
    tell: Sequence[Person]


async def remove_listing(
    uow: UnitOfWork, person: Person, case: Case, reason: str, now: datetime
) -> Removed | str:
    """Take the case off the meeting it waits for, with a reason. Why not: "not_yours",
    "not_listed"."""
    if not may_list(person, case):
        return "not_yours"
    found = await uow.mdt.active_listing(case.id)
    if found is None:
        return "not_listed"
    listing, meeting = found
    listing.status, listing.removed_at, listing.removed_reason = "removed", now, reason
    await uow.audit.record(
        now, person.ref, "mdt.removed", case.ref, meeting=meeting.meeting_date.isoformat()
    )
    return Removed(listing, meeting, await referrer_and_links(uow, case))


@dataclass(frozen=True)
class AgendaItem:
    """One case on a meeting's agenda."""

    listing: MdtListing
    case: Case
    presenting: Person | None
    files: int
    days_since_referral: int


async def agenda(
    uow: UnitOfWork, meeting: MdtMeeting, today: date, tz: ZoneInfo
) -> list[AgendaItem]:
    """A meeting's cases, urgent first, then the longest waiting."""
    items = []
    listed = await uow.mdt.agenda(meeting.id)
    files = await uow.attachments.counts_of_cases([case.id for _, case in listed])
    for listing, case in listed:
        # (people.get reads each presenter once: the session's identity map keeps it)
        presenting = await uow.people.get(listing.presenting_id) if listing.presenting_id else None
        items.append(
            AgendaItem(
                listing,
                case,
                presenting,
                files.get(case.id, 0),
                (today - case.created_at.astimezone(tz).date()).days,
            )
        )
    return sorted(items, key=lambda i: (i.case.urgency != "urgent", i.case.created_at, i.case.id))


def agenda_for(person: Person, items: Sequence[AgendaItem]) -> list[AgendaItem]:
    """What of an agenda a person may see: link clinicians their centre's cases only."""
    if person.role == Role.LINK_CLINICIAN:
        return [i for i in items if person.centre_id and i.case.centre_id == person.centre_id]
    return list(items)


async def meeting_of_day(uow: UnitOfWork, day: date) -> MdtMeeting | None:
    """The (first) MDT meeting row of a date, if a case was ever listed for it."""
    meetings = await uow.mdt.meetings_on(day)
    return meetings[0] if meetings else None


def may_record(person: Person | None, listing: MdtListing) -> bool:
    """The presenting clinician, or an admin."""
    if is_admin(person):
        return True
    return (
        person is not None
        and person.status == PersonStatus.ACTIVE
        and person.role == Role.CLINICIAN
        and person.id == listing.presenting_id
    )


@dataclass(frozen=True)
class Decided:
    """An outcome recorded, and who receives it."""

    listing: MdtListing
    meeting: MdtMeeting
    tell: Sequence[Person]


async def listing_for_outcome(
    uow: UnitOfWork, person: Person, case: Case, now: datetime, tz: ZoneInfo
) -> tuple[MdtListing, MdtMeeting] | str:
    """The listing whose outcome `person` may record now. Why not: "not_listed",
    "not_yours", "not_yet" (its meeting day has not come)."""
    found = await uow.mdt.active_listing(case.id)
    if found is None:
        return "not_listed"
    listing, meeting = found
    if not may_record(person, listing):
        return "not_yours"
    if meeting.meeting_date > now.astimezone(tz).date():
        return "not_yet"
    return found


async def record_outcome(
    uow: UnitOfWork,
    person: Person,
    case: Case,
    outcome: str,
    text: str,
    now: datetime,
    tz: ZoneInfo,
) -> Decided | str:
    """Record the meeting's outcome for the case, once: of two people recording at the
    same moment one wins and the other gets "already" (or any reason of
    `listing_for_outcome`)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    found = await listing_for_outcome(uow, person, case, now, tz)
    if isinstance(found, str):
        return "already" if found == "not_listed" and await _decided(uow, case) else found
    listing, meeting = found
    if not await uow.mdt.decide(listing.id, outcome, person.id, now):
        return "already"
    # (what the statement wrote, on the loaded object too)
    listing.status, listing.outcome, listing.outcome_by_id = "decided", outcome, person.id
    listing.outcome_at, listing.outcome_text = now, text
    body = f"MDT {meeting.meeting_date.isoformat()}: {OUTCOMES[outcome]}. {text}"
    uow.queries.add_message(case.id, person.id, body, now)
    await uow.audit.record(
        now,
        person.ref,
        "mdt.outcome",
        case.ref,
        meeting=meeting.meeting_date.isoformat(),
        outcome=outcome,
    )
    return Decided(listing, meeting, await referrer_and_links(uow, case))


async def _decided(uow: UnitOfWork, case: Case) -> bool:
    return any(listing.status == "decided" for listing, _ in await uow.mdt.of_case(case.id))


@dataclass(frozen=True)
class Rolled:
    """A listing moved on to the next meeting (its day ended without an outcome, or the
    meeting was cancelled)."""

    case: Case
    old: MdtListing
    new: MdtListing
    meeting: Meeting


async def _roll(
    uow: UnitOfWork,
    listing: MdtListing,
    ahead: Sequence[Meeting],
    now: datetime,
    tz: ZoneInfo,
    remind: bool,
) -> Rolled | None:
    """Move one listing to the next meeting of `ahead` whose day is after its own."""
    case = await uow.cases.get(listing.case_id)
    old_meeting = await uow.mdt.meeting_by_id(listing.meeting_id)
    if case is None or old_meeting is None:
        return None
    later = [m for m in ahead if m.day > old_meeting.meeting_date]
    if not later or case.status != "open":
        return None  # no meeting ahead (or the case closed): it stays listed, and shows
    meeting = later[0]
    row = await uow.mdt.meeting_for(
        meeting.clinic.id, meeting.day, meeting.starts_at, meeting.cutoff_at
    )
    new = await uow.mdt.listing_of(case.id, row.id)
    if new is None:
        new = MdtListing(case_id=case.id, meeting_id=row.id, created_at=now)
        uow.mdt.add(new)
    new.status, new.listed_by_id, new.presenting_id = (
        "listed",
        listing.listed_by_id,
        listing.presenting_id,
    )
    new.question, new.rolled_from_id = listing.question, listing.id
    if remind:  # the morning after the meeting day (at once if that has passed)
        next_morning = old_meeting.meeting_date + timedelta(days=1)
        at = resolve_local(datetime.combine(next_morning, ROLLED_REMINDER_AT), tz)
        new.remind_at = max(at, now)
    listing.status = "rolled"
    await uow.flush()
    await uow.audit.record(
        now,
        "system",
        "mdt.rolled_over",
        case.ref,
        meeting=old_meeting.meeting_date.isoformat(),
        to=meeting.day.isoformat(),
    )
    return Rolled(case, listing, new, meeting)


async def close_finished_days(uow: UnitOfWork, now: datetime, tz: ZoneInfo) -> list[Rolled]:
    """After a meeting day: every case still without an outcome rolls to the next
    meeting (its presenting clinician is reminded the next morning); the day is closed."""
    today = now.astimezone(tz).date()
    rolled = []
    ahead: list[Meeting] | None = None
    for meeting in await uow.mdt.to_close(today):
        for listing in await uow.mdt.still_listed(meeting.id):
            ahead = ahead if ahead is not None else await upcoming(uow, now, tz)
            moved = await _roll(uow, listing, ahead, now, tz, remind=True)
            if moved is not None:
                rolled.append(moved)
        meeting.closed_at = now
    return rolled


async def cancel(
    uow: UnitOfWork, day: date, now: datetime, tz: ZoneInfo, actor: str
) -> tuple[bool, list[Rolled]] | str:
    """Cancel the MDT of `day`: listed cases move to the next meeting at once. Why not:
    "not_a_meeting" (no MDT clinic meets that weekday), "past"."""
    if day < now.astimezone(tz).date():
        return "past"
    clinics = [c for c in await uow.clinics.all() if c.kind == MDT and c.weekday == day.weekday()]
    if not clinics:
        return "not_a_meeting"
    changed, rolled = False, []
    for clinic in clinics:
        meeting = meeting_on(clinic, day, tz)
        row = await uow.mdt.meeting_for(clinic.id, day, meeting.starts_at, meeting.cutoff_at)
        if row.cancelled_at is None:
            row.cancelled_at, changed = now, True
            await uow.flush()
            ahead = await upcoming(uow, now, tz)  # without the day just cancelled
            for listing in await uow.mdt.still_listed(row.id):
                moved = await _roll(uow, listing, ahead, now, tz, remind=False)
                if moved is not None:
                    rolled.append(moved)
    if changed:
        await uow.audit.record(now, actor, "mdt.cancelled", f"mdt:{day.isoformat()}")
    return changed, rolled


async def agendas_due(uow: UnitOfWork, now: datetime) -> Sequence[MdtMeeting]:
    """Meetings whose cut-off has passed and whose agenda has not gone out."""
    return await uow.mdt.agendas_due(now)


async def rolled_reminders_due(uow: UnitOfWork, now: datetime) -> list[tuple[MdtListing, Case]]:
    """Rolled-over listings whose presenting clinician is to be reminded now; marked."""
    due = []
    for listing in await uow.mdt.reminders_due(now):
        case = await uow.cases.get(listing.case_id)
        listing.reminded_at = now
        if case is not None:
            due.append((listing, case))
    return due

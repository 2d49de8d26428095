"""The governance report: every figure for the monthly meeting, as plain data.

Definitions (the report's footnotes say the same):

- The period runs from local midnight at the start of `since` to local midnight at
  the end of `until` (both dates inclusive, in the service's time zone); without
  `since` it starts at the first record, without `until` it ends today.
- Cases and queries count by when they were opened/asked. Time to first response is
  from a query being asked to the first answer a clinician relayed to the referrer;
  time to resolution is to Resolve. Both are over the queries asked in the period.
- Time to first response by centre counts each query under the referring centre of its
  case; by clinician, under the clinician who holds it (the one it was routed to, or
  passed to): the one who owes the answer, also when nobody has answered yet.
- Median and 90th percentile use the nearest-rank method: the p-th percentile of n
  sorted times is the one at rank ceil(p/100 * n) (1-based), so it is always an observed
  time and at least p % of the queries took no longer. The median of an even count is
  the lower of the two middle times.
- The two-week letter: a query answered within 14 days (inclusive) beat the letter; one
  answered later, or still unanswered 14 days after it was asked, did not.
- "Now" figures (open and overdue queries, allocation load, unreachable people,
  missing contact details, pending registrations) describe the database at the time
  the report is made, whatever the period. Overdue: an open query with no answer yet,
  asked longer ago than ACK_SLA (half of it for urgent cases).
- Reminders are the patients' appointment reminders due in the period.
- Attachments count the files added to cases in the period, by the referring centre of
  the case and by type, purged ones included (the purge keeps a file's type and size).
- The MDT figures are over the meetings whose date (local) is in the period. Listed: a
  meeting's listings not taken off (removed); a case that rolled over counts at each
  meeting it was listed for, as rolled at the first and where decided at the next.
  Days to discussion run from the local date of the referral (the case opened) to the
  date of the meeting that gave the outcome; days to the outcome sent, from the referral
  to the moment the outcome was recorded (it goes to the referrer in the same
  transaction). Both against the two-week letter they replace: within 14 days
  (inclusive) beat it. Outcomes count by category and by the referring centre of the
  case, centres as in the other tables.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from core.clock import Clock
from services.mdt import OUTCOMES
from storage.models import ATTACHMENT_KINDS, Person, Role
from storage.reports import ReportRepository, Window
from storage.uow import UnitOfWork

LETTER = timedelta(days=14)
OTHER_CENTRE = "__other__"
ALL_CENTRES = "__all__"  # the total row of a by-centre table
TUMOUR_TYPES = ("bone", "soft_tissue", "not_sure")
URGENCIES = ("urgent", "routine")
ROLES = tuple(role.value for role in Role)
MISSING_IDS_SHOWN = 50
# Time-to-first-response bins: (label, upper bound inclusive in seconds).
RESPONSE_BINS: tuple[tuple[str, float], ...] = (
    ("≤ 1 h", 3600),
    ("1–4 h", 4 * 3600),
    ("4–24 h", 24 * 3600),
    ("1–2 d", 2 * 86400),
    ("2–7 d", 7 * 86400),
    ("7–14 d", 14 * 86400),
    ("> 14 d", math.inf),
)


class PeriodError(ValueError):
    """The requested dates make no period (e.g. since after until)."""


@dataclass(frozen=True)
class Period:
    since: date | None
    until: date
    start: datetime | None  # UTC
    end: datetime  # UTC, exclusive


def period(since: date | None, until: date | None, now: datetime, tz: ZoneInfo) -> Period:
    """The local dates as a UTC window; `until` defaults to today."""
    until = until or now.astimezone(tz).date()
    if since is not None and since > until:
        raise PeriodError(f"the start date {since} is after the end date {until}")
    start = (
        datetime.combine(since, time(0), tzinfo=tz).astimezone(UTC) if since is not None else None
    )
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return Period(since, until, start, end)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Breakdown:
    """One row of a "by centre / tumour type / urgency" table."""

    key: str
    cases: int
    queries: int


@dataclass(frozen=True)
class Timing:
    """Times (seconds) over the queries asked in the period."""

    count: int  # queries with a time (answered / resolved)
    median: float | None
    p90: float | None
    within_letter: int  # done within 14 days
    beyond_letter: int  # done after 14 days, or still not done 14 days on
    waiting: int  # not done yet, asked less than 14 days ago


@dataclass(frozen=True)
class CentreTiming:
    """Time to first response of the queries on one referring centre's cases."""

    centre: str  # centre id, or OTHER_CENTRE
    timing: Timing


@dataclass(frozen=True)
class ClinicianTiming:
    """Time to first response of the queries one clinician holds (None: held by nobody)."""

    person_id: int | None
    timing: Timing


@dataclass(frozen=True)
class AttachmentCount:
    """Files added in the period to one referring centre's cases (or to all: ALL_CENTRES)."""

    centre: str  # centre id, OTHER_CENTRE or ALL_CENTRES
    pdf: int
    jpeg: int
    png: int
    total: int
    size: int  # bytes, all types together


@dataclass(frozen=True)
class Week:
    start: date  # the Monday
    cases: int
    queries: int


@dataclass(frozen=True)
class ClinicianLoad:
    person_id: int
    name: str
    active: bool
    new_named: int  # cases of the period where named
    new_deputy: int
    open_named: int  # open cases now
    open_deputy: int
    open_queries: int  # held now
    overdue_queries: int


@dataclass(frozen=True)
class Reminders:
    sent: int
    confirmed: int
    cannot_attend: int
    no_answer: int
    missed: int
    not_sent: int  # patient stopped or unreachable when due


@dataclass(frozen=True)
class MdtDay:
    """One MDT meeting date of the period."""

    day: date
    cancelled: bool
    listed: int  # listings not removed
    decided: int  # outcomes recorded
    rolled: int  # rolled over to a later meeting
    rolled_then_decided: int  # of those, decided at the meeting they rolled to


@dataclass(frozen=True)
class MdtCase:
    """One outcome recorded at a meeting of the period."""

    case_id: int
    centre: str  # centre id, or OTHER_CENTRE
    meeting: date
    outcome: str  # a key of services.mdt.OUTCOMES
    to_discussion: int  # days, referral's local date to the meeting date
    to_outcome: int  # seconds, referral to outcome recorded (and sent)


@dataclass(frozen=True)
class DayTiming:
    """Days from referral over the period's MDT outcomes, against the 14-day letter."""

    count: int
    median: float | None  # days
    p90: float | None
    within_letter: int  # 14 days or fewer
    beyond_letter: int


@dataclass(frozen=True)
class MdtCentreOutcomes:
    """The period's MDT outcomes of one referring centre's cases (or all: ALL_CENTRES)."""

    centre: str  # centre id, OTHER_CENTRE or ALL_CENTRES
    by_outcome: dict[str, int]  # every category, in OUTCOMES order
    total: int


NO_DAYS = DayTiming(0, None, None, 0, 0)


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    timezone: str
    since: date | None
    until: date
    ack_sla: timedelta
    centres: dict[str, str]  # id -> name, in report order (plus OTHER_CENTRE)
    cases: int
    queries: int
    messages: int
    by_centre: list[Breakdown]
    by_tumour: list[Breakdown]
    by_urgency: list[Breakdown]
    queries_resolved: int
    queries_unanswered: int
    first_response: Timing
    resolution: Timing
    response_bins: list[tuple[str, int]]
    escalated_to_deputy: int
    escalated_to_admins: int
    weeks: list[Week]
    clinicians: list[ClinicianLoad]
    open_queries: int
    overdue_queries: int
    unheld_open_queries: int  # open queries nobody holds (case not allocated)
    unallocated_open_cases: int
    reminders: Reminders
    unreachable: dict[str, int]  # role -> people
    missing_secretary: int
    missing_fax: int
    missing_either: int
    missing_ids: list[int] = field(default_factory=list)
    pending_registrations: int = 0
    oldest_pending: datetime | None = None
    # Every centre of by_centre, every clinician of `clinicians` (same order), plus the
    # queries held by nobody when there are any.
    first_response_by_centre: list[CentreTiming] = field(default_factory=list)
    first_response_by_clinician: list[ClinicianTiming] = field(default_factory=list)
    # Every centre of by_centre (plus OTHER_CENTRE when only a file needs it), then the
    # ALL_CENTRES total; empty when there are no centres and no files.
    attachments_by_centre: list[AttachmentCount] = field(default_factory=list)
    # The MDT meetings dated in the period, each decided listing of them, days from
    # referral to discussion and to outcome sent, and outcomes by category (OUTCOMES
    # order) and by centre (as attachments_by_centre).
    mdt_meetings: list[MdtDay] = field(default_factory=list)
    mdt_cases: list[MdtCase] = field(default_factory=list)
    mdt_to_discussion: DayTiming = NO_DAYS
    mdt_to_outcome: DayTiming = NO_DAYS
    mdt_outcomes: list[tuple[str, int]] = field(default_factory=list)
    mdt_outcomes_by_centre: list[MdtCentreOutcomes] = field(default_factory=list)


def _timing(seconds: list[float], not_done: int, not_done_past_letter: int) -> Timing:
    letter = LETTER.total_seconds()
    values = [round(s) for s in seconds]  # whole seconds: clocks, not microseconds
    within = sum(1 for s in values if s <= letter)
    return Timing(
        count=len(values),
        median=percentile(values, 50),
        p90=percentile(values, 90),
        within_letter=within,
        beyond_letter=len(values) - within + not_done_past_letter,
        waiting=not_done - not_done_past_letter,
    )


K = TypeVar("K", bound=Hashable)


def _timings_by(
    keys: Sequence[K],
    answered: Iterable[tuple[K, float]],
    unanswered: Iterable[tuple[K, int, int]],
) -> list[tuple[K, Timing]]:
    """First-response timing per key, in the order of `keys` (a key with no query too)."""
    seconds: dict[K, list[float]] = defaultdict(list)
    not_done: dict[K, tuple[int, int]] = {}
    for key, value in answered:
        seconds[key].append(value)
    for key, count, past_letter in unanswered:
        done, past = not_done.get(key, (0, 0))
        not_done[key] = (done + count, past + past_letter)
    return [(key, _timing(seconds.get(key, []), *not_done.get(key, (0, 0)))) for key in keys]


def _bins(seconds: Iterable[float]) -> list[tuple[str, int]]:
    counts = [0] * len(RESPONSE_BINS)
    for raw in seconds:
        value = round(raw)
        for i, (_, upper) in enumerate(RESPONSE_BINS):
            if value <= upper:
                counts[i] += 1
                break
    return [(label, n) for (label, _), n in zip(RESPONSE_BINS, counts, strict=True)]


def _weeks(
    case_hours: Sequence[tuple[int, int]],
    query_hours: Sequence[tuple[int, int]],
    tz: ZoneInfo,
    first: date | None,
    last: date,
) -> list[Week]:
    """Counts per local week (Monday to Sunday), every week of the period, zeros included.

    Buckets are UTC hours; a zone whose offset is whole hours (as the UK's) puts each
    hour wholly in one local day, so the weekly counts are exact.
    """
    cases: dict[date, int] = defaultdict(int)
    queries: dict[date, int] = defaultdict(int)
    for hours, into in ((case_hours, cases), (query_hours, queries)):
        for hour, count in hours:
            local = datetime.fromtimestamp(hour * 3600, tz).date()
            into[local - timedelta(days=local.weekday())] += count
    starts = set(cases) | set(queries)
    if first is None:
        if not starts:
            return []
        first = min(starts)
    monday = first - timedelta(days=first.weekday())
    end_monday = last - timedelta(days=last.weekday())
    weeks = []
    while monday <= end_monday:
        weeks.append(Week(monday, cases.get(monday, 0), queries.get(monday, 0)))
        monday += timedelta(days=7)
    return weeks


def _breakdowns(
    keys: Sequence[str],
    case_rows: Sequence[tuple[str | None, str, str, int]],
    query_rows: Sequence[tuple[str | None, str, str, int]],
    pick: int,
) -> list[Breakdown]:
    cases: dict[str, int] = defaultdict(int)
    queries: dict[str, int] = defaultdict(int)
    for rows, into in ((case_rows, cases), (query_rows, queries)):
        for row in rows:
            into[str(row[pick] or OTHER_CENTRE)] += row[3]
    ordered = list(keys) + sorted((set(cases) | set(queries)) - set(keys))
    return [Breakdown(k, cases.get(k, 0), queries.get(k, 0)) for k in ordered]


def _attachments(
    keys: Sequence[str], rows: Sequence[tuple[str | None, str, int, int]]
) -> list[AttachmentCount]:
    """Files per centre (in the order of `keys`) and type, then the total over all."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for centre, kind, count, size in rows:
        for key in (centre or OTHER_CENTRE, ALL_CENTRES):
            counts[key][kind] += count
            counts[key]["size"] += size
    ordered = [*keys, *sorted(set(counts) - {*keys, ALL_CENTRES})]
    if not ordered:
        return []

    def line(key: str) -> AttachmentCount:
        n = counts.get(key, {})
        total = sum(n.get(kind, 0) for kind in ATTACHMENT_KINDS)
        return AttachmentCount(
            key, n.get("pdf", 0), n.get("jpeg", 0), n.get("png", 0), total, n.get("size", 0)
        )

    return [line(key) for key in [*ordered, ALL_CENTRES]]


def _reminders(rows: Sequence[tuple[str, str | None, int]]) -> Reminders:
    figures: dict[str, int] = defaultdict(int)
    for status, response, count in rows:
        if status == "sent":
            figures["sent"] += count
            figures[response or "no_answer"] += count
        elif status in ("missed", "skipped"):
            figures[status] += count
    return Reminders(
        sent=figures["sent"],
        confirmed=figures["attending"],
        cannot_attend=figures["cannot_attend"],
        no_answer=figures["no_answer"],
        missed=figures["missed"],
        not_sent=figures["skipped"],
    )


async def build_report(
    uow: UnitOfWork,
    clock: Clock,
    tz: ZoneInfo,
    ack_sla: timedelta,
    since: date | None = None,
    until: date | None = None,
) -> Report:
    """Compute the whole report in the unit of work's transaction (one snapshot)."""
    now = clock.now()
    span = period(since, until, now, tz)
    window = Window(span.start, span.end)
    repo = ReportRepository.of(uow)
    centres = dict(await repo.centres())
    outcomes = await repo.query_outcomes(window, now - LETTER)
    responses = await repo.first_responses(window)
    unanswered = await repo.unanswered_by_centre_and_holder(window, now - LETTER)
    # The holders of the period's queries, None for queries nobody holds.
    holders = {r[1] for r in responses} | {r[1] for r in unanswered}
    volume = await _volume(repo, window, centres, outcomes)
    workload = await _workload(repo, window, now, ack_sla, holders)
    return Report(
        generated_at=now,
        timezone=tz.key,
        since=span.since,
        until=span.until,
        ack_sla=ack_sla,
        centres={**centres, OTHER_CENTRE: "Other (not in the directory)"},
        weeks=_weeks(
            await repo.case_hours(window),
            await repo.query_hours(window),
            tz,
            span.since,
            span.until,
        ),
        **volume,
        **await _times(repo, window, outcomes, [s for _, _, s in responses]),
        **workload,
        **_first_response_by(
            [b.key for b in volume["by_centre"]],
            [c.person_id for c in workload["clinicians"]] + ([None] if None in holders else []),
            responses,
            unanswered,
        ),
        **await _contacts(repo),
        **await _mdt(repo, span, tz, [b.key for b in volume["by_centre"]]),
    )


async def _volume(
    repo: ReportRepository, window: Window, centres: dict[str, str], outcomes: dict[str, int]
) -> dict[str, Any]:
    """Cases, queries and messages of the period: in total, by centre, tumour and urgency."""
    case_rows = await repo.cases_by_kind(window)
    query_rows = await repo.queries_by_kind(window)
    centre_keys = [*centres, OTHER_CENTRE] if any(r[0] is None for r in case_rows) else [*centres]
    return {
        "cases": sum(r[3] for r in case_rows),
        "queries": outcomes["asked"],
        "messages": await repo.messages(window),
        "by_centre": _breakdowns(centre_keys, case_rows, query_rows, 0),
        "by_tumour": _breakdowns(TUMOUR_TYPES, case_rows, query_rows, 1),
        "by_urgency": _breakdowns(URGENCIES, case_rows, query_rows, 2),
        "queries_resolved": outcomes["resolved"],
        "queries_unanswered": outcomes["unanswered"],
        "escalated_to_deputy": outcomes["to_deputy"],
        "escalated_to_admins": outcomes["to_admins"],
        "reminders": _reminders(await repo.reminders(window)),
        "attachments_by_centre": _attachments(centre_keys, await repo.attachments_by_kind(window)),
    }


async def _times(
    repo: ReportRepository, window: Window, outcomes: dict[str, int], response: list[float]
) -> dict[str, Any]:
    """Time to first response and to resolution of the period's queries."""
    resolution = await repo.resolution_seconds(window)
    return {
        "first_response": _timing(
            response, outcomes["unanswered"], outcomes["unanswered_past_letter"]
        ),
        "resolution": _timing(
            resolution,
            outcomes["asked"] - outcomes["resolved"],
            outcomes["unresolved_past_letter"],
        ),
        "response_bins": _bins(response),
    }


async def _workload(
    repo: ReportRepository,
    window: Window,
    now: datetime,
    ack_sla: timedelta,
    holders: set[int | None],
) -> dict[str, Any]:
    """Each clinician's cases and queries (new in the period, open now), and the open work."""
    named_new = await repo.cases_per_clinician(False, window)
    deputy_new = await repo.cases_per_clinician(True, window)
    named_open = await repo.cases_per_clinician(False, None)
    deputy_open = await repo.cases_per_clinician(True, None)
    held = await repo.open_queries_per_holder(now - ack_sla, now - ack_sla / 2)
    clinicians = {p.id: p for p in await repo.clinicians()}
    # Anyone else holding load (e.g. a clinician whose role changed) is listed too.
    holding = {k for k in holders | set(held) if k is not None}
    others = (set(named_open) | set(deputy_open) | holding) - set(clinicians)
    for person in await repo.people(sorted(others)):
        clinicians[person.id] = person
    loads = [
        ClinicianLoad(
            person_id=pid,
            name=person.name or f"person {pid}",
            active=person.status == "active",
            new_named=named_new.get(pid, 0),
            new_deputy=deputy_new.get(pid, 0),
            open_named=named_open.get(pid, 0),
            open_deputy=deputy_open.get(pid, 0),
            open_queries=held.get(pid, (0, 0))[0],
            overdue_queries=held.get(pid, (0, 0))[1],
        )
        for pid, person in clinicians.items()
    ]
    loads.sort(key=lambda c: (c.name.casefold(), c.person_id))
    return {
        "clinicians": loads,
        "open_queries": sum(v[0] for v in held.values()),
        "overdue_queries": sum(v[1] for v in held.values()),
        "unheld_open_queries": held.get(None, (0, 0))[0],
        "unallocated_open_cases": await repo.unallocated_open_cases(),
    }


def _first_response_by(
    centres: list[str],
    holders: list[int | None],
    responses: list[tuple[str | None, int | None, float]],
    unanswered: list[tuple[str | None, int | None, int, int]],
) -> dict[str, Any]:
    """Time to first response per referring centre and per holder, in the given orders."""
    by_centre = _timings_by(
        centres,
        ((centre or OTHER_CENTRE, s) for centre, _, s in responses),
        ((centre or OTHER_CENTRE, n, past) for centre, _, n, past in unanswered),
    )
    by_clinician = _timings_by(
        holders,
        ((holder, s) for _, holder, s in responses),
        ((holder, n, past) for _, holder, n, past in unanswered),
    )
    return {
        "first_response_by_centre": [CentreTiming(k, t) for k, t in by_centre],
        "first_response_by_clinician": [ClinicianTiming(k, t) for k, t in by_clinician],
    }


def _day_timing(values: Sequence[float], letter: float) -> DayTiming:
    """Median, 90th percentile (nearest rank) and the letter's count of `values`, which
    are in the unit of `letter` (the 14 days as days or as seconds); percentiles in days."""
    within = sum(1 for v in values if v <= letter)
    scale = letter / LETTER.days
    median, p90 = percentile(values, 50), percentile(values, 90)
    return DayTiming(
        count=len(values),
        median=None if median is None else median / scale,
        p90=None if p90 is None else p90 / scale,
        within_letter=within,
        beyond_letter=len(values) - within,
    )


def _mdt_by_centre(keys: Sequence[str], cases: Sequence[MdtCase]) -> list[MdtCentreOutcomes]:
    """Outcomes per centre (in the order of `keys`, others after) and category, then all."""
    categories = [*OUTCOMES, *sorted({c.outcome for c in cases} - set(OUTCOMES))]
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for c in cases:
        for key in (c.centre, ALL_CENTRES):
            counts[key][c.outcome] += 1
    ordered = [*keys, *sorted(set(counts) - {*keys, ALL_CENTRES})]
    if not ordered:
        return []
    return [
        MdtCentreOutcomes(
            key,
            {o: counts.get(key, {}).get(o, 0) for o in categories},
            sum(counts.get(key, {}).values()),
        )
        for key in [*ordered, ALL_CENTRES]
    ]


async def _mdt(
    repo: ReportRepository, span: Period, tz: ZoneInfo, centre_keys: Sequence[str]
) -> dict[str, Any]:
    """The MDT meetings dated in the period: listings, outcomes, roll-overs, days taken."""
    rolled = await repo.mdt_rolled(span.since, span.until)
    meetings = [
        MdtDay(day, cancelled, listed, decided, n, rolled.get(day, (n, 0))[1])
        for day, cancelled, listed, decided, n in await repo.mdt_meetings(span.since, span.until)
    ]
    cases = [
        MdtCase(
            case_id,
            centre or OTHER_CENTRE,
            day,
            outcome,
            (day - datetime.fromtimestamp(referred, tz).date()).days,
            round(decided - referred),
        )
        for case_id, centre, outcome, day, referred, decided in await repo.mdt_outcomes(
            span.since, span.until
        )
    ]
    by_outcome: dict[str, int] = defaultdict(int)
    for c in cases:
        by_outcome[c.outcome] += 1
    categories = [*OUTCOMES, *sorted(set(by_outcome) - set(OUTCOMES))]
    return {
        "mdt_meetings": meetings,
        "mdt_cases": cases,
        "mdt_to_discussion": _day_timing([c.to_discussion for c in cases], LETTER.days),
        "mdt_to_outcome": _day_timing([c.to_outcome for c in cases], LETTER.total_seconds()),
        "mdt_outcomes": [(o, by_outcome.get(o, 0)) for o in categories],
        "mdt_outcomes_by_centre": _mdt_by_centre(centre_keys, cases),
    }


async def _contacts(repo: ReportRepository) -> dict[str, Any]:
    """Who cannot be reached, referrers missing details, registrations awaiting approval."""
    missing = await repo.referrers_missing_details(MISSING_IDS_SHOWN)
    pending, oldest = await repo.pending_registrations()
    unreachable = await repo.unreachable_by_role()
    return {
        "unreachable": {role: unreachable.get(role, 0) for role in ROLES},
        "missing_secretary": missing[0],
        "missing_fax": missing[1],
        "missing_either": missing[2],
        "missing_ids": missing[3],
        "pending_registrations": pending,
        "oldest_pending": oldest,
    }


async def pending_registrations(uow: UnitOfWork, limit: int = 10) -> tuple[int, Sequence[Person]]:
    """How many referrers await approval, and the oldest `limit` of them (loaded)."""
    repo = ReportRepository.of(uow)
    count, _ = await repo.pending_registrations()
    return count, await repo.pending_referrers(limit)

"""Aggregate queries for the governance report.

Every figure is counted by the database on clear columns (status, type, ids,
timestamps); nothing encrypted is read here except the display names of the few
people a report names (clinicians), which the service decrypts itself.

Times come back as seconds since the epoch (floats) so that durations and week
buckets are computed without building a Python datetime per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    Attachment,
    Case,
    Centre,
    MdtListing,
    MdtMeeting,
    Person,
    PersonStatus,
    Query,
    ReferrerDetails,
    Reminder,
    Role,
    ThreadMessage,
)

if TYPE_CHECKING:
    from storage.uow import UnitOfWork

OPEN_QUERY = ("open", "acknowledged")
# 2440587.5 is the Julian day of 1970-01-01T00:00Z.
_UNIX_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; `start` None means from the first record."""

    start: datetime | None
    end: datetime


class ReportRepository:
    """Read-only aggregate queries; one instance per unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect.name

    @classmethod
    def of(cls, uow: UnitOfWork) -> ReportRepository:
        """The report's queries in a unit of work's transaction."""
        return cls(uow._session)

    # --- helpers ----------------------------------------------------------------

    def epoch(self, column: Any) -> ColumnElement[float]:
        """Seconds since 1970 of a UTC timestamp column, on either backend."""
        if self.dialect == "sqlite":
            # SQLite keeps UTC text; julianday() parses it. Double precision: ~50 µs.
            return (func.julianday(column) - _UNIX_JULIAN_DAY) * 86400.0
        return cast(func.extract("epoch", column), Float)

    def hour(self, column: Any) -> ColumnElement[int]:
        """Whole hours since 1970 (UTC) of a timestamp column, for week buckets."""
        # The small offset keeps an event at exactly hh:00:00 in hour hh despite rounding.
        hours = (self.epoch(column) + 0.001) / 3600.0
        if self.dialect == "sqlite":
            # CAST truncates, which is floor for times after 1970; SQLite's floor() exists
            # only in builds with the math functions.
            return cast(hours, Integer)
        return cast(func.floor(hours), BigInteger)

    @staticmethod
    def _in(column: Any, window: Window) -> ColumnElement[bool]:
        if window.start is None:
            return column < window.end
        return and_(column >= window.start, column < window.end)

    async def _rows(self, statement: Any) -> Sequence[Any]:
        # Core execution on the session's connection (same transaction): the ORM's
        # per-row loading machinery is several times slower for plain column rows.
        connection = await self.session.connection()
        return (await connection.execute(statement)).all()

    # --- cases and queries --------------------------------------------------------

    async def centres(self) -> Sequence[tuple[str, str]]:
        return [
            (row[0], row[1])
            for row in await self._rows(select(Centre.id, Centre.name).order_by(Centre.name))
        ]

    async def cases_by_kind(self, window: Window) -> Sequence[tuple[str | None, str, str, int]]:
        """(centre id, tumour type, urgency, cases opened in the window)."""
        statement = (
            select(Case.centre_id, Case.tumour_type, Case.urgency, func.count())
            .where(self._in(Case.created_at, window))
            .group_by(Case.centre_id, Case.tumour_type, Case.urgency)
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in await self._rows(statement)]

    async def queries_by_kind(self, window: Window) -> Sequence[tuple[str | None, str, str, int]]:
        """(centre id, tumour type, urgency of the case, queries asked in the window)."""
        statement = (
            select(Case.centre_id, Case.tumour_type, Case.urgency, func.count(Query.id))
            .join(Case, Case.id == Query.case_id)
            .where(self._in(Query.created_at, window))
            .group_by(Case.centre_id, Case.tumour_type, Case.urgency)
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in await self._rows(statement)]

    async def case_hours(self, window: Window) -> Sequence[tuple[int, int]]:
        """(UTC hour since 1970, cases opened in it)."""
        hour = self.hour(Case.created_at).label("h")
        statement = (
            select(hour, func.count()).where(self._in(Case.created_at, window)).group_by(hour)
        )
        return [(int(r[0]), int(r[1])) for r in await self._rows(statement)]

    async def query_hours(self, window: Window) -> Sequence[tuple[int, int]]:
        """(UTC hour since 1970, queries asked in it)."""
        hour = self.hour(Query.created_at).label("h")
        statement = (
            select(hour, func.count()).where(self._in(Query.created_at, window)).group_by(hour)
        )
        return [(int(r[0]), int(r[1])) for r in await self._rows(statement)]

    async def first_responses(self, window: Window) -> list[tuple[str | None, int | None, float]]:
        """(centre id of the case, holder id, time to first response) of each query asked
        in the window and answered."""
        seconds = self.epoch(Query.first_response_at) - self.epoch(Query.created_at)
        statement = (
            select(Case.centre_id, Query.holder_id, seconds)
            .join(Case, Case.id == Query.case_id)
            .where(self._in(Query.created_at, window), Query.first_response_at.is_not(None))
        )
        return [
            (r[0], int(r[1]) if r[1] is not None else None, float(r[2]))
            for r in await self._rows(statement)
        ]

    async def unanswered_by_centre_and_holder(
        self, window: Window, letter_cutoff: datetime
    ) -> list[tuple[str | None, int | None, int, int]]:
        """(centre id, holder id, queries not yet answered, of which asked before
        `letter_cutoff`) over the queries asked in the window."""
        past_letter = func.coalesce(
            func.sum(case((Query.created_at <= letter_cutoff, 1), else_=0)), 0
        )
        statement = (
            select(Case.centre_id, Query.holder_id, func.count(), past_letter)
            .join(Case, Case.id == Query.case_id)
            .where(self._in(Query.created_at, window), Query.first_response_at.is_(None))
            .group_by(Case.centre_id, Query.holder_id)
        )
        return [
            (r[0], int(r[1]) if r[1] is not None else None, int(r[2]), int(r[3] or 0))
            for r in await self._rows(statement)
        ]

    async def resolution_seconds(self, window: Window) -> list[float]:
        """Time to resolution of each query asked in the window and resolved."""
        seconds = self.epoch(Query.resolved_at) - self.epoch(Query.created_at)
        statement = select(seconds).where(
            self._in(Query.created_at, window),
            Query.status == "resolved",
            Query.resolved_at.is_not(None),
        )
        return [float(r[0]) for r in await self._rows(statement)]

    async def query_outcomes(self, window: Window, letter_cutoff: datetime) -> dict[str, int]:
        """Counts over the queries asked in the window.

        `letter_cutoff` is now minus the letter's two weeks: an unanswered query asked
        before it has already taken longer than a letter would have.
        """

        def count_if(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        unanswered = Query.first_response_at.is_(None)
        unresolved = Query.status != "resolved"
        statement = select(
            func.count(),
            count_if(~unresolved),
            count_if(unanswered),
            count_if(and_(unanswered, Query.created_at <= letter_cutoff)),
            count_if(and_(unresolved, Query.created_at <= letter_cutoff)),
            count_if(Query.escalation_level >= 1),
            count_if(Query.escalation_level >= 2),
        ).where(self._in(Query.created_at, window))
        row = (await self._rows(statement))[0]
        keys = (
            "asked",
            "resolved",
            "unanswered",
            "unanswered_past_letter",
            "unresolved_past_letter",
            "to_deputy",
            "to_admins",
        )
        return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}

    async def messages(self, window: Window) -> int:
        statement = (
            select(func.count())
            .select_from(ThreadMessage)
            .where(self._in(ThreadMessage.created_at, window))
        )
        return int(await self.session.scalar(statement) or 0)

    async def attachments_by_kind(
        self, window: Window
    ) -> Sequence[tuple[str | None, str, int, int]]:
        """(centre id of the case, file type, files stored in the window, their bytes).

        Purged files count too: the purge clears a file's bytes but keeps its row and size.
        """
        statement = (
            select(
                Case.centre_id,
                Attachment.kind,
                func.count(),
                func.coalesce(func.sum(Attachment.size), 0),
            )
            .join(Case, Case.id == Attachment.case_id)
            .where(self._in(Attachment.created_at, window))
            .group_by(Case.centre_id, Attachment.kind)
        )
        return [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in await self._rows(statement)]

    # --- the MDT ------------------------------------------------------------------------

    @staticmethod
    def _on_days(first: date | None, last: date) -> ColumnElement[bool]:
        """Meetings whose (local) date is from `first` to `last`, both inclusive."""
        if first is None:
            return MdtMeeting.meeting_date <= last
        return and_(MdtMeeting.meeting_date >= first, MdtMeeting.meeting_date <= last)

    async def mdt_meetings(
        self, first: date | None, last: date
    ) -> list[tuple[date, bool, int, int, int]]:
        """(meeting date, cancelled, listings not removed, decided, rolled) per meeting date
        from `first` to `last`, in date order; a meeting with no listing too."""

        def count_if(condition: ColumnElement[bool]) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        statement = (
            select(
                MdtMeeting.meeting_date,
                func.max(case((MdtMeeting.cancelled_at.is_not(None), 1), else_=0)),
                count_if(and_(MdtListing.id.is_not(None), MdtListing.status != "removed")),
                count_if(MdtListing.status == "decided"),
                count_if(MdtListing.status == "rolled"),
            )
            .select_from(MdtMeeting)
            .outerjoin(MdtListing, MdtListing.meeting_id == MdtMeeting.id)
            .where(self._on_days(first, last))
            .group_by(MdtMeeting.meeting_date)
            .order_by(MdtMeeting.meeting_date)
        )
        return [
            (r[0], bool(r[1]), int(r[2] or 0), int(r[3] or 0), int(r[4] or 0))
            for r in await self._rows(statement)
        ]

    async def mdt_outcomes(
        self, first: date | None, last: date
    ) -> list[tuple[int, str | None, str, date, float, float]]:
        """(case id, centre id of the case, outcome category, meeting date, referral and
        outcome times as seconds since 1970) of each listing decided at a meeting from
        `first` to `last`, by meeting date and case."""
        statement = (
            select(
                Case.id,
                Case.centre_id,
                MdtListing.outcome,
                MdtMeeting.meeting_date,
                self.epoch(Case.created_at),
                self.epoch(MdtListing.outcome_at),
            )
            .join(MdtMeeting, MdtMeeting.id == MdtListing.meeting_id)
            .join(Case, Case.id == MdtListing.case_id)
            .where(
                self._on_days(first, last),
                MdtListing.status == "decided",
                MdtListing.outcome_at.is_not(None),
            )
            .order_by(MdtMeeting.meeting_date, Case.id)
        )
        return [
            (int(r[0]), r[1], str(r[2] or ""), r[3], float(r[4]), float(r[5]))
            for r in await self._rows(statement)
        ]

    async def mdt_rolled(self, first: date | None, last: date) -> dict[date, tuple[int, int]]:
        """meeting date -> (listings rolled from it, of which the follow-on listing was
        decided) over the meetings from `first` to `last`."""
        follow_on = aliased(MdtListing)
        statement = (
            select(
                MdtMeeting.meeting_date,
                func.count(func.distinct(MdtListing.id)),
                func.coalesce(func.sum(case((follow_on.status == "decided", 1), else_=0)), 0),
            )
            .select_from(MdtListing)
            .join(MdtMeeting, MdtMeeting.id == MdtListing.meeting_id)
            .outerjoin(follow_on, follow_on.rolled_from_id == MdtListing.id)
            .where(self._on_days(first, last), MdtListing.status == "rolled")
            .group_by(MdtMeeting.meeting_date)
        )
        return {r[0]: (int(r[1]), int(r[2] or 0)) for r in await self._rows(statement)}

    # --- clinicians ------------------------------------------------------------------

    async def clinicians(self) -> Sequence[Person]:
        """Clinicians of the service (their names are shown, so these rows are loaded)."""
        statement = select(Person).where(Person.role == Role.CLINICIAN).order_by(Person.id)
        return (await self.session.scalars(statement)).all()

    async def people(self, ids: Sequence[int]) -> Sequence[Person]:
        if not ids:
            return []
        return (await self.session.scalars(select(Person).where(Person.id.in_(ids)))).all()

    async def cases_per_clinician(self, deputy: bool, window: Window | None) -> dict[int, int]:
        """Cases per named clinician (or per deputy): open now, or opened in a window."""
        column = Case.deputy_id if deputy else Case.named_clinician_id
        statement = select(column, func.count()).where(column.is_not(None)).group_by(column)
        if window is None:
            statement = statement.where(Case.status == "open")
        else:
            statement = statement.where(self._in(Case.created_at, window))
        return {int(r[0]): int(r[1]) for r in await self._rows(statement)}

    async def unallocated_open_cases(self) -> int:
        statement = (
            select(func.count())
            .select_from(Case)
            .where(Case.status == "open", Case.named_clinician_id.is_(None))
        )
        return int(await self.session.scalar(statement) or 0)

    async def open_queries_per_holder(
        self, overdue_before: datetime, urgent_overdue_before: datetime
    ) -> dict[int | None, tuple[int, int]]:
        """holder id -> (open queries, overdue ones) now.

        Overdue: still without any answer after the acknowledgement time (ACK_SLA,
        half for urgent cases), i.e. asked before the given cut-offs.
        """
        overdue = and_(
            Query.first_response_at.is_(None),
            or_(
                and_(Case.urgency == "urgent", Query.created_at <= urgent_overdue_before),
                and_(Case.urgency != "urgent", Query.created_at <= overdue_before),
            ),
        )
        statement = (
            select(
                Query.holder_id,
                func.count(),
                func.coalesce(func.sum(case((overdue, 1), else_=0)), 0),
            )
            .join(Case, Case.id == Query.case_id)
            .where(Query.status.in_(OPEN_QUERY))
            .group_by(Query.holder_id)
        )
        return {
            (int(r[0]) if r[0] is not None else None): (int(r[1]), int(r[2]))
            for r in await self._rows(statement)
        }

    # --- reminders, people ------------------------------------------------------------

    async def reminders(self, window: Window) -> Sequence[tuple[str, str | None, int]]:
        """(status, response, count) of patients' appointment reminders due in the window."""
        statement = (
            select(Reminder.status, Reminder.response, func.count())
            .where(Reminder.kind == "appointment", self._in(Reminder.due_at, window))
            .group_by(Reminder.status, Reminder.response)
        )
        return [(r[0], r[1], int(r[2])) for r in await self._rows(statement)]

    async def unreachable_by_role(self) -> dict[str, int]:
        statement = (
            select(Person.role, func.count())
            .where(Person.reachable.is_(False))
            .group_by(Person.role)
        )
        return {r[0]: int(r[1]) for r in await self._rows(statement)}

    async def referrers_missing_details(self, limit: int) -> tuple[int, int, int, list[int]]:
        """Approved or pending referrers without a secretary's phone or a fax.

        Returns (missing secretary, missing fax, missing either, first `limit` ids).
        An unset detail is a NULL ciphertext, so nothing is decrypted to count it.
        """
        no_secretary = ReferrerDetails.secretary_phone_enc.is_(None)
        no_fax = ReferrerDetails.fax_enc.is_(None)
        base = (
            select(Person.id)
            .join(ReferrerDetails, ReferrerDetails.person_id == Person.id)
            .where(
                Person.role == Role.REFERRER,
                Person.status.in_((PersonStatus.ACTIVE, PersonStatus.PENDING)),
            )
        )
        counts = (
            select(
                func.coalesce(func.sum(case((no_secretary, 1), else_=0)), 0),
                func.coalesce(func.sum(case((no_fax, 1), else_=0)), 0),
                func.coalesce(func.sum(case((or_(no_secretary, no_fax), 1), else_=0)), 0),
            )
            .select_from(Person)
            .join(ReferrerDetails, ReferrerDetails.person_id == Person.id)
            .where(
                Person.role == Role.REFERRER,
                Person.status.in_((PersonStatus.ACTIVE, PersonStatus.PENDING)),
            )
        )
        row = (await self._rows(counts))[0]
        ids = [
            int(r[0])
            for r in await self._rows(
                base.where(or_(no_secretary, no_fax)).order_by(Person.id).limit(limit)
            )
        ]
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), ids

    async def pending_registrations(self) -> tuple[int, datetime | None]:
        """How many referrers await approval, and since when the oldest has."""
        statement = select(func.count(), func.min(Person.created_at)).where(
            Person.role == Role.REFERRER, Person.status == PersonStatus.PENDING
        )
        row = (await self._rows(statement))[0]
        return int(row[0] or 0), row[1]  # min() keeps the column's type: aware UTC

    async def pending_referrers(self, limit: int) -> Sequence[Person]:
        """The referrers awaiting approval, oldest first."""
        statement = (
            select(Person)
            .where(Person.role == Role.REFERRER, Person.status == PersonStatus.PENDING)
            .order_by(Person.created_at, Person.id)
            .limit(limit)
        )
        return (await self.session.scalars(statement)).all()

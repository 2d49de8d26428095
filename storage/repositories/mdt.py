"""MDT meetings (dates of an MDT clinic) and the cases listed for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from storage.models import Case, MdtListing, MdtMeeting
from storage.repositories._base import _Repository, rowcount

ACTIVE = "listed"


class MdtRepository(_Repository):
    """Meetings by clinic and date; listings by case and meeting."""

    async def meeting(self, clinic_id: str, meeting_date: date) -> MdtMeeting | None:
        return await self.session.scalar(
            select(MdtMeeting).where(
                MdtMeeting.clinic_id == clinic_id, MdtMeeting.meeting_date == meeting_date
            )
        )

    async def meeting_by_id(self, meeting_id: int) -> MdtMeeting | None:
        return await self.session.get(MdtMeeting, meeting_id)

    async def meeting_for(
        self, clinic_id: str, meeting_date: date, starts_at: datetime, cutoff_at: datetime
    ) -> MdtMeeting:
        """The meeting row of this date, made if it is not there yet (also when another
        transaction makes it at the same moment)."""
        found = await self.meeting(clinic_id, meeting_date)
        if found is not None:
            return found
        meeting = MdtMeeting(
            clinic_id=clinic_id, meeting_date=meeting_date, starts_at=starts_at, cutoff_at=cutoff_at
        )
        try:
            async with self.session.begin_nested():
                self.session.add(meeting)
        except IntegrityError:
            found = await self.meeting(clinic_id, meeting_date)
            if found is None:
                raise
            return found
        return meeting

    async def meetings_on(self, meeting_date: date) -> Sequence[MdtMeeting]:
        return (
            await self.session.scalars(
                select(MdtMeeting).where(MdtMeeting.meeting_date == meeting_date)
            )
        ).all()

    async def cancelled_dates(self, since: date) -> set[date]:
        """Dates from `since` on whose meetings are cancelled."""
        rows = await self.session.scalars(
            select(MdtMeeting.meeting_date).where(
                MdtMeeting.meeting_date >= since, MdtMeeting.cancelled_at.is_not(None)
            )
        )
        return set(rows.all())

    async def agendas_due(self, now: datetime) -> Sequence[MdtMeeting]:
        """Meetings past their cut-off whose agenda has not gone out (not cancelled)."""
        return (
            await self.session.scalars(
                select(MdtMeeting)
                .where(
                    MdtMeeting.cutoff_at <= now,
                    MdtMeeting.agenda_sent_at.is_(None),
                    MdtMeeting.cancelled_at.is_(None),
                )
                .order_by(MdtMeeting.starts_at)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def to_close(self, before: date) -> Sequence[MdtMeeting]:
        """Meetings of days before `before` not yet closed (cancelled ones included)."""
        return (
            await self.session.scalars(
                select(MdtMeeting)
                .where(MdtMeeting.meeting_date < before, MdtMeeting.closed_at.is_(None))
                .order_by(MdtMeeting.meeting_date)
                .with_for_update(skip_locked=True)
            )
        ).all()

    def add(self, listing: MdtListing) -> None:
        self.session.add(listing)

    async def listing(self, listing_id: int) -> MdtListing | None:
        return await self.session.get(MdtListing, listing_id)

    async def listing_of(self, case_id: int, meeting_id: int) -> MdtListing | None:
        return await self.session.scalar(
            select(MdtListing).where(
                MdtListing.case_id == case_id, MdtListing.meeting_id == meeting_id
            )
        )

    async def active_listing(self, case_id: int) -> tuple[MdtListing, MdtMeeting] | None:
        """The case's listing still waiting for its meeting or outcome, if any."""
        row = (
            await self.session.execute(
                select(MdtListing, MdtMeeting)
                .join(MdtMeeting, MdtMeeting.id == MdtListing.meeting_id)
                .where(MdtListing.case_id == case_id, MdtListing.status == ACTIVE)
                .order_by(MdtMeeting.meeting_date)
                .limit(1)
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def agenda(self, meeting_id: int) -> Sequence[tuple[MdtListing, Case]]:
        """A meeting's listed cases (not removed or rolled away), with their cases."""
        rows = await self.session.execute(
            select(MdtListing, Case)
            .join(Case, Case.id == MdtListing.case_id)
            .where(
                MdtListing.meeting_id == meeting_id,
                MdtListing.status.in_((ACTIVE, "decided")),
            )
            .order_by(MdtListing.id)
        )
        return [(listing, case) for listing, case in rows.all()]

    async def still_listed(self, meeting_id: int) -> Sequence[MdtListing]:
        """A meeting's listings with no outcome and not removed."""
        return (
            await self.session.scalars(
                select(MdtListing)
                .where(MdtListing.meeting_id == meeting_id, MdtListing.status == ACTIVE)
                .order_by(MdtListing.id)
            )
        ).all()

    async def decide(
        self,
        listing_id: int,
        outcome: str,
        by_id: int,
        now: datetime,
    ) -> bool:
        """Record that the listing has its outcome, only if nobody did first (one
        statement, so two people recording at once cannot both win)."""
        return (
            rowcount(
                await self.session.execute(
                    update(MdtListing)
                    .where(MdtListing.id == listing_id, MdtListing.status == ACTIVE)
                    .values(status="decided", outcome=outcome, outcome_by_id=by_id, outcome_at=now)
                    .execution_options(synchronize_session=False)
                )
            )
            == 1
        )

    async def reminders_due(self, now: datetime) -> Sequence[MdtListing]:
        """Rolled-over listings whose presenting clinician is to be reminded now."""
        return (
            await self.session.scalars(
                select(MdtListing)
                .where(
                    MdtListing.remind_at <= now,
                    MdtListing.reminded_at.is_(None),
                    MdtListing.status == ACTIVE,
                )
                .order_by(MdtListing.id)
                .with_for_update(skip_locked=True)
            )
        ).all()

    async def of_case(self, case_id: int) -> Sequence[tuple[MdtListing, MdtMeeting]]:
        """Every listing of a case with its meeting, oldest first."""
        rows = await self.session.execute(
            select(MdtListing, MdtMeeting)
            .join(MdtMeeting, MdtMeeting.id == MdtListing.meeting_id)
            .where(MdtListing.case_id == case_id)
            .order_by(MdtListing.id)
        )
        return [(listing, meeting) for listing, meeting in rows.all()]

    async def purge_of_cases(self, case_ids: Sequence[int], now: datetime) -> int:
        """Clear the free text (question, reason, outcome text) of these cases' listings;
        dates, categories and who did what stay."""
        return rowcount(
            await self.session.execute(
                update(MdtListing)
                .where(MdtListing.case_id.in_(case_ids), MdtListing.purged_at.is_(None))
                .values(
                    question_enc=None,
                    removed_reason_enc=None,
                    outcome_text_enc=None,
                    purged_at=now,
                )
            )
        )

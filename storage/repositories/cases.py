"""Cases: the referral, its patient details and its named clinicians."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, exists, func, or_, select, update

from storage.crypto import normalise_digits
from storage.models import Case, Person, Query, Role
from storage.repositories._base import _Repository, rowcount

LISTED = 50  # cases shown by /cases, newest first


class CaseRepository(_Repository):
    """Cases: the referral, its patient details and its named clinicians."""

    async def get(self, case_id: int) -> Case | None:
        return await self.session.get(Case, case_id)

    def add(self, case: Case) -> None:
        self.session.add(case)

    async def open_for_nhs_number(self, nhs_number: str) -> Case | None:
        """The patient's open case (the oldest if several), found by blind index."""
        digest = self.keyring.blind_index("nhs", normalise_digits(nhs_number))
        return await self.session.scalar(
            select(Case)
            .where(Case.nhs_number_index == digest, Case.status == "open")
            .order_by(Case.id)
            .limit(1)
        )

    async def open_load_by_clinician(self) -> dict[int, int]:
        """Clinician id -> how many open cases they hold as named clinician or deputy."""
        rows = await self.session.execute(
            select(Person.id, func.count(Case.id))
            .join(Case, or_(Case.named_clinician_id == Person.id, Case.deputy_id == Person.id))
            .where(Case.status == "open", Person.role == Role.CLINICIAN)
            .group_by(Person.id)
        )
        return {int(person_id): int(count) for person_id, count in rows.all()}

    async def newest(self) -> Sequence[Case]:
        """The newest cases of the whole service (an admin's /cases)."""
        return (await self.session.scalars(_newest())).all()

    async def newest_of_centre(self, centre_id: str | None) -> Sequence[Case]:
        """The newest cases referred from one centre (a link clinician's /cases)."""
        return (await self.session.scalars(_newest().where(Case.centre_id == centre_id))).all()

    async def newest_involving(self, person_id: int) -> Sequence[Case]:
        """The newest cases someone referred or holds as named clinician or deputy."""
        involving = or_(
            Case.referrer_id == person_id,
            Case.named_clinician_id == person_id,
            Case.deputy_id == person_id,
        )
        return (await self.session.scalars(_newest().where(involving))).all()

    async def due_for_purge(self, closed_before: datetime, limit: int) -> list[int]:
        """Cases closed before the cut-off and not purged yet, oldest id first.

        A query asked or reopened after closing keeps the case whole until someone
        resolves it: never purge what is still asked.
        """
        unresolved = exists().where(Query.case_id == Case.id, Query.status != "resolved")
        return await self._ids(
            select(Case.id)
            .where(
                Case.status == "closed",
                Case.closed_at < closed_before,
                Case.purged_at.is_(None),
                ~unresolved,
            )
            .order_by(Case.id)
            .limit(limit)
        )

    async def purge(self, case_ids: Sequence[int], now: datetime) -> int:
        """Blank the cases' free text and patient identifiers; rows and statuses stay."""
        return rowcount(
            await self.session.execute(
                update(Case)
                .where(Case.id.in_(case_ids))
                .values(
                    nhs_number_enc=None,
                    nhs_number_index=None,
                    date_of_birth_enc=None,
                    site_enc=None,
                    summary_enc=None,
                    purged_at=now,
                )
            )
        )


def _newest() -> Select[Case]:
    return select(Case).order_by(Case.id.desc()).limit(LISTED)

"""Cases: the referral, its patient details and its named clinicians."""

from __future__ import annotations

from storage.models import Case
from storage.repositories._base import _Repository


class CaseRepository(_Repository):
    """Cases: the referral, its patient details and its named clinicians."""

    async def get(self, case_id: int) -> Case | None:
        return await self.session.get(Case, case_id)

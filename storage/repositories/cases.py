"""Cases: the referral, its patient details and its named clinicians."""

from __future__ import annotations

from storage.repositories._base import _Repository


class CaseRepository(_Repository):
    """Cases: the referral, its patient details and its named clinicians."""

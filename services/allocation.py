"""Allocating a new case's named senior clinician and deputy (SPEC: New case)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

TUMOUR_TYPES = frozenset({"bone", "soft_tissue", "not_sure"})


@dataclass(frozen=True)
class Candidate:
    """A senior clinician as allocation sees them."""

    person_id: int
    specialties: frozenset[str]  # subset of {"bone", "soft_tissue"}
    open_cases: int  # open cases where they are named clinician or deputy
    away_until: date | None  # away up to and including this date
    default_deputy_id: int | None


@dataclass(frozen=True)
class Allocation:
    """Who holds the case: always two different people."""

    named_id: int
    deputy_id: int


def is_available(candidate: Candidate, today: date) -> bool:
    """Not away today (away_until is the last day away)."""
    return candidate.away_until is None or candidate.away_until < today


def matches(candidate: Candidate, tumour_type: str) -> bool:
    """Their specialty covers the tumour type; "Not sure" goes to any specialty."""
    return tumour_type == "not_sure" or tumour_type in candidate.specialties


def allocate(candidates: Sequence[Candidate], tumour_type: str, today: date) -> Allocation | None:
    """The named clinician and deputy, or None when admins must allocate by hand.

    Named: the available specialty match with the fewest open cases (lowest id on a tie,
    so the result never depends on the order candidates were listed in). Deputy, in order
    of preference: the named clinician's default deputy if available and matching; the
    next matching clinician by the same ordering; and only when no other matching
    clinician is available, any available clinician (their default deputy first): a
    deputy outside the specialty who can cover absences beats no deputy, and admins can
    still reallocate. Never the same person twice.
    """
    if tumour_type not in TUMOUR_TYPES:
        raise ValueError(f"unknown tumour type {tumour_type!r}")
    available = [c for c in candidates if is_available(c, today)]
    matching = [c for c in available if matches(c, tumour_type)]
    if not matching:
        return None
    named = min(matching, key=lambda c: (c.open_cases, c.person_id))
    others = [c for c in available if c.person_id != named.person_id]
    if not others:
        return None
    deputy = min(
        others,
        key=lambda c: (
            not matches(c, tumour_type),
            c.person_id != named.default_deputy_id,
            c.open_cases,
            c.person_id,
        ),
    )
    return Allocation(named.person_id, deputy.person_id)

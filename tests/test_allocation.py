"""Allocation of the named clinician and deputy: a table of situations and a property."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.allocation import Allocation, Candidate, allocate, is_available, matches

TODAY = date(2026, 11, 2)
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
BONE = frozenset({"bone"})
SOFT = frozenset({"soft_tissue"})
BOTH = BONE | SOFT


def c(
    pid: int,
    specialties: frozenset[str] = BOTH,
    load: int = 0,
    away: date | None = None,
    deputy: int | None = None,
) -> Candidate:
    return Candidate(pid, specialties, load, away, deputy)


CASES = [
    # id, candidates, tumour type, expected (named, deputy) or None
    ("bone goes to bone", [c(1, SOFT), c(2, BONE, 3), c(3, BONE, 4)], "bone", (2, 3)),
    (
        "soft tissue goes to soft tissue",
        [c(1, BONE), c(2, SOFT, 1), c(3, SOFT, 2)],
        "soft_tissue",
        (2, 3),
    ),
    ("not sure: any specialty", [c(1, BONE, 2), c(2, SOFT, 1), c(3, SOFT, 3)], "not_sure", (2, 1)),
    ("both specialties match either", [c(1, BOTH, 0), c(2, BONE, 1)], "bone", (1, 2)),
    ("fewest open cases first", [c(1, BONE, 5), c(2, BONE, 2), c(3, BONE, 3)], "bone", (2, 3)),
    ("tie: lowest id", [c(7, BONE, 1), c(3, BONE, 1), c(5, BONE, 1)], "bone", (3, 5)),
    ("load beats id", [c(1, BONE, 2), c(9, BONE, 0), c(4, BONE, 1)], "bone", (9, 4)),
    (
        "away until today is away",
        [c(1, BONE, 0, TODAY), c(2, BONE, 1), c(3, BONE, 2)],
        "bone",
        (2, 3),
    ),
    ("away until yesterday is back", [c(1, BONE, 0, YESTERDAY), c(2, BONE, 1)], "bone", (1, 2)),
    (
        "away until tomorrow is away",
        [c(1, BONE, 0, TOMORROW), c(2, BONE, 1), c(3, BONE)],
        "bone",
        (3, 2),
    ),
    (
        "default deputy used despite load",
        [c(1, BONE, 0, deputy=4), c(2, BONE, 1), c(4, BONE, 9)],
        "bone",
        (1, 4),
    ),
    (
        "default deputy away: next best",
        [c(1, BONE, deputy=4), c(2, BONE, 1), c(4, BONE, 0, TODAY)],
        "bone",
        (1, 2),
    ),
    (
        "default deputy unknown: next best",
        [c(1, BONE, deputy=99), c(2, BONE, 1), c(3, BONE, 2)],
        "bone",
        (1, 2),
    ),
    (
        "default deputy off-specialty: next match",
        [c(1, BONE, deputy=2), c(2, SOFT), c(3, BONE, 5)],
        "bone",
        (1, 3),
    ),
    (
        "default deputy is oneself: never same",
        [c(1, BONE, deputy=1), c(2, BONE, 3)],
        "bone",
        (1, 2),
    ),
    (
        "only off-specialty deputy left",
        [c(1, BONE, 0), c(2, SOFT, 4), c(3, SOFT, 1)],
        "bone",
        (1, 3),
    ),
    (
        "off-specialty: default deputy first",
        [c(1, BONE, deputy=2), c(2, SOFT, 4), c(3, SOFT, 1)],
        "bone",
        (1, 2),
    ),
    (
        "matching deputy beats default off-specialty",
        [c(1, BONE, deputy=2), c(2, SOFT), c(3, BONE, 9)],
        "bone",
        (1, 3),
    ),
    (
        "away deputy never chosen",
        [c(1, BONE), c(2, BONE, 0, TODAY), c(3, SOFT, 0, TODAY)],
        "bone",
        None,
    ),
    ("single available clinician", [c(1, BONE), c(2, BONE, 0, TOMORROW)], "bone", None),
    ("single clinician at all", [c(1, BOTH)], "not_sure", None),
    ("nobody matches", [c(1, SOFT), c(2, SOFT)], "bone", None),
    ("matching clinician away", [c(1, BONE, 0, TODAY), c(2, SOFT)], "bone", None),
    ("nobody at all", [], "not_sure", None),
    ("everyone away", [c(1, away=TODAY), c(2, away=TOMORROW)], "not_sure", None),
]


@pytest.mark.parametrize(
    ("candidates", "tumour", "expected"), [x[1:] for x in CASES], ids=[x[0] for x in CASES]
)
def test_allocate(
    candidates: list[Candidate], tumour: str, expected: tuple[int, int] | None
) -> None:
    result = allocate(candidates, tumour, TODAY)
    assert result == (Allocation(*expected) if expected else None)
    # The order candidates are listed in never changes the outcome.
    assert allocate(list(reversed(candidates)), tumour, TODAY) == result


def test_unknown_tumour_type_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown tumour type"):
        allocate([c(1), c(2)], "Bone", TODAY)


candidates = st.lists(
    st.builds(
        Candidate,
        person_id=st.integers(1, 8),
        specialties=st.sampled_from([BONE, SOFT, BOTH]),
        open_cases=st.integers(0, 5),
        away_until=st.none() | st.dates(TODAY - timedelta(days=3), TODAY + timedelta(days=3)),
        default_deputy_id=st.none() | st.integers(1, 8),
    ),
    max_size=8,
    unique_by=lambda x: x.person_id,
)


@given(candidates, st.sampled_from(["bone", "soft_tissue", "not_sure"]))
def test_allocation_invariants(people: list[Candidate], tumour: str) -> None:
    result = allocate(people, tumour, TODAY)
    free = [p for p in people if is_available(p, TODAY)]
    fit = [p for p in free if matches(p, tumour)]
    if not fit or len(free) < 2:
        assert result is None
        return
    assert result is not None
    by_id = {p.person_id: p for p in people}
    named, deputy = by_id[result.named_id], by_id[result.deputy_id]
    assert named != deputy
    assert named in fit and deputy in free
    assert (named.open_cases, named.person_id) == min((p.open_cases, p.person_id) for p in fit)
    if any(p in fit for p in free if p != named):
        assert deputy in fit

"""The result of checking one typed answer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Valid:
    """An accepted answer: what to store."""

    value: str | None


@dataclass(frozen=True)
class Invalid:
    """A refused answer: what is wrong, in words for the user."""

    problem: str


Checked = Valid | Invalid

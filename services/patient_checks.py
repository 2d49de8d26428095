"""Checking a referral's patient details: NHS number, date of birth, free text."""

from __future__ import annotations

import re
from datetime import date

from services.answers import Invalid, Valid

MAX_AGE = 120
MAX_SITE = 200
MAX_SUMMARY = 3000
# Spaces of any kind and hyphen-like dashes: numbers are often pasted from letters and
# word processors, which turn "-" into U+2010/U+2011/en dash and spaces into no-break ones.
_NHS_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# Day first, with the same separator twice; a two-digit year is caught to say so.
_DOB = re.compile(r"(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})")


def nhs_check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when no number can have one."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return {11: 0, 10: None}.get(check, check)


def check_nhs_number(text: str) -> Valid | Invalid:
    """10 digits (spaces or hyphens allowed) with a valid Modulus 11 check digit."""
    digits = _NHS_SEPARATORS.sub("", text)
    if not digits:
        return Invalid("Please type the NHS number: 10 digits, for example 943 476 5919.")
    if any(ch.isalpha() for ch in digits):
        return Invalid("An NHS number has no letters, only 10 digits, like 943 476 5919.")
    if not _ASCII_DIGITS.fullmatch(digits):
        return Invalid("An NHS number has only digits 0-9 (spaces are fine), like 943 476 5919.")
    if len(digits) != 10:
        return Invalid(f"That has {len(digits)} digits; an NHS number has exactly 10.")
    if nhs_check_digit(digits[:9]) != int(digits[9]):
        return Invalid(
            "That is not a valid NHS number: its check digit does not match, so a digit "
            "is probably mistyped. Please check it against the patient's record."
        )
    return Valid(digits)


def format_nhs(digits: str) -> str:
    """The stored 10 digits as the NHS writes them: 943 476 5919."""
    if len(digits) != 10:
        return digits  # not ours to judge here; show what is stored
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"


def check_date_of_birth(text: str, today: date) -> Valid | Invalid:
    """DD/MM/YYYY (or D/M/YYYY), a real date, in the past, age at most 120; stored ISO."""
    match = _DOB.fullmatch(text.strip())
    if match is None:
        return Invalid("Please type the date of birth as DD/MM/YYYY, for example 04/05/1970.")
    day, _, month, year = match.groups()
    if len(year) == 2:
        return Invalid("Please give the year in full, as DD/MM/YYYY (for example 04/05/1970).")
    try:
        born = date(int(year), int(month), int(day))
    except ValueError:
        return Invalid(f"{text.strip()} is not a real date. Please check the day and the month.")
    if born >= today:
        return Invalid("The date of birth must be in the past. Please check the year.")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age > MAX_AGE:
        return Invalid(
            f"That makes the patient {age} years old (at most {MAX_AGE}). Please check the year."
        )
    return Valid(born.isoformat())


def check_free_text(text: str, what: str, limit: int) -> Valid | Invalid:
    """Non-empty text of at most `limit` characters, kept as typed (trimmed)."""
    value = text.strip()
    if not value:
        return Invalid(f"The {what} cannot be empty. Please type it.")
    if len(value) > limit:
        return Invalid(
            f"That is {len(value):,} characters; the {what} can be at most {limit:,}. "
            "Please shorten it and send it again."
        )
    return Valid(value)

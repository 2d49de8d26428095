"""Patient details on a referral: each class of bad input gets its own message."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.patient_checks import (
    MAX_SITE,
    MAX_SUMMARY,
    check_date_of_birth,
    check_free_text,
    check_nhs_number,
    format_nhs,
)
from services.registration import Invalid, Valid

TODAY = date(2026, 11, 2)


def modulus_11(nine: str) -> int:
    """An independent oracle: the NHS Modulus 11 check digit, 10 meaning none exists."""
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    return 0 if check == 11 else check


def problem(result: Valid | Invalid) -> str:
    assert isinstance(result, Invalid), result
    return result.problem


# ---- NHS number -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "943 476 5919",
        "9434765919",
        "943-476-5919",
        "  943 476 5919 ",
        "943\u00a0476\u00a05919",  # no-break spaces, as pasted from a letter
        "943\u2011476\u20115919",  # non-breaking hyphens
        "401 023 2137",
        "999 999 9999",
        "000 000 0000",  # remainder 0 -> 11 -> check digit 0
    ],
)
def test_valid_nhs_numbers_are_stored_as_ten_digits(text: str) -> None:
    result = check_nhs_number(text)
    assert isinstance(result, Valid)
    assert result.value is not None and len(result.value) == 10 and result.value.isdigit()
    assert format_nhs(result.value) == " ".join(
        [result.value[:3], result.value[3:6], result.value[6:]]
    )


def test_format_nhs() -> None:
    assert format_nhs("9434765919") == "943 476 5919"
    assert format_nhs("") == ""


@given(st.text("0123456789", min_size=9, max_size=9))
def test_generated_numbers(nine: str) -> None:
    check = modulus_11(nine)
    for last in "0123456789":
        valid = check != 10 and int(last) == check
        assert isinstance(check_nhs_number(nine + last), Valid) is valid


BAD_NHS = [
    # text, words the message must contain
    ("", "10 digits"),
    ("   ", "10 digits"),
    ("943 476 591O", "no letters"),  # letter O for zero
    ("NHS 943 476 5919", "no letters"),
    ("943.476.5919", "only digits"),
    ("943/476/5919", "only digits"),
    ("٩٤٣٤٧٦٥٩١٩", "only digits"),  # Arabic-Indic digits
    ("943 476 591", "9 digits"),
    ("943 476 59199", "11 digits"),
    ("943 476 5918", "check digit"),
    ("943 476 9519", "check digit"),  # two digits swapped
    ("000 000 0601", "check digit"),  # remainder 1: no check digit exists (10)
]


@pytest.mark.parametrize(("text", "words"), BAD_NHS)
def test_bad_nhs_numbers(text: str, words: str) -> None:
    assert words in problem(check_nhs_number(text))


def test_nhs_messages_are_distinct() -> None:
    letters = problem(check_nhs_number("943 476 591O"))
    length = problem(check_nhs_number("943 476 591"))
    checksum = problem(check_nhs_number("943 476 5918"))
    assert len({letters, length, checksum}) == 3


# ---- date of birth ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("04/05/1970", "1970-05-04"),
        ("4/5/1970", "1970-05-04"),
        (" 29/02/2000 ", "2000-02-29"),
        ("04.05.1970", "1970-05-04"),
        ("04-05-1970", "1970-05-04"),
        ("01/11/2026", "2026-11-01"),  # yesterday
        ("02/11/1906", "1906-11-02"),  # 120 today
        ("03/11/1905", "1905-11-03"),  # 120 until tomorrow
    ],
)
def test_valid_dates_of_birth(text: str, iso: str) -> None:
    assert check_date_of_birth(text, TODAY) == Valid(iso)


BAD_DOB = [
    ("", "DD/MM/YYYY"),
    ("1970-05-04", "DD/MM/YYYY"),
    ("4 May 1970", "DD/MM/YYYY"),
    ("04/05/1970 extra", "DD/MM/YYYY"),
    ("04/05.1970", "DD/MM/YYYY"),
    ("004/05/1970", "DD/MM/YYYY"),
    ("04/05/70", "year in full"),
    ("31/02/2000", "not a real date"),
    ("29/02/2001", "not a real date"),
    ("00/01/2000", "not a real date"),
    ("05/13/1970", "not a real date"),  # month first
    ("02/11/2026", "in the past"),  # today
    ("03/11/2026", "in the past"),
    ("01/01/2100", "in the past"),
    ("02/11/1905", "121 years"),  # 121 today
    ("01/01/1800", "226 years"),
]


@pytest.mark.parametrize(("text", "words"), BAD_DOB)
def test_bad_dates_of_birth(text: str, words: str) -> None:
    assert words in problem(check_date_of_birth(text, TODAY))


def test_dob_messages_are_distinct() -> None:
    texts = ["4 May 1970", "31/02/2000", "03/11/2026", "02/11/1905"]
    assert len({problem(check_date_of_birth(t, TODAY)) for t in texts}) == 4


# ---- free text --------------------------------------------------------------------


@pytest.mark.parametrize(("what", "limit"), [("site", MAX_SITE), ("clinical summary", MAX_SUMMARY)])
def test_free_text(what: str, limit: int) -> None:
    assert check_free_text("  Left distal femur\n", what, limit) == Valid("Left distal femur")
    assert check_free_text("é" * limit, what, limit) == Valid("é" * limit)
    assert check_free_text("Dr Seán O'Brien & <Partner> محمد 😀", what, limit) == Valid(
        "Dr Seán O'Brien & <Partner> محمد 😀"
    )
    for empty in ("", "   ", "\n\t"):
        assert f"The {what} cannot be empty" in problem(check_free_text(empty, what, limit))
    too_long = problem(check_free_text("x" * (limit + 1), what, limit))
    assert f"{limit + 1:,} characters" in too_long
    assert f"at most {limit:,}" in too_long

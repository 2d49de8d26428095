"""The appointment .ics: structure, escaping, folding and the cancelled form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.ics import appointment_ics

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 2, 1, 9, 15, 42, 123456, tzinfo=UTC)
START = datetime(2026, 2, 10, 10, 0, tzinfo=LONDON)


def unescape(value: str) -> str:
    """Reverse RFC 5545 TEXT escaping."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], value)


def parse(data: bytes) -> list[tuple[str, str]]:
    """Unfold and split into (name, raw value) pairs, in order."""
    text = data.replace(b"\r\n ", b"").decode("utf-8")
    assert text.endswith("\r\n")
    pairs = []
    for line in text[:-2].split("\r\n"):
        name, _, value = line.partition(":")
        pairs.append((name, value))
    return pairs


def event(data: bytes) -> dict[str, str]:
    """The VEVENT's own properties (not the VALARM's), unescaped."""
    props: dict[str, str] = {}
    depth = []
    for name, value in parse(data):
        if name == "BEGIN":
            depth.append(value)
        elif name == "END":
            depth.pop()
        elif depth == ["VCALENDAR", "VEVENT"]:
            props[name] = unescape(value)
    return props


def make(**overrides: object) -> bytes:
    args: dict[str, object] = {
        "uid": "appt-42@sarcoma.example",
        "starts_at": START,
        "duration": timedelta(minutes=45),
        "summary": "Sarcoma clinic",
        "location": "Outpatients, Level 2",
        "description": "Bring a list of medicines.\nAsk at reception.",
        "tz": LONDON,
        "now": NOW,
    }
    args.update(overrides)
    return appointment_ics(**args)  # type: ignore[arg-type]


def test_structure_and_fields() -> None:
    data = make()
    names = [name for name, _ in parse(data)]
    assert names[:5] == ["BEGIN", "PRODID", "VERSION", "CALSCALE", "METHOD"]
    assert names.count("BEGIN") == 3 and names[-2:] == ["END", "END"]
    assert ("METHOD", "PUBLISH") in parse(data) and ("VERSION", "2.0") in parse(data)
    props = event(data)
    assert props["UID"] == "appt-42@sarcoma.example"
    assert props["DTSTAMP"] == "20260201T091542Z"
    assert props["DTSTART"] == "20260210T100000Z"
    assert props["DTEND"] == "20260210T104500Z"
    assert props["SEQUENCE"] == "0"
    assert props["STATUS"] == "CONFIRMED"
    assert props["LOCATION"] == "Outpatients, Level 2"
    assert props["DESCRIPTION"] == "Bring a list of medicines.\nAsk at reception."
    assert ("TRIGGER", "-P1D") in parse(data)
    assert b"VTIMEZONE" not in data


def test_crlf_only() -> None:
    data = make(description="a\nb\r\nc\rd")
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")
    assert event(data)["DESCRIPTION"] == "a\nb\nc\nd"


def test_escaping() -> None:
    raw = "O'Brien & <Sons>; a, b"
    data = make(summary=raw, location="back\\slash;semi,comma", description="C:\\path\nnext")
    assert b"SUMMARY:O'Brien & <Sons>\\; a\\, b\r\n" in data
    assert b"LOCATION:back\\\\slash\\;semi\\,comma\r\n" in data
    assert b"DESCRIPTION:C:\\\\path\\nnext\r\n" in data
    assert event(data)["SUMMARY"] == raw
    assert event(data)["LOCATION"] == "back\\slash;semi,comma"
    # Control characters other than a tab are not allowed in TEXT: they are dropped,
    # without merging the line breaks on either side of one.
    assert b"SUMMARY:belltab\t\r\n" in make(summary="bell\x07tab\t")
    assert event(make(description="a\r\x07\nb"))["DESCRIPTION"] == "a\n\nb"
    # A typed backslash and N stay two characters, not icalendar's line-break shorthand.
    assert event(make(location="Ward 5\\North"))["LOCATION"] == "Ward 5\\North"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 300,
        "Rendez-vous à l'hôpital orthopédique, clinique des sarcomes — réévaluation " * 4,
        "🦴🩻 " * 60,
        "a" + "é" * 80,  # Puts a two-byte character across the 75-octet boundary.
        "ab" + "👩‍⚕️" * 30,  # Four-byte and three-byte characters joined by ZWJ.
    ],
)
def test_folding_is_octet_limited_and_lossless(text: str) -> None:
    data = make(description=text, summary=text[:100])
    for physical in data.split(b"\r\n")[:-1]:
        assert len(physical) <= 75
        physical.decode("utf-8")  # Raises if a fold split a character.
    assert event(data)["DESCRIPTION"] == text
    assert event(data)["SUMMARY"] == text[:100]


def test_folding_boundaries() -> None:
    # "DESCRIPTION:" is 12 octets: a 72-octet content line stays whole.
    assert b"\r\nDESCRIPTION:" + b"x" * 60 + b"\r\n" in make(description="x" * 60)
    # A longer one folds; a continuation's leading space counts towards its 75 octets,
    # and a two-byte character at the boundary moves to the next line whole.
    data = make(description="x" * 62 + "é" * 40)
    start = data.index(b"DESCRIPTION:")
    physical = data[start : data.index(b"\r\nBEGIN:VALARM")]
    lines = physical.split(b"\r\n")
    assert len(lines) > 1
    assert all(len(line) <= 75 for line in lines)
    assert all(line.startswith(b" ") and not line.startswith(b"  ") for line in lines[1:])
    assert all(line.decode("utf-8") for line in lines)  # no character split in two
    assert event(data)["DESCRIPTION"] == "x" * 62 + "é" * 40


def test_cancelled_form() -> None:
    data = make(cancelled=True, sequence=2)
    assert ("METHOD", "CANCEL") in parse(data)
    props = event(data)
    assert props["STATUS"] == "CANCELLED"
    assert props["SEQUENCE"] == "2"
    assert props["UID"] == "appt-42@sarcoma.example"
    assert b"VALARM" not in data


def test_alarm_keeps_local_clock_across_dst() -> None:
    spring = make(starts_at=datetime(2026, 3, 30, 10, 0, tzinfo=LONDON))
    autumn = make(starts_at=datetime(2026, 10, 26, 10, 0, tzinfo=LONDON))
    just_after = make(starts_at=datetime(2026, 3, 29, 10, 0, tzinfo=LONDON))
    assert ("TRIGGER", "-P1D") in parse(spring)  # Day before is already BST.
    assert ("TRIGGER", "-P1D") in parse(autumn)
    assert ("TRIGGER", "-PT23H") in parse(just_after)  # Day before is GMT.
    assert ("TRIGGER", "-PT25H") in parse(make(starts_at=datetime(2026, 10, 25, 10, tzinfo=LONDON)))
    assert event(just_after)["DTSTART"] == "20260329T090000Z"


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        make(starts_at=datetime(2026, 2, 10, 10, 0))
    with pytest.raises(ValueError):
        make(duration=timedelta(0))
    with pytest.raises(ValueError):
        make(sequence=-1)

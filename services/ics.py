"""A minimal RFC 5545 calendar file for one appointment, written by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.reminder_times import local_days_before

PRODID = "-//Regional Sarcoma Service//Referral Bot//EN"
_MAX_OCTETS = 75
# RFC 5545 TEXT may not carry control characters other than HTAB; newlines are escaped first.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def escape_text(value: str) -> str:
    """Escape a TEXT value per RFC 5545 section 3.3.11."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub("", value)


def fold_line(line: str) -> bytes:
    """Fold one content line to at most 75 octets per physical line, never inside a character."""
    chunks: list[bytes] = []
    current = b""
    limit = _MAX_OCTETS
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > limit:
            chunks.append(current)
            current = b""
            limit = _MAX_OCTETS - 1  # The leading space of a continuation line counts.
        current += encoded
    chunks.append(current)
    return b"\r\n ".join(chunks) + b"\r\n"


def _utc(value: datetime) -> str:
    """Format an aware datetime as an RFC 5545 UTC DATE-TIME."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _duration(value: timedelta) -> str:
    """Format a positive timedelta as an RFC 5545 DURATION, e.g. P1D or PT25H."""
    seconds = int(value.total_seconds())
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    # Otherwise hours only: a "D" part is a nominal day that some clients apply in local time.
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = ((hours, "H"), (minutes, "M"), (seconds, "S"))
    return "PT" + "".join(f"{n}{unit}" for n, unit in parts if n)


def appointment_ics(
    uid: str,
    starts_at: datetime,
    duration: timedelta,
    summary: str,
    location: str,
    description: str,
    tz: ZoneInfo,
    now: datetime,
    sequence: int = 0,
    cancelled: bool = False,
) -> bytes:
    """Render a one-event VCALENDAR (PUBLISH, or CANCEL when cancelled) as UTF-8 CRLF bytes."""
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if sequence < 0:
        raise ValueError("sequence must not be negative")
    ends_at = starts_at + duration
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:{escape_text(uid)}",
        f"DTSTAMP:{_utc(now)}",
        # UTC times avoid shipping a VTIMEZONE; clients show them in the reader's own zone.
        f"DTSTART:{_utc(starts_at)}",
        f"DTEND:{_utc(ends_at)}",
        f"SEQUENCE:{sequence}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        f"SUMMARY:{escape_text(summary)}",
        f"LOCATION:{escape_text(location)}",
        f"DESCRIPTION:{escape_text(description)}",
    ]
    if not cancelled:  # An alarm on a cancellation would only remind people of nothing.
        # With a UTC DTSTART, "-P1D" is exactly 24 h, so across a DST change it would fire an
        # hour off; the exact gap to the same local time the day before keeps it on the clock.
        before = starts_at - local_days_before(starts_at, 1, tz)
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{escape_text(summary)}",
            f"TRIGGER:-{_duration(before)}",
            "END:VALARM",
        ]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return b"".join(fold_line(line) for line in lines)

"""An RFC 5545 calendar file for one appointment, written with the `icalendar` library."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vDuration, vText

from services.reminder_times import local_days_before

PRODID = "-//Regional Sarcoma Service//Referral Bot//EN"
# RFC 5545 TEXT may not carry control characters other than HTAB; icalendar escapes line
# breaks but passes the rest through, so they are dropped here (line breaks made LF
# first, so that dropping one between a CR and an LF does not merge two breaks).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DAY = timedelta(days=1)


class _ExactDuration(vDuration):
    """A DURATION in days only when whole days, otherwise in hours (PT25H, not P1DT1H).

    A "D" part is a nominal day, which some clients apply in local time: across a DST
    change that would move the alarm an hour.
    """

    def to_ical(self) -> bytes:
        if self.td % _DAY == timedelta(0):
            return super().to_ical()
        sign, exact = ("-", -self.td) if self.td < timedelta(0) else ("", self.td)
        hours, rest = divmod(int(exact.total_seconds()), 3600)
        minutes, seconds = divmod(rest, 60)
        parts = ((hours, "H"), (minutes, "M"), (seconds, "S"))
        return f"{sign}PT{''.join(f'{n}{unit}' for n, unit in parts if n)}".encode()


class _Text(vText):
    """TEXT as typed. icalendar reads a backslash and N in a value as its shorthand for a
    line break; here they stay the two characters someone typed (`Ward 5\\North`)."""

    def to_ical(self) -> bytes:
        return b"\\\\N".join(vText(part).to_ical() for part in self.split("\\N"))


def _text(value: str) -> _Text:
    return _Text(_CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")))


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC, which icalendar writes as a UTC DATE-TIME (…Z)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0)


def _alarm(starts_at: datetime, summary: str, tz: ZoneInfo) -> Alarm:
    # With a UTC DTSTART, "-P1D" is exactly 24 h, so across a DST change it would fire an
    # hour off; the exact gap to the same local time the day before keeps it on the clock.
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", _text(summary))
    alarm.add("trigger", _ExactDuration(local_days_before(starts_at, 1, tz) - starts_at))
    return alarm


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
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = Event()
    event.add("uid", _text(uid))
    event.add("dtstamp", _utc(now))
    # UTC times avoid shipping a VTIMEZONE; clients show them in the reader's own zone.
    event.add("dtstart", _utc(starts_at))
    event.add("dtend", _utc(starts_at + duration))
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", _text(summary))
    event.add("location", _text(location))
    event.add("description", _text(description))
    if not cancelled:  # An alarm on a cancellation would only remind people of nothing.
        event.add_component(_alarm(starts_at, summary, tz))
    calendar.add_component(event)
    # Written in the order added: the calendar's own properties first, as clients expect.
    return calendar.to_ical(sorted=False)

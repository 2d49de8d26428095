"""When appointment reminders fall due, in calendar days, hours and quiet hours."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)


def _require_aware(name: str, value: datetime) -> None:
    """Reject naive datetimes, which would silently be read as local machine time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def resolve_local(wall: datetime, tz: ZoneInfo) -> datetime:
    """Turn a naive local wall time into an aware UTC instant, handling DST gaps and overlaps.

    Ambiguous (autumn overlap): PEP 495's fold=0, the earlier instant, which gives more
    notice. Nonexistent (spring gap): the first instant after the clocks changed (01:30
    on the night they go forward at 01:00 is 02:00 BST).
    """
    early = wall.replace(tzinfo=tz, fold=0)
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return early.astimezone(UTC)
    # In a gap PEP 495 reads fold=1 with the offset after the change and fold=0 with the
    # one before, so the change lies between those two instants. Neither zoneinfo nor
    # dateutil tells when it is (dateutil's resolve_imaginary, like fold=0, moves the
    # time on by the gap's length instead: 02:30 BST), so find its second in that span.
    first = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    old_offset = early.utcoffset()

    def changed(second: int) -> bool:
        return (first + second * _SECOND).astimezone(tz).utcoffset() != old_offset

    span = range(int((early.astimezone(UTC) - first) / _SECOND))
    return first + bisect_left(span, True, key=changed) * _SECOND


def local_days_before(starts_at: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The same local wall-clock time `days` calendar days earlier, as aware UTC."""
    _require_aware("starts_at", starts_at)
    wall = starts_at.astimezone(tz).replace(tzinfo=None) - timedelta(days=days)
    return resolve_local(wall, tz)


def _quiet_end(
    due: datetime, quiet_hours: tuple[time, time] | None, tz: ZoneInfo
) -> datetime | None:
    """The end of the quiet window containing `due`, or None when `due` is not quiet."""
    if quiet_hours is None:
        return None
    start, end = quiet_hours
    if start == end:  # An empty window would otherwise read as "quiet all day" when wrapping.
        return None
    local = due.astimezone(tz)
    at = local.time().replace(tzinfo=None)
    day: date = local.date()
    if start < end:
        if not start <= at < end:
            return None
    elif at >= start:
        day += _DAY  # Evening part of a window that wraps midnight: ends tomorrow morning.
    elif at >= end:
        return None
    return resolve_local(datetime.combine(day, end), tz)


def reminder_times(
    starts_at: datetime,
    offsets: Sequence[timedelta],
    quiet_hours: tuple[time, time] | None,
    tz: ZoneInfo,
    now: datetime,
) -> list[datetime]:
    """Aware UTC due times for reminders before `starts_at`, ascending and de-duplicated."""
    _require_aware("starts_at", starts_at)
    _require_aware("now", now)
    starts_at = starts_at.astimezone(UTC)
    due_times: set[datetime] = set()
    for offset in offsets:
        if offset <= timedelta(0):
            raise ValueError(f"reminder offset must be positive, got {offset}")
        # Whole days are calendar days so "the day before" keeps the appointment's clock time
        # across DST; any remainder under a day is exact elapsed time.
        due = local_days_before(starts_at, offset.days, tz) - (offset - timedelta(offset.days))
        moved = _quiet_end(due, quiet_hours, tz)
        if moved is not None:
            due = moved
        # A reminder pushed to (or past) the appointment is useless; one still ahead of us
        # after a quiet-hours move is deferred rather than lost, so test `now` afterwards.
        if due >= starts_at or due <= now:
            continue
        due_times.add(due)
    return sorted(due_times)

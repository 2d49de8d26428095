"""When appointment reminders fall due, in calendar days, hours and quiet hours."""

from __future__ import annotations

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
    """Turn a naive local wall time into an aware UTC instant, handling DST gaps and overlaps."""
    # Ambiguous (autumn overlap): fold=0 is the earlier instant, which gives more notice.
    early = wall.replace(tzinfo=tz, fold=0)
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return early.astimezone(UTC)
    # Nonexistent (spring gap): PEP 495 maps fold=0 with the offset before the change and
    # fold=1 with the offset after, so the change itself lies between the two instants.
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = early.astimezone(UTC)
    after = hi.astimezone(tz).utcoffset()
    # zoneinfo does not expose transitions, so bisect to the first instant on the new offset.
    while hi - lo > _SECOND:
        mid = lo + timedelta(seconds=(hi - lo) // _SECOND // 2)
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


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

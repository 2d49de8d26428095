"""Reminder due times: calendar days, exact hours, quiet hours and Europe/London DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.reminder_times import reminder_times, resolve_local

LONDON = ZoneInfo("Europe/London")
QUIET = (time(21, 0), time(8, 0))
DEFAULT = (timedelta(days=7), timedelta(days=1), timedelta(hours=2))
EARLY = datetime(2026, 1, 1, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A London wall time as aware UTC (fold=0)."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def times(
    starts_at: datetime,
    offsets: tuple[timedelta, ...] = DEFAULT,
    quiet: tuple[time, time] | None = QUIET,
    now: datetime = EARLY,
) -> list[datetime]:
    return reminder_times(starts_at, offsets, quiet, LONDON, now)


def test_each_default_offset_in_winter() -> None:
    start = local(2026, 2, 10, 10, 0)
    assert times(start) == [
        local(2026, 2, 3, 10, 0),
        local(2026, 2, 9, 10, 0),
        local(2026, 2, 10, 8),
    ]


def test_each_default_offset_in_summer_and_results_are_utc() -> None:
    start = local(2026, 7, 10, 14, 30)
    result = times(start)
    assert result == [
        local(2026, 7, 3, 14, 30),
        local(2026, 7, 9, 14, 30),
        local(2026, 7, 10, 12, 30),
    ]
    assert all(t.tzinfo is UTC for t in result)
    assert result[0] == datetime(2026, 7, 3, 13, 30, tzinfo=UTC)


def test_mixed_offset_is_calendar_days_then_exact_hours() -> None:
    start = local(2026, 3, 30, 12, 0)  # Monday after spring-forward.
    # 1 day -> Sunday 12:00 BST, then 6 exact hours -> 06:00 BST; quiet off.
    assert times(start, (timedelta(days=1, hours=6),), None) == [local(2026, 3, 29, 6, 0)]


def test_evening_quiet_moves_to_next_morning() -> None:
    start = local(2026, 2, 11, 9, 30)
    # 1 day -> 09:30 the day before (fine); 12 h -> 21:30 -> 08:00 next morning.
    assert times(start, (timedelta(hours=12),)) == [local(2026, 2, 11, 8, 0)]


def test_early_morning_quiet_moves_to_same_morning() -> None:
    start = local(2026, 2, 11, 10, 0)
    assert times(start, (timedelta(hours=4),)) == [local(2026, 2, 11, 8, 0)]


def test_quiet_window_boundaries() -> None:
    start = local(2026, 2, 11, 23, 0)
    # 21:00 exactly is quiet (start inclusive) -> 08:00 the next day, after the appointment.
    assert times(start, (timedelta(hours=2),)) == []
    # 20:59 is before the window and stays put.
    assert times(start, (timedelta(hours=2, minutes=1),)) == [local(2026, 2, 11, 20, 59)]
    # 08:00 exactly is the end of the window and is not quiet.
    assert times(local(2026, 2, 11, 9), (timedelta(hours=1),)) == [local(2026, 2, 11, 8)]


def test_non_wrapping_window() -> None:
    lunch = (time(12, 0), time(14, 0))
    start = local(2026, 2, 11, 16, 0)
    assert times(start, (timedelta(hours=3),), lunch) == [local(2026, 2, 11, 14, 0)]
    assert times(start, (timedelta(hours=5),), lunch) == [local(2026, 2, 11, 11, 0)]
    assert times(start, (timedelta(hours=2),), lunch) == [local(2026, 2, 11, 14, 0)]


@pytest.mark.parametrize("quiet", [None, (time(8, 0), time(8, 0))])
def test_no_quiet_hours(quiet: tuple[time, time] | None) -> None:
    start = local(2026, 2, 11, 2, 0)
    assert times(start, (timedelta(days=1), timedelta(hours=1)), quiet) == [
        local(2026, 2, 10, 2, 0),
        local(2026, 2, 11, 1, 0),
    ]


def test_past_due_times_are_skipped() -> None:
    start = local(2026, 2, 10, 10, 0)
    now = local(2026, 2, 9, 10, 0)  # Exactly the 1-day reminder: <= now is past.
    assert times(start, now=now) == [local(2026, 2, 10, 8, 0)]
    assert times(start, now=start) == []


def test_deferred_reminder_survives_if_its_new_time_is_ahead() -> None:
    start = local(2026, 2, 11, 12, 0)
    now = local(2026, 2, 10, 23, 0)  # Raw due 22:00 has passed, but it moves to 08:00.
    assert times(start, (timedelta(hours=14),), now=now) == [local(2026, 2, 11, 8, 0)]


def test_offsets_collapse_onto_the_same_moved_time() -> None:
    start = local(2026, 2, 11, 11, 0)
    offsets = (timedelta(hours=4), timedelta(hours=5), timedelta(hours=13))  # 07:00, 06:00, 22:00
    assert times(start, offsets) == [local(2026, 2, 11, 8, 0)]


def test_appointment_inside_quiet_hours() -> None:
    start = local(2026, 2, 11, 8, 30)
    assert times(start, (timedelta(hours=2),), (time(21), time(9))) == []
    assert times(start, (timedelta(hours=2),)) == [local(2026, 2, 11, 8, 0)]


def test_rejects_naive_and_non_positive() -> None:
    with pytest.raises(ValueError):
        reminder_times(datetime(2026, 2, 1), DEFAULT, QUIET, LONDON, EARLY)
    with pytest.raises(ValueError):
        times(local(2026, 2, 1, 10), (timedelta(0),))


# Europe/London 2026: clocks go forward 01:00 UTC on 29 March, back 01:00 UTC on 25 October.


def test_march_change_day_offsets_keep_wall_clock() -> None:
    start = local(2026, 3, 30, 10, 0)  # BST, = 09:00 UTC.
    result = times(start, (timedelta(days=1), timedelta(days=7)))
    assert result == [local(2026, 3, 23, 10, 0), local(2026, 3, 29, 10, 0)]
    assert result[0] == datetime(2026, 3, 23, 10, 0, tzinfo=UTC)  # GMT.
    assert start - result[1] == timedelta(hours=24)
    assert start - result[0] == timedelta(days=7, hours=-1)  # The lost hour.


def test_march_change_hour_offsets_are_elapsed() -> None:
    start = local(2026, 3, 29, 10, 0)  # 09:00 UTC.
    result = times(start, (timedelta(hours=12),), None)
    assert result == [datetime(2026, 3, 28, 21, 0, tzinfo=UTC)]  # 21:00 GMT on Saturday.
    assert times(start, (timedelta(hours=8),), None) == [local(2026, 3, 29, 2, 0)]  # 01:00 UTC.


def test_october_change_day_offsets_keep_wall_clock() -> None:
    start = local(2026, 10, 26, 10, 0)  # GMT.
    result = times(start, (timedelta(days=1), timedelta(days=7)))
    assert result == [local(2026, 10, 19, 10, 0), local(2026, 10, 25, 10, 0)]
    assert start - result[1] == timedelta(hours=24)
    assert start - result[0] == timedelta(days=7, hours=1)  # The repeated hour.


def test_october_change_hour_offsets_are_elapsed() -> None:
    start = local(2026, 10, 25, 10, 0)  # 10:00 UTC.
    assert times(start, (timedelta(hours=12),), None) == [datetime(2026, 10, 24, 22, 0, tzinfo=UTC)]
    # 3 h before 02:00 GMT is 23:00 UTC (00:00 BST on the change night).
    early_start = local(2026, 10, 25, 2, 0)
    assert times(early_start, (timedelta(hours=3),), None) == [
        datetime(2026, 10, 24, 23, tzinfo=UTC)
    ]
    # 9 h before 09:00 GMT is the first 01:00 (BST): quiet, so it moves to 08:00 GMT.
    assert times(local(2026, 10, 25, 9), (timedelta(hours=9),)) == [local(2026, 10, 25, 8)]


def test_day_offset_onto_nonexistent_time_moves_to_first_valid_instant() -> None:
    start = local(2026, 3, 30, 1, 30)
    assert times(start, (timedelta(days=1),), None) == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]
    # With quiet hours the same reminder ends up at 08:00 BST instead.
    assert times(start, (timedelta(days=1),)) == [local(2026, 3, 29, 8, 0)]


def test_day_offset_onto_ambiguous_time_takes_the_earlier_instant() -> None:
    start = local(2026, 10, 26, 1, 30)
    assert times(start, (timedelta(days=1),), None) == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]


def test_resolve_local_gap_and_overlap() -> None:
    assert resolve_local(datetime(2026, 3, 29, 1, 0), LONDON) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    assert resolve_local(datetime(2026, 3, 29, 1, 59, 59), LONDON) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    assert resolve_local(datetime(2026, 3, 29, 2, 0), LONDON) == datetime(
        2026, 3, 29, 1, tzinfo=UTC
    )
    assert resolve_local(datetime(2026, 10, 25, 1, 0), LONDON) == datetime(
        2026, 10, 25, 0, tzinfo=UTC
    )

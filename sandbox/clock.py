"""The sandbox's clock: real time from a chosen start, moved forward on request."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Runs like a wall clock, and `advance` jumps it ahead; the bot and the fake share it."""

    def __init__(
        self,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = start or datetime.now(UTC)
        self._monotonic = monotonic
        self._started = monotonic()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        elapsed = timedelta(seconds=self._monotonic() - self._started)
        return self._start + elapsed + self._offset

    def timestamp(self) -> float:
        """Seconds since the epoch, for the fake Bot API's message dates."""
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self._offset += delta

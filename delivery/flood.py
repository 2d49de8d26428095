"""Flood control: a global rate and a per-chat rate, so Telegram's 429 stays rare.

Each limit is a GCRA bucket (a token bucket kept as one "theoretical arrival time"). A
sender first waits for its chat's slot and only then takes a global slot, so a chat that
must wait does not hold up the global budget for everyone else.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol


class Timer(Protocol):
    """Monotonic time and sleeping; tests scale it to run rate limits faster."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class RealTimer:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledTimer:
    """Time that runs `factor` times faster than the wall clock (for tests and benches)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return self._origin + (time.monotonic() - self._origin) * self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.factor)


@dataclass
class Bucket:
    """`rate` per second with bursts of `burst`."""

    rate: float
    burst: int
    tat: float = 0.0  # theoretical arrival time of the next conforming request

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns when it may be used."""
        interval = 1.0 / self.rate
        tolerance = (self.burst - 1) * interval
        at = max(now, self.tat - tolerance)
        self.tat = max(self.tat, at) + interval
        return at


class FloodControl:
    """Paces sends globally and per chat, and honours Telegram's retry_after."""

    GLOBAL_429_CHATS = 3  # this many chats refused within a second means a global limit

    def __init__(
        self,
        global_rate: float = 25.0,
        per_chat_rate: float = 1.0,
        per_chat_burst: int = 3,
        timer: Timer | None = None,
    ) -> None:
        self.timer = timer or RealTimer()
        self.global_bucket = Bucket(global_rate, max(1, int(global_rate)))
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.chats: dict[int, Bucket] = {}
        self.chat_blocked_until: dict[int, float] = {}
        self.global_blocked_until = 0.0
        self._recent_429: dict[int, float] = {}

    async def acquire(self, chat_id: int) -> None:
        """Wait until a message to `chat_id` may be sent."""
        bucket = self.chats.setdefault(chat_id, Bucket(self.per_chat_rate, self.per_chat_burst))
        while True:
            now = self.timer.monotonic()
            blocked = max(self.chat_blocked_until.get(chat_id, 0.0), self.global_blocked_until)
            if blocked > now:
                await self.timer.sleep(blocked - now)
                continue
            break
        at = bucket.reserve(self.timer.monotonic())
        await self.timer.sleep(at - self.timer.monotonic())
        while True:
            now = self.timer.monotonic()
            if self.global_blocked_until > now:
                await self.timer.sleep(self.global_blocked_until - now)
                continue
            at = self.global_bucket.reserve(now)
            await self.timer.sleep(at - now)
            return

    def retry_after(self, chat_id: int, seconds: float) -> None:
        """Telegram said 429: hold that chat, or everything when many chats were refused."""
        now = self.timer.monotonic()
        until = now + seconds
        self.chat_blocked_until[chat_id] = max(self.chat_blocked_until.get(chat_id, 0.0), until)
        self._recent_429 = {c: t for c, t in self._recent_429.items() if now - t < 1.0}
        self._recent_429[chat_id] = now
        if len(self._recent_429) >= self.GLOBAL_429_CHATS:
            self.global_blocked_until = max(self.global_blocked_until, until)

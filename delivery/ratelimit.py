"""Per-user limit on incoming updates, decided before any database work.

A user past the limit costs a dictionary lookup: the update is acknowledged to Telegram
but neither stored nor handled, and the user hears "slow down" at most once a minute.
GCRA (a token bucket without a timer): `rate` updates per minute on average, `burst`
at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

WARN_EVERY = 60.0  # seconds between two "slow down" answers to one user
FORGET_AFTER = 600.0  # seconds of quiet after which a user's entry is dropped


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # dropped, and this is the moment to tell the user
    DROP = "drop"


@dataclass
class _Bucket:
    tat: float  # theoretical arrival time of the next allowed update
    warned_at: float = float("-inf")


class IncomingRateLimit:
    """`check(user_id, now)` for each update; `now` in seconds from any steady origin."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = (burst - 1) * self.interval
        self._buckets: dict[int, _Bucket] = {}
        self._last_sweep = float("-inf")

    def check(self, user_id: int, now: float) -> Verdict:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(tat=now)
        tat = max(bucket.tat, now)
        if tat - now <= self.tolerance:
            bucket.tat = tat + self.interval
            self._sweep(now)
            return Verdict.ALLOW
        if now - bucket.warned_at >= WARN_EVERY:
            bucket.warned_at = now
            return Verdict.WARN
        return Verdict.DROP

    def _sweep(self, now: float) -> None:
        # Memory stays bounded by recent users, not by everyone who ever wrote.
        if now - self._last_sweep < FORGET_AFTER:
            return
        self._last_sweep = now
        stale = [
            uid
            for uid, b in self._buckets.items()
            if b.tat < now - FORGET_AFTER and b.warned_at < now - FORGET_AFTER
        ]
        for uid in stale:
            del self._buckets[uid]


def sender_of(update: dict[str, Any]) -> tuple[int, int | None] | None:
    """(user id, private chat id or None) of a raw update, without parsing it into objects."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        user = value.get("from")
        if not isinstance(user, dict) or not isinstance(user.get("id"), int):
            return None
        message = value.get("message") if key == "callback_query" else value
        chat = message.get("chat") if isinstance(message, dict) else None
        private = isinstance(chat, dict) and chat.get("type") == "private"
        return user["id"], (chat["id"] if private else None)  # type: ignore[index]
    return None

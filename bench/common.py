"""Settings of a bot under benchmark: the fake's URLs, a throw-away database and keys."""

from __future__ import annotations

import base64
from typing import Any

from bot.config import Settings, load_settings
from sandbox.botapi import FakeBotAPI
from storage.crypto import Keyring


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def bench_settings(
    fake: FakeBotAPI, url: str, keys: Keyring, *, unthrottled: bool, **overrides: Any
) -> Settings:
    """`unthrottled`: no outbound pacing and no incoming limit (closed-loop users are a
    burst by design); otherwise the production defaults. Health on any free port."""
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_URL": url,
        "ENCRYPTION_KEYS": b64(keys.keys[0]),
        "INDEX_KEY": b64(keys.index_key),
        "HEALTH_PORT": 0,
    }
    if unthrottled:
        values.update(
            SEND_GLOBAL_RATE=100_000,
            SEND_PER_CHAT_RATE=100_000,
            SEND_PER_CHAT_BURST=1000,
            INCOMING_RATE_PER_MINUTE=1_000_000,
            INCOMING_BURST=1_000_000,
        )
    return load_settings(**{**values, **overrides})

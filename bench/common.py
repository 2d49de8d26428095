"""Settings of a bot under benchmark: the fake's URLs, a throw-away database and keys."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import insert

from bot.app import BotRuntime
from bot.config import Settings, load_settings
from sandbox.botapi import FakeBotAPI, FakeUser
from storage.crypto import Keyring
from storage.uow import Database

FIRST_USER = 100_000  # Telegram user id of the first simulated user


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


@asynccontextmanager
async def running_bot(
    url: str, keys: Keyring, users: int
) -> AsyncIterator[tuple[FakeBotAPI, BotRuntime, list[FakeUser]]]:
    """This bot, unthrottled, on the database at `url`, with `users` simulated users
    (Telegram ids from FIRST_USER); stopped on leaving."""
    async with FakeBotAPI() as fake:
        runtime = BotRuntime(bench_settings(fake, url, keys, unthrottled=True), poll_timeout=1)
        await runtime.start()
        try:
            yield fake, runtime, [fake.user(FIRST_USER + i) for i in range(users)]
        finally:
            await runtime.stop()


async def insert_rows(db: Database, model: type, rows: list[dict], chunk: int = 10_000) -> None:
    """Bulk insert with SQLAlchemy core, `chunk` rows per transaction."""
    for start in range(0, len(rows), chunk):
        async with db.engine.begin() as conn:
            await conn.execute(insert(model), rows[start : start + chunk])

"""What tests of `referral-bot` as a real process share: the installed script, fresh
keys, a throw-away PostgreSQL database, and starting the script."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.crypto import Keyring
from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FakeBotAPI

SCRIPT = Path(sys.executable).with_name("referral-bot")


def fresh_key() -> str:
    """A made-up 32-byte key, as ENCRYPTION_KEYS and INDEX_KEY take it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def bot_env(fake: FakeBotAPI, database_url: str, keyring: Keyring | None = None) -> dict[str, str]:
    """The environment of `referral-bot run` against `fake` on `database_url`: the
    keyring's keys (fresh ones without it), and no per-chat pacing to wait out."""
    encryption_key, index_key = (
        (
            base64.urlsafe_b64encode(keyring.keys[0]).decode(),
            base64.urlsafe_b64encode(keyring.index_key).decode(),
        )
        if keyring is not None
        else (fresh_key(), fresh_key())
    )
    return {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "ENCRYPTION_KEYS": encryption_key,
        "INDEX_KEY": index_key,
        "DATABASE_URL": database_url,
        "SEND_PER_CHAT_RATE": "100",
        "SEND_PER_CHAT_BURST": "100",
    }


@asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[str]:
    """The URL of a new PostgreSQL database, dropped afterwards (a separate process cannot
    be pointed at a test schema)."""
    assert TEST_DATABASE_URL
    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = create_async_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


async def start(
    env: dict[str, str], cwd: Path, *args: str, log: Path | None = None
) -> asyncio.subprocess.Process:
    """`referral-bot <args>` (default `run`): output to pipes, or its log to `log` (for a
    process that runs while the test reads what it wrote so far)."""
    if log is None:
        out, err = asyncio.subprocess.PIPE, asyncio.subprocess.PIPE
    else:
        out, err = asyncio.subprocess.DEVNULL, open(log, "wb")  # noqa: SIM115 - the child owns it
    return await asyncio.create_subprocess_exec(
        str(SCRIPT), *(args or ("run",)), cwd=cwd, env=env, stdout=out, stderr=err
    )

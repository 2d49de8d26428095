"""`referral-bot run` as a real process against the HTTP fake: starts, answers, stops on
SIGTERM; a second process on the same host and health port says so in one line; and a
failing setMyCommands does not stop the bot."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FakeBotAPI
from tests.journeys.conftest import Harness
from tests.processes import fresh_key, start, throwaway_database


async def test_run_answers_and_stops_cleanly_on_sigterm(fake: FakeBotAPI, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.db",
        "HEALTH_PORT": "0",
    }
    process = await start(env, tmp_path)
    try:
        user = fake.user(6_000_001)
        user.send_text("/start")
        await fake.wait_for(lambda: user.messages(), timeout=30, what="a reply to /start")
        assert "referring clinicians" in user.last().plain

        # A second process on the same SQLite file refuses, before touching anything.
        second = await start(env, tmp_path)
        _out, refusal = await asyncio.wait_for(second.communicate(), timeout=30)
        assert second.returncode == 1
        assert "another referral-bot process" in refusal.decode()
        assert "use PostgreSQL to run several" in refusal.decode()
        assert "Traceback" not in refusal.decode()
        assert not fake.calls_to("getUpdates") or all(
            c.status != 409 for c in fake.calls_to("getUpdates")
        )
        # The first is unharmed and still answers.
        user.send_text("/help")
        await fake.wait_for(lambda: len(user.messages()) == 2, timeout=30, what="/help")
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, err.decode()[-2000:]
    log = err.decode()
    assert "bot stopped" in log
    assert "Traceback" not in log, log[-6000:]
    assert fake.token not in log  # httpx would log URLs with the token at INFO


async def test_failing_set_my_commands_is_not_fatal(harness: Harness) -> None:
    harness.fake.fail_next("setMyCommands", 500, "Internal Server Error")
    await harness.start()
    user = harness.fake.user(6_000_002)
    await harness.handled(user.send_text("/help"))
    assert "/privacy" in user.last().plain


@pytest.fixture
async def pg_database() -> AsyncIterator[str]:
    """A throw-away PostgreSQL database for real processes."""
    async with throwaway_database("t_proc") as url:
        yield url


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set")
async def test_standby_on_the_same_host_and_health_port_says_so_in_one_line(
    fake: FakeBotAPI, pg_database: str, tmp_path: Path
) -> None:
    """Issue 16: trying the standby on one machine with the default HEALTH_PORT."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": pg_database,
        "HEALTH_PORT": str(port),
    }
    log = tmp_path / "first.log"
    first = await start(env, tmp_path, log=log)
    try:
        user = fake.user(6_000_003)
        user.send_text("/start")
        await fake.wait_for(lambda: user.messages(), timeout=30, what="a reply to /start")
        second = await start(env, tmp_path)
        _out, refusal = await asyncio.wait_for(second.communicate(), timeout=60)
        assert second.returncode == 1
        assert refusal.decode().splitlines() == [
            f"not started: HEALTH_PORT: 127.0.0.1:{port} is already in use (another "
            "referral-bot on this host?); stop what listens there, or give each process its "
            "own HEALTH_PORT"
        ]
        user.send_text("/help")  # the first is unharmed
        await fake.wait_for(lambda: len(user.messages()) == 2, timeout=30, what="/help")
    finally:
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), timeout=30)
    assert first.returncode == 0, log.read_text()[-2000:]

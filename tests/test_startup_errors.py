"""`referral-bot run` when an operator got something wrong: one line on stderr naming the
setting and what to do, exit 2 (a setting) or 1 (the environment), never a traceback, and
nothing left running (ports closed, the database lock released)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from bot.app import BotRuntime
from bot.config import StartupError, load_settings
from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FakeBotAPI
from tests.processes import fresh_key, start

LOG_RECORD = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} [A-Z]+ ")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


@pytest.fixture
def env(fake: FakeBotAPI, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "HEALTH_PORT": "0",
    }


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def _closed_port() -> int:
    """A port nothing listens on (bound for a moment, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _run(env: dict[str, str], cwd: Path) -> tuple[int, list[str]]:
    """Exit status and stderr lines of `referral-bot run`, which must not keep running."""
    process = await start(env, cwd)
    try:
        _out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("referral-bot run kept running") from None
    assert process.returncode is not None
    return process.returncode, err.decode().splitlines()


def _the_line(lines: list[str], *, alone: bool = True) -> str:
    """The error line: no traceback, and the only line (`alone`) or the only one that
    is not a log record (a failure after the bot had started logging)."""
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    said = [line for line in lines if not LOG_RECORD.match(line)]
    assert len(said) == 1, "\n".join(lines)
    if alone:
        assert lines == said, "\n".join(lines)
    return said[0]


async def test_health_port_in_use(env: dict[str, str], tmp_path: Path, busy_port: int) -> None:
    code, lines = await _run({**env, "HEALTH_PORT": str(busy_port)}, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line.startswith(f"not started: HEALTH_PORT: 127.0.0.1:{busy_port} is already in use")
    assert "give each process its own HEALTH_PORT" in line


async def test_health_listen_not_an_address_of_this_host(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, lines = await _run({**env, "HEALTH_LISTEN": "192.0.2.1"}, tmp_path)  # TEST-NET-1
    line = _the_line(lines)
    assert code == 2
    assert line.startswith("configuration error: HEALTH_LISTEN: 192.0.2.1 is not an address")


async def test_webhook_port_in_use(
    env: dict[str, str], tmp_path: Path, busy_port: int, fake: FakeBotAPI
) -> None:
    webhook = {
        "WEBHOOK_URL": f"http://127.0.0.1:{busy_port}/telegram-hook",
        "WEBHOOK_SECRET": "s3cret-token_1",
        "PORT": str(busy_port),
    }
    code, lines = await _run({**env, **webhook}, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line.startswith(f"not started: PORT: 127.0.0.1:{busy_port} is already in use")
    assert not fake.calls  # refused before a word to Telegram
    assert not (tmp_path / "bot.db").exists()  # ...or to the database


async def test_webhook_url_refused_by_telegram(
    env: dict[str, str], tmp_path: Path, fake: FakeBotAPI
) -> None:
    port = _closed_port()
    webhook = {
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram-hook",
        "WEBHOOK_SECRET": "s3cret-token_1",
        "PORT": str(port),
    }
    fake.fail_next("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided")
    code, lines = await _run({**env, **webhook}, tmp_path)
    line = _the_line(lines, alone=False)  # the bot had started when Telegram said no
    assert code == 2
    assert line.startswith("configuration error: WEBHOOK_URL: Telegram refused")
    assert "https url must be provided" in line.lower()


async def test_postgresql_refusing_connections(env: dict[str, str], tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql+asyncpg://bot:secret-password@127.0.0.1:{port}/referral"
    code, lines = await _run({**env, "DATABASE_URL": url}, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line == (
        f"not started: DATABASE_URL: nothing accepts connections at 127.0.0.1:{port} "
        "(connection refused); start PostgreSQL, or correct the host and port"
    )
    assert "secret-password" not in line


@pytest.mark.postgres
@pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set")
async def test_postgresql_database_that_does_not_exist(env: dict[str, str], tmp_path: Path) -> None:
    assert TEST_DATABASE_URL
    name = f"nonexistent_{secrets.token_hex(4)}"
    url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(False)
    code, lines = await _run({**env, "DATABASE_URL": url}, tmp_path)
    line = _the_line(lines)
    assert code == 2
    assert line.startswith(f"configuration error: DATABASE_URL: there is no database '{name}'")
    assert "createdb" in line


async def test_malformed_database_url(env: dict[str, str], tmp_path: Path) -> None:
    url = "postgresql+asyncpg://bot@127.0.0.1:54x2/referral"
    code, lines = await _run({**env, "DATABASE_URL": url}, tmp_path)
    line = _the_line(lines)
    assert code == 2
    assert line.startswith("configuration error: DATABASE_URL: is not a database URL like")


async def test_sqlite_lock_held_by_another_process(env: dict[str, str], tmp_path: Path) -> None:
    with open(tmp_path / "bot.db.lock", "a+") as held:  # what a running bot holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        code, lines = await _run(env, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line.startswith("not started: another referral-bot process (pid 4242)")
    assert "use PostgreSQL to run several" in line


async def test_sqlite_directory_that_cannot_be_made(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the directory should be")
    url = f"sqlite+aiosqlite:///{tmp_path}/data/bot.db"
    code, lines = await _run({**env, "DATABASE_URL": url}, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line == (
        f"not started: DATABASE_URL: cannot keep the SQLite database at {tmp_path}/data/bot.db "
        "(part of that path is a file, not a directory); create its directory, writable by "
        "the bot's user, or point DATABASE_URL elsewhere"
    )


async def test_sqlite_file_that_is_not_a_database(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bot.db").write_bytes(b"not a database, but a file of the same name" * 100)
    code, lines = await _run(env, tmp_path)
    line = _the_line(lines)
    assert code == 2
    assert line.startswith(f"configuration error: DATABASE_URL: {tmp_path}/bot.db is not a SQLite")


async def test_token_rejected_by_telegram(
    env: dict[str, str], tmp_path: Path, fake: FakeBotAPI
) -> None:
    wrong = "999999:REVOKED-TOKEN"
    code, lines = await _run({**env, "TELEGRAM_BOT_TOKEN": wrong}, tmp_path)
    fake.spec_errors.clear()  # the fake notes the wrong token; that is this test's point
    line = _the_line(lines)
    assert code == 2
    assert line.startswith("configuration error: TELEGRAM_BOT_TOKEN: the Bot API at")
    assert "@BotFather" in line
    assert wrong not in "\n".join(lines)  # python-telegram-bot's message quotes it


async def test_telegram_unreachable(env: dict[str, str], tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{_closed_port()}/bot"
    code, lines = await _run({**env, "TELEGRAM_API_BASE_URL": base}, tmp_path)
    line = _the_line(lines)
    assert code == 1
    assert line.startswith(f"not started: TELEGRAM_API_BASE_URL: cannot reach {base}")


async def test_a_failed_start_leaves_nothing_running(
    fake: FakeBotAPI, tmp_path: Path, busy_port: int
) -> None:
    """In one process: the health port taken before the clash is closed again and the
    database lock released, so a corrected start succeeds at once."""
    health_port = _closed_port()
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        ENCRYPTION_KEYS=fresh_key(),
        INDEX_KEY=fresh_key(),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        HEALTH_PORT=health_port,
        WEBHOOK_URL=f"http://127.0.0.1:{busy_port}/telegram-hook",
        WEBHOOK_SECRET="s3cret-token_1",
        PORT=busy_port,
    )
    failed = BotRuntime(settings)
    with pytest.raises(StartupError, match=r"PORT: .* is already in use"):
        await failed.start()
    assert not fake.calls
    with socket.socket() as probe:  # the health port is free again
        probe.bind(("127.0.0.1", health_port))
    corrected = BotRuntime(settings.model_copy(update={"PORT": _closed_port()}))
    await corrected.start()  # the SQLite lock was released
    try:
        assert corrected.leadership.is_holder
    finally:
        await corrected.stop()

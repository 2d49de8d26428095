"""Shared fixtures: keys, a migrated database on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import FakeClock
from storage.crypto import Keyring
from storage.database import sqlite_driver_setting
from storage.uow import Database

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set"),
        ],
    ),
]


@pytest.fixture
def keyring() -> Keyring:
    return Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: object) -> AsyncIterator[dict]:
    """A fresh, empty database: a SQLite file, or a throw-away PostgreSQL schema."""
    if request.param == "sqlite":
        yield {"url": f"sqlite+aiosqlite:///{tmp_path}/test.db", "engine_kwargs": {}}
        return
    assert TEST_DATABASE_URL
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_async_engine(TEST_DATABASE_URL)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield {
            "url": TEST_DATABASE_URL,
            "engine_kwargs": {"connect_args": {"server_settings": {"search_path": schema}}},
            "schema": schema,
        }
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


@pytest.fixture
async def db(database_url: dict, keyring: Keyring) -> AsyncIterator[Database]:
    """A migrated database with the test keyring installed."""
    database = Database(database_url["url"], keyring, **database_url["engine_kwargs"])
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


# --- CI guard: with REQUIRE_POSTGRES=1 a skipped PostgreSQL test fails the run. ---
_postgres_outcomes: dict[str, int] = {"passed": 0, "skipped": 0, "failed": 0}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgres" in report.keywords and (report.when == "call" or report.skipped):
        _postgres_outcomes[report.outcome] = _postgres_outcomes.get(report.outcome, 0) + 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("REQUIRE_POSTGRES") != "1":
        return
    if _postgres_outcomes["skipped"] or not _postgres_outcomes["passed"]:
        print(
            f"\nREQUIRE_POSTGRES=1 but PostgreSQL tests did not all run: {_postgres_outcomes}",
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header() -> str:
    # CI runs the SQLite tests twice, the second time with SQLITE_DRIVER=stock.
    return f"SQLite driver: {sqlite_driver_setting()}"


def pytest_terminal_summary(terminalreporter: object) -> None:
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        print(f"PostgreSQL tests: {_postgres_outcomes}")

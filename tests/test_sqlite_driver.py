"""The SQLite driver: one hop per statement, BEGIN carried by the first statement, and
the usual DB-API results (rows, rowcount, lastrowid, RETURNING, errors, rollback) from
it and from the stock aiosqlite adapter that SQLITE_DRIVER=stock selects instead."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import sqlite_driver
from storage.crypto import Keyring
from storage.database import create_engine, sqlite_driver_setting
from storage.uow import Database


async def driver_class(engine: AsyncEngine) -> type:
    """The class of the connection the engine's driver hands SQLAlchemy's adapter."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        return type(raw.driver_connection)


@pytest.fixture(params=["fast", "stock"])
def driver(request: pytest.FixtureRequest) -> str:
    """Ours, and SQLAlchemy's own adapter: the same DB-API results from both."""
    return str(request.param)


@pytest.fixture
async def engine(driver: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", sqlite_driver_name=driver
    )
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call made on a connection's thread, by name."""
    made: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return made


@pytest.mark.parametrize("driver", ["fast"])
async def test_a_transaction_costs_one_hop_per_statement_and_one_to_commit(
    engine: AsyncEngine, hops: list[str]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
    assert rows == [(1, "a"), (2, "b")]
    assert hops == ["_run", "_run", "commit"]  # BEGIN IMMEDIATE went with the INSERT

    hops.clear()
    async with engine.begin():
        pass
    assert hops == []  # nothing ran: nothing to begin, commit or roll back


async def test_savepoints_cost_no_hop_and_roll_back_only_their_own_work(
    engine: AsyncEngine, hops: list[str], driver: str
) -> None:
    """A grouped commit opens and releases a savepoint per update: the driver sends them
    with the next statement; a savepoint in which nothing ran is not sent at all."""
    async with engine.begin() as conn:
        async with conn.begin_nested():
            await conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        async with conn.begin_nested():
            pass
        failed = await conn.begin_nested()
        await conn.execute(text("INSERT INTO t (v) VALUES ('undone')"))
        await failed.rollback()
        async with conn.begin_nested():
            await conn.execute(text("INSERT INTO t (v) VALUES ('also kept')"))
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["kept", "also kept"]
    if driver == "fast":  # BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO rode with the INSERTs
        assert hops[:4] == ["_run", "_run", "_run", "_commit"], hops


async def test_results_rowcount_lastrowid_returning_and_executemany(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert (inserted.rowcount, inserted.lastrowid) == (1, 1)
        many = await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "y"}, {"v": "z"}])
        assert many.rowcount == 2
        back = await conn.execute(text("INSERT INTO t (v) VALUES ('w') RETURNING id, v"))
        assert back.all() == [(4, "w")]
        changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
        assert changed.rowcount == 2
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 4


async def test_a_failed_statement_rolls_back_the_whole_transaction(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('dup')"))
            await conn.execute(text("INSERT INTO t (v) VALUES ('dup')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_a_lock_held_by_another_process_is_an_error_not_a_hang(
    engine: AsyncEngine, driver: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CLI command holding the write lock: BEGIN IMMEDIATE (sent with the first
    # statement) waits out the busy timeout on the driver's thread, then fails cleanly.
    monkeypatch.setattr("storage.database.BUSY_TIMEOUT_MS", 200)
    impatient = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", sqlite_driver_name=driver
    )
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            async with impatient.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('blocked')"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with impatient.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('after')"))
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["after"]
    await impatient.dispose()


async def test_sqlite_driver_setting_picks_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'setting.db'}"
    for setting, expected in (("", sqlite_driver.Connection), ("fast", sqlite_driver.Connection)):
        monkeypatch.setenv("SQLITE_DRIVER", setting)
        engine = create_engine(url)
        assert await driver_class(engine) is expected
        await engine.dispose()
    monkeypatch.setenv("SQLITE_DRIVER", "stock")
    engine = create_engine(url)
    assert await driver_class(engine) is aiosqlite.Connection  # SQLAlchemy's own adapter
    await engine.dispose()
    monkeypatch.setenv("SQLITE_DRIVER", "fastest")
    with pytest.raises(ValueError, match="SQLITE_DRIVER must be one of fast, stock"):
        create_engine(url)


async def test_the_suite_runs_on_the_driver_the_setting_names(
    tmp_path: Path, keyring: Keyring
) -> None:
    # CI runs the SQLite tests a second time with SQLITE_DRIVER=stock: this proves that
    # run really is on the stock path and not on ours again. Built as conftest's `db` is.
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/test.db", keyring)
    expected = {"fast": sqlite_driver.Connection, "stock": aiosqlite.Connection}
    assert await driver_class(db.engine) is expected[sqlite_driver_setting()]
    await db.dispose()

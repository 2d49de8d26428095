"""Engine creation and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage import sqlite_driver

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_TIMEOUT_MS = 15_000
# SQLITE_DRIVER=stock runs SQLAlchemy's own aiosqlite adapter instead of `sqlite_driver`,
# which reaches into aiosqlite's internals (hence the pinned minor version). CI runs the
# SQLite tests once more on the stock path, so an upgrade that breaks either shows there.
SQLITE_DRIVERS = ("fast", "stock")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would BEGIN lazily (DEFERRED); switch it off so
    # `_begin_immediate` decides, and concurrent writers queue on the busy timeout instead
    # of failing with "database is locked" when a read lock is upgraded.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_driver_setting(value: str | None = None) -> str:
    """`fast` (storage.sqlite_driver, the default) or `stock`, from SQLITE_DRIVER."""
    chosen = (value if value is not None else os.environ.get("SQLITE_DRIVER", "")) or "fast"
    if chosen not in SQLITE_DRIVERS:
        raise ValueError(
            f"SQLITE_DRIVER must be one of {', '.join(SQLITE_DRIVERS)}, not {chosen!r}"
        )
    return chosen


def create_engine(url: str, *, sqlite_driver_name: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine with the backend's safety settings applied.

    On SQLite, `sqlite_driver_name` (default: the SQLITE_DRIVER setting) picks the driver.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # The dialect's own reading of the URL, handed to whichever driver connects.
        args, options = parsed.get_dialect()().create_connect_args(parsed)
        options["timeout"] = BUSY_TIMEOUT_MS / 1000
        if sqlite_driver_setting(sqlite_driver_name) == "fast":
            kwargs["async_creator"] = partial(sqlite_driver.connect, *args, **options)
        else:
            kwargs["connect_args"] = {**options, **kwargs.get("connect_args", {})}
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on this engine's database."""

    def upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # Two processes starting together must not both run the same migration.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('referral-bot migrations'))")
            )
        await conn.run_sync(upgrade)

"""aiosqlite with one thread hop per statement instead of four.

aiosqlite runs each sqlite3 call on its connection's own thread, and SQLAlchemy's
adapter makes four such calls for a SELECT (open a cursor, execute, fetch, close) and
three for a write. Each hop is a future, a wake-up of the event loop through its
self-pipe and two hand-overs of the GIL, which measured more than the statements
themselves. Here a statement runs, is fetched and its cursor closed in one call on that
thread; the event loop never runs SQLite, so a slow statement or a lock held by another
process (a CLI command) still cannot stall the bot.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager

_Description = tuple[tuple[str, None, None, None, None, None, None], ...] | None
_Outcome = tuple[_Description, list[Any], int, int | None]


def _run(
    connection: sqlite3.Connection, held: list[str], sql: str, parameters: Any, many: bool
) -> _Outcome:
    """On the connection's thread: the held-back statements, execute, fetch everything,
    close the cursor."""
    for statement in held:
        connection.execute(statement)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class BufferedCursor:
    """A cursor whose rows were fetched on the connection's thread with the statement.

    It holds no sqlite3 cursor, only the outcome. Results are buffered whole, which
    suits this application (its large reads are aggregates); it does not stream.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._rows: deque[Any] = deque()
        self._description: _Description = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self.arraysize = 1

    def _keep(self, outcome: _Outcome) -> BufferedCursor:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> BufferedCursor:
        if not parameters and sql.startswith(_HELD_BACK):
            # Sent with the next statement, in its hop.
            self._conn.hold(sql)
            return self._keep((None, [], -1, None))
        held = self._conn.take_held()
        outcome = await self._conn._execute(
            _run, self._conn._conn, held, sql, parameters or (), False
        )
        return self._keep(outcome)

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> BufferedCursor:
        held = self._conn.take_held()
        outcome = await self._conn._execute(_run, self._conn._conn, held, sql, parameters, True)
        return self._keep(outcome)

    async def executescript(self, sql_script: str) -> BufferedCursor:
        for statement in self._conn.take_held():
            await self._conn._execute(self._conn._conn.execute, statement)
        await self._conn._execute(self._conn._conn.executescript, sql_script)
        return self._keep((None, [], -1, None))

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()

    async def __aenter__(self) -> BufferedCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    @property
    def description(self) -> _Description:
        return self._description


# Statements that change no rows and return nothing: held back until the next one.
_HELD_BACK = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def _commit(connection: sqlite3.Connection, held: list[str]) -> None:
    for statement in held:
        connection.execute(statement)
    connection.commit()


class Connection(aiosqlite.Connection):
    """aiosqlite's connection, handing out `BufferedCursor`s.

    BEGIN, SAVEPOINT and their ends are held back and sent with the next statement,
    saving a hop each (a grouped commit opens and releases a savepoint per update); a
    transaction or savepoint that ran nothing costs no hop at all. (BEGIN IMMEDIATE then
    takes the write lock at that statement instead, before any work was done, so
    nothing changes for SQLite's locking.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held: list[str] = []

    def hold(self, sql: str) -> None:
        held = self.held
        name = sql.rsplit(" ", 1)[-1]
        if (
            held
            and held[-1] == f"SAVEPOINT {name}"
            and sql.startswith(("RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
        ):
            held.pop()  # a savepoint in which nothing ran
            return
        held.append(sql)

    def take_held(self) -> list[str]:
        held, self.held = self.held, []
        return held

    async def commit(self) -> None:
        held = self.take_held()
        if held and held[0].startswith("BEGIN"):
            return  # the transaction ran nothing: nothing to commit
        if held:
            await self._execute(_commit, self._conn, held)
            return
        await super().commit()

    # Not an aiosqlite Cursor, but everything SQLAlchemy's adapter uses of one.
    @contextmanager
    async def cursor(self) -> BufferedCursor:  # type: ignore[override]
        return BufferedCursor(self)

    async def rollback(self) -> None:
        held = self.take_held()
        if held and held[0].startswith("BEGIN"):
            return
        # The pool "resets" every connection it gets back with a rollback, almost always
        # after a commit: nothing to undo, so no hop. in_transaction is a plain read of
        # SQLite's autocommit flag, and nothing else uses this connection meanwhile.
        if self._connection is not None and not self._connection.in_transaction:
            return
        await super().rollback()


async def connect(database: str, **kwargs: Any) -> Connection:
    """Open `database` (the arguments of `sqlite3.connect`) on its own thread."""
    connection = Connection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size=64)
    await connection  # starts its thread and connects there
    return connection

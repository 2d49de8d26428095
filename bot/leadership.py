"""Which process takes updates from Telegram.

Telegram allows one poller per bot (a second gets 409 Conflict) and conversations must be
handled one update at a time, so exactly one process polls and handles updates: on
PostgreSQL, the holder of a session-level advisory lock kept on its own connection; on
SQLite, the only process allowed to open the file. Everything else (outbox, reminders,
escalations) is claimed row by row and may run in every process; an outbox claim names
its process's `OwnerLock`, so a dead process's claims are free at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.engine import make_url

from storage.repositories import OWNER_LOCK_CLASS

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]

# First half of the two-key advisory lock; the second is the schema's hash, so test
# schemas (and several deployments in one database) do not contend for one lock.
LOCK_CLASS = 0x52454642  # "REFB"


class AlreadyRunning(Exception):
    """Another process already uses this SQLite database."""


async def _every(seconds: float, check: Callback, what: str) -> None:
    """Run `check` every `seconds` until cancelled; a failure is logged, and never ends
    the loop."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await check()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s failed: %s", what, type(exc).__name__)


async def _heartbeat(conn: Any, seconds: float) -> None:
    """Return if the lock's connection answers within `seconds`; raise otherwise."""
    async with asyncio.timeout(seconds):
        await conn.fetchval("SELECT 1")


async def _close_connection(conn: Any) -> None:
    """Close a lock's connection, which frees its locks: politely for 2 s, then by force."""
    if conn is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await conn.close()
    with contextlib.suppress(Exception):
        conn.terminate()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel `task` and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class OwnerLock:
    """PostgreSQL: this process's owner id, valid exactly while the process is alive.

    Every process (holder and standby: all send) holds a session-level advisory lock
    keyed by a random owner id on a connection of its own, and names that id on each
    outbox row it claims. A killed or stopped process's connection closes and the server
    frees the lock at once, so its claims are free at once (not after a lease). A process
    that loses the connection stops being an owner the moment it notices (asyncpg reports
    a closed connection at once; a silent network loss shows at the next check, well
    before the server's keepalives free the lock) and must stop sending what it claimed:
    others may take it from then on. It reconnects under a new id.
    """

    def __init__(self, connect: Callable[[], Awaitable[Any]], check_seconds: float = 1.0) -> None:
        self._connect = connect
        self.check_seconds = check_seconds
        self._owner: int | None = None
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def owner(self) -> int | None:
        """The id to claim under; None while the lock is not held (claim and send nothing)."""
        if self._conn is None or self._conn.is_closed():
            return None
        return self._owner

    async def start(self) -> None:
        await self._check()  # usually held before the first claim
        self._task = asyncio.create_task(
            _every(self.check_seconds, self._check, "owner lock check"), name="owner-lock"
        )

    async def _check(self) -> None:
        if self.owner is not None:
            try:
                await _heartbeat(self._conn, self.check_seconds)
                return
            except Exception as exc:
                log.warning("owner lock connection lost: %s", type(exc).__name__)
                await self._close()
        try:
            async with asyncio.timeout(max(self.check_seconds, 5.0)):
                conn = await self._connect()
                owner = await self._lock(conn)
        except Exception as exc:
            log.warning("cannot take the owner lock: %s", type(exc).__name__)
            return
        conn.add_termination_listener(self._terminated)
        self._conn, self._owner = conn, owner
        log.info("outbox owner id %s", owner)

    @staticmethod
    async def _lock(conn: Any) -> int:
        while True:  # ids are random: another process holding the same one is unlikely
            owner = secrets.randbelow(2**31 - 1) + 1
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", OWNER_LOCK_CLASS, owner):
                return owner

    def _terminated(self, conn: Any) -> None:
        if conn is self._conn:
            log.warning("owner lock connection closed")
            self._forget()

    def _forget(self) -> None:
        self._conn, self._owner = None, None

    async def _close(self) -> None:
        conn = self._conn
        self._forget()
        await _close_connection(conn)

    async def stop(self) -> None:
        await _cancel(self._task)
        self._task = None
        await self._close()


class Leadership:
    """Runs `on_gain` when this process becomes the holder and `on_loss` when it stops being one."""

    def __init__(self) -> None:
        self.on_gain: Callback | None = None
        self.on_loss: Callback | None = None
        self.is_holder = False
        # The outbox's proof of life, where several processes may send (PostgreSQL).
        self.liveness: OwnerLock | None = None

    @property
    def role(self) -> str:
        return "holder" if self.is_holder else "standby"

    def prepare(self) -> None:
        """Called before the database is touched; refuse to start here if need be."""

    async def start(self, on_gain: Callback, on_loss: Callback) -> None:
        raise NotImplementedError

    async def conflict(self) -> None:
        """Telegram said someone else polls (409): stop taking updates; never crash-loop."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def _gain(self) -> None:
        self.is_holder = True
        log.info("this process now takes updates from Telegram")
        if self.on_gain is not None:
            await self.on_gain()

    async def _lose(self, why: str) -> None:
        if not self.is_holder:
            return
        self.is_holder = False
        log.warning("this process stopped taking updates: %s", why)
        if self.on_loss is not None:
            await self.on_loss()


class SoleProcess(Leadership):
    """SQLite: one process per database file, enforced by an exclusive lock on a side file.

    SQLite itself would let a second process in and the two would poll Telegram against
    each other; refusing at start is the only safe answer.
    """

    def __init__(self, database_url: str, conflict_pause: float = 30.0) -> None:
        super().__init__()
        database = make_url(database_url).database
        self.path = Path(database + ".lock") if database and database != ":memory:" else None
        self._file: TextIO | None = None
        self.conflict_pause = conflict_pause
        self._resume: asyncio.Task[None] | None = None

    def prepare(self) -> None:
        """Take the file lock or raise AlreadyRunning, before anything touches the file."""
        if self.path is None or self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another referral-bot process (pid {owner}) is already running on "
                f"{self.path.with_suffix('')}; SQLite allows one process - stop it, or use "
                "PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    async def start(self, on_gain: Callback, on_loss: Callback) -> None:
        self.on_gain, self.on_loss = on_gain, on_loss
        self.prepare()
        await self._gain()

    async def conflict(self) -> None:
        # Nobody to hand over to: pause, then try again (a stray poller elsewhere).
        if self._resume is not None and not self._resume.done():
            return
        await self._lose("Telegram reports another poller (409 Conflict)")
        self._resume = asyncio.create_task(self._resume_later())

    async def _resume_later(self) -> None:
        await asyncio.sleep(self.conflict_pause)
        await self._gain()

    async def stop(self) -> None:
        await _cancel(self._resume)
        self.is_holder = False
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLock(Leadership):
    """PostgreSQL: the holder of a session-level advisory lock on a dedicated connection.

    The lock lives as long as that connection: a killed holder's connection closes and the
    server frees the lock at once; a holder cut off from the database finds out at its
    next heartbeat and stops polling, and the server frees the lock when TCP keepalives
    give up on it. Standbys try the lock every `check_seconds`.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        *,
        check_seconds: float = 5.0,
        conflict_pause: float = 60.0,
    ) -> None:
        super().__init__()
        self._connect = connect
        self.liveness = OwnerLock(connect)
        self.check_seconds = check_seconds
        self.conflict_pause = conflict_pause
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._paused_until = 0.0
        self._conflicts = 0

    async def start(self, on_gain: Callback, on_loss: Callback) -> None:
        self.on_gain, self.on_loss = on_gain, on_loss
        await self._try_once()  # a lone process starts taking updates without delay
        self._task = asyncio.create_task(
            _every(self.check_seconds, self._try_once, "leadership check"), name="leadership"
        )

    async def _try_once(self) -> None:
        loop = asyncio.get_running_loop()
        if self.is_holder:
            try:
                await _heartbeat(self._conn, self.check_seconds)
            except Exception as exc:
                await self._close()
                await self._lose(f"lock connection lost ({type(exc).__name__})")
            return
        if loop.time() < self._paused_until:
            return
        try:
            if self._conn is None:
                async with asyncio.timeout(self.check_seconds):
                    self._conn = await self._connect()
            async with asyncio.timeout(self.check_seconds):
                got = await self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))", LOCK_CLASS
                )
        except Exception as exc:
            log.warning("cannot reach the database for the lock: %s", type(exc).__name__)
            await self._close()
            return
        if got:
            await self._gain()

    async def conflict(self) -> None:
        if not self.is_holder:
            return
        # Someone outside this database polls with our token. Hand the lock back and keep
        # away for a while (longer each time) so processes do not fight in a tight loop.
        now = asyncio.get_running_loop().time()
        # Conflicts long apart are separate incidents: the pause starts short again.
        self._conflicts = 1 if now > self._paused_until + 600 else self._conflicts + 1
        pause = min(self.conflict_pause * 2 ** (self._conflicts - 1), 600.0)
        self._paused_until = now + pause
        await self._lose("Telegram reports another poller (409 Conflict)")
        await self._close()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        await _close_connection(conn)

    async def stop(self) -> None:
        await _cancel(self._task)
        self._task = None
        self.is_holder = False
        await self._close()


def asyncpg_connector(
    database_url: str, connect_args: dict[str, Any] | None = None
) -> Callable[[], Awaitable[Any]]:
    """A function opening the lock's own asyncpg connection, outside SQLAlchemy's pool."""
    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

    _, options = asyncpg_dialect().create_connect_args(make_url(database_url))
    kwargs = {
        k: v
        for k, v in options.items()
        if k in {"host", "port", "user", "password", "database", "ssl"}
    }
    server_settings = dict((connect_args or {}).get("server_settings", {}))
    # The server notices a vanished holder within ~20 s and frees its lock.
    server_settings.update(
        {
            "application_name": "referral-bot lock",
            "tcp_keepalives_idle": "5",
            "tcp_keepalives_interval": "5",
            "tcp_keepalives_count": "3",
        }
    )

    async def connect() -> Any:
        return await asyncpg.connect(**kwargs, server_settings=server_settings)

    return connect

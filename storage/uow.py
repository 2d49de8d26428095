"""Unit of work: one transaction, its repositories and its audit log."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from storage.audit import AuditLog
from storage.crypto import Keyring, install_keyring
from storage.database import create_engine, migrate, session_factory
from storage.repositories import (
    AppointmentRepository,
    AttachmentRepository,
    CaseRepository,
    CentreRepository,
    ClinicRepository,
    ConversationRepository,
    InboundRepository,
    InviteRepository,
    MdtRepository,
    OutboxRepository,
    PeopleRepository,
    PersonCache,
    QueryRepository,
    SentMessageRepository,
    StatusRepository,
)
from storage.repositories.inbound import mark_all_done


@dataclass
class HandlingUpdate:
    """The stored update being handled, and when; `marked` once a commit marked it done."""

    update_id: int
    at: datetime
    marked: bool = False


# A handler's commit marks its update done in the same transaction, so a crash after the
# commit never replays the update's changes.
HANDLING_UPDATE: ContextVar[HandlingUpdate | None] = ContextVar("handling_update", default=None)


GROUP_MAX = 64  # units of work in one grouped commit at most


class CommitGroup:
    """Units of work of different users, each in a savepoint, committed together.

    Handling an update costs one transaction; its BEGIN, COMMIT and the pool's checkout
    and reset were a large share of it (issue 20's profile). Units of work opened while
    a group is current (`COMMIT_GROUP`, set by the intake around the updates it handles)
    take turns on one connection, each in a SAVEPOINT, so one failing update rolls back
    only its own work. The group commits when its turn is free and nobody is waiting for
    it (so a lone update commits at once, as before) or when GROUP_MAX have joined; a
    unit of work that wrote returns only once that commit is done, so nothing it caused
    outside the database (a reply queued, a button answered) runs before its changes are
    durable. A crash before the commit leaves every update of the group pending: they
    are handled again from the start, and none of their changes was kept.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._turn = asyncio.Lock()
        self._waiting = 0
        self._connection: AsyncConnection | None = None
        self._committed: asyncio.Future[None] | None = None
        self._joined = 0
        self._wrote = False
        self._abandoned: set[asyncio.Future[None]] = set()
        self._handled: dict[int, datetime] = {}
        # The audit chain's last entry as this transaction left it (see AuditLog).
        self.audit_tail: tuple[int, str] | None = None
        self.commits = 0
        self.members = 0

    async def join(self) -> AsyncConnection:
        """Wait for the group's turn; the connection whose transaction it is in."""
        self._waiting += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._waiting -= 1
            if self._connection is not None and self._waiting == 0 and not self._turn.locked():
                # The one who was to go on was cancelled (a stop): those who went before
                # are waiting for a commit nobody else is left to make.
                ending = asyncio.ensure_future(self._end_abandoned())
                self._abandoned.add(ending)
                ending.add_done_callback(self._abandoned.discard)
            raise
        self._waiting -= 1
        if self._connection is None:
            try:
                await self._open()
            except BaseException:
                self._turn.release()
                raise
        assert self._connection is not None
        return self._connection

    async def _open(self) -> None:
        writer = self.database._writer
        if writer is not None:
            await writer.acquire()
        try:
            connection = await self.database.engine.connect()
            try:
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
        except BaseException:
            if writer is not None:
                writer.release()
            raise
        self._connection = connection
        self._committed = asyncio.get_running_loop().create_future()
        self._joined, self._wrote = 0, False
        self._handled = {}
        self.audit_tail = None

    def handled(self, update: HandlingUpdate) -> None:
        """Mark `update` done with the group's commit (its unit of work committed).

        One UPDATE for the group instead of one per update, in the same transaction as
        the work it marks, so the two are still kept or lost together.
        """
        self._handled[update.update_id] = update.at

    async def leave(self, wrote: bool) -> None:
        """The unit of work's turn is over (its savepoint released or rolled back)."""
        self._joined += 1
        self.members += 1
        self._wrote = self._wrote or wrote
        committed = self._committed
        assert committed is not None
        if self._waiting and self._joined < GROUP_MAX:
            self._turn.release()  # the next one goes on in the same transaction
            if wrote:
                await asyncio.shield(committed)
            return
        try:
            await self._end(commit=True)
        finally:
            self._turn.release()

    async def _end_abandoned(self) -> None:
        async with self._turn:
            if self._connection is not None:
                await self._end(commit=True)

    async def close(self) -> None:
        """Roll back a transaction left open (its units of work were cancelled)."""
        if self._connection is None:
            return
        async with self._turn:
            if self._connection is not None:
                await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        connection, committed = self._connection, self._committed
        assert connection is not None and committed is not None
        self._connection = self._committed = None
        kept = False
        try:
            if commit and self._handled:
                await connection.execute(
                    mark_all_done(list(self._handled), max(self._handled.values()))
                )
            if commit and self._wrote:
                await connection.commit()
                self.commits += 1
            else:
                await connection.rollback()
            kept = commit
        except BaseException as exc:
            committed.set_exception(exc if isinstance(exc, Exception) else RuntimeError())
            committed.exception()  # retrieved here: a member may not be waiting for it
            raise
        else:
            if kept:
                committed.set_result(None)
            else:
                committed.set_exception(RuntimeError("the group was rolled back"))
                committed.exception()
        finally:
            try:
                await asyncio.shield(connection.close())
            finally:
                writer = self.database._writer
                if writer is not None:
                    writer.release()


# The group the units of work of this task join (see CommitGroup); None: a transaction each.
COMMIT_GROUP: ContextVar[CommitGroup | None] = ContextVar("commit_group", default=None)


class UnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`; rolls back otherwise.

    In a CommitGroup, commit() releases the unit of work's savepoint; its changes are
    durable when the `async with` block ends.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        writer: asyncio.Lock | None = None,
        group: CommitGroup | None = None,
    ) -> None:
        self._sessions = sessions
        self.keyring = keyring
        self._writer = writer
        self._group = group
        self._wrote = False

    async def __aenter__(self) -> UnitOfWork:
        if self._group is not None:
            connection = await self._group.join()
            self._session = self._sessions(
                bind=connection, join_transaction_mode="create_savepoint"
            )
        else:
            if self._writer is not None:
                await self._writer.acquire()
            # Private: everything above storage/ goes through the repositories (checked by
            # tests/test_layers.py). Storage's own modules and tests that inspect rows read it.
            self._session = self._sessions()
        keyring = self.keyring
        self.people = PeopleRepository(
            self._session, keyring, self._group.database.people if self._group else None
        )
        self.centres = CentreRepository(self._session, keyring)
        self.clinics = ClinicRepository(self._session, keyring)
        self.invites = InviteRepository(self._session, keyring)
        self.conversations = ConversationRepository(self._session, keyring)
        self.inbound = InboundRepository(self._session, keyring)
        self.sent_messages = SentMessageRepository(self._session, keyring)
        self.outbox = OutboxRepository(self._session, keyring)
        self.status = StatusRepository(self._session, keyring)
        self.cases = CaseRepository(self._session, keyring)
        self.queries = QueryRepository(self._session, keyring)
        self.appointments = AppointmentRepository(self._session, keyring)
        self.attachments = AttachmentRepository(self._session, keyring)
        self.mdt = MdtRepository(self._session, keyring)
        self.audit = self._audit_log()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            # close() rolls back what was not committed but, unlike rollback(), leaves
            # loaded objects readable for the caller after the unit of work ends.
            # Shielded: a task cancelled while its connection goes back to the pool (a
            # shutdown) would otherwise leave the pool's reset half done and log an error.
            closing = asyncio.ensure_future(self._session.close())
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                # Closing after a statement was cancelled half-way can fail too: the
                # cancellation, not that failure, is what the caller must see (a stop
                # that turned into an error was caught and carried on, and never ended).
                with contextlib.suppress(Exception):
                    await closing
                raise
            except Exception:
                if exc is None:
                    raise
                # The failure that ended the block is the one to report; the session's
                # connection is discarded rather than reused in an unknown state.
                with contextlib.suppress(Exception):
                    await self._session.invalidate()
        finally:
            if self._group is not None:
                await self._group.leave(self._wrote)
            elif self._writer is not None:
                self._writer.release()

    async def commit(self) -> None:
        handling = HANDLING_UPDATE.get()
        if handling is not None and not handling.marked:
            if self._group is not None:
                self._group.handled(handling)
            else:
                await self.inbound.mark_done(handling.update_id, handling.at)
        await self._session.commit()
        self._wrote = True
        if handling is not None:
            handling.marked = True
        if self._group is not None and self.audit.tail is not None:
            self._group.audit_tail = self.audit.tail
        # A fresh audit tail is needed for the next transaction in this unit of work.
        self.audit = self._audit_log()

    def _audit_log(self) -> AuditLog:
        # In a group the chain's tail is known from the units of work before (their
        # transaction is this one, and it holds the chain's lock): no need to read it.
        tail = self._group.audit_tail if self._group is not None else None
        return AuditLog(self._session, self.keyring, tail)

    async def rollback(self) -> None:
        await self._session.rollback()

    async def flush(self) -> None:
        await self._session.flush()


class Database:
    """The engine, the keyring and a factory of units of work."""

    def __init__(self, url: str, keyring: Keyring, **engine_kwargs: Any) -> None:
        self.url = url
        self.keyring = keyring
        install_keyring(keyring)
        self.engine: AsyncEngine = create_engine(url, **engine_kwargs)
        self.sessions = session_factory(self.engine)
        self.people = PersonCache()
        engine = self.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._saw_statement)
        event.listen(engine, "rollback_savepoint", self._saw_savepoint_rollback)
        event.listen(engine, "commit", self._saw_end)
        event.listen(engine, "rollback", self._saw_end)
        # SQLite has one writer at a time and every transaction here begins IMMEDIATE;
        # queueing in-process on a lock avoids SQLite's sleep-and-retry busy handler.
        # Units of work must therefore never nest.
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    def _saw_statement(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        self.people.saw_statement(conn.info, statement)

    def _saw_savepoint_rollback(self, conn: Connection, *_: Any) -> None:
        self.people.saw_savepoint_rollback(conn.info)

    def _saw_end(self, conn: Connection) -> None:
        self.people.saw_end(conn.info)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        group = COMMIT_GROUP.get()
        if group is not None and group.database is not self:
            group = None
        return UnitOfWork(self.sessions, self.keyring, self._writer, group)

    async def migrate(self) -> None:
        await migrate(self.engine)

    @asynccontextmanager
    async def run_lock(self, lock_class: int) -> AsyncIterator[bool]:
        """Whether this process may run a job that spans many transactions.

        On PostgreSQL: holds the session advisory lock (`lock_class`, the schema's hash)
        for the block, on a connection of its own, freed by the server if this process
        dies half-way; False when another process holds it. On SQLite always True: one
        bot process per database file (bot/leadership.py).
        """
        if self.dialect != "postgresql":
            yield True
            return
        key = {"c": lock_class}
        async with self.engine.connect() as conn:
            held = bool(
                await conn.scalar(
                    text("SELECT pg_try_advisory_lock(:c, hashtext(current_schema()))"), key
                )
            )
            await conn.commit()
            try:
                yield held
            finally:
                if held:
                    try:
                        await conn.execute(
                            text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"), key
                        )
                        await conn.commit()
                    except BaseException:
                        # Never back to the pool still holding the lock: closed, it is freed.
                        await conn.invalidate()
                        raise

    async def dispose(self) -> None:
        await self.engine.dispose()

"""Unit of work: one transaction, its repositories and its audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
    QueryRepository,
    SentMessageRepository,
    StatusRepository,
)


@dataclass
class HandlingUpdate:
    """The stored update being handled, and when; `marked` once a commit marked it done."""

    update_id: int
    at: datetime
    marked: bool = False


# A handler's commit marks its update done in the same transaction, so a crash after the
# commit never replays the update's changes.
HANDLING_UPDATE: ContextVar[HandlingUpdate | None] = ContextVar("handling_update", default=None)


class UnitOfWork:
    """`async with db.uow() as uow: ...; await uow.commit()`; rolls back otherwise."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        writer: asyncio.Lock | None = None,
    ) -> None:
        self._sessions = sessions
        self.keyring = keyring
        self._writer = writer

    async def __aenter__(self) -> UnitOfWork:
        if self._writer is not None:
            await self._writer.acquire()
        # Private: everything above storage/ goes through the repositories (checked by
        # tests/test_layers.py). Storage's own modules and tests that inspect rows read it.
        self._session = self._sessions()
        keyring = self.keyring
        self.people = PeopleRepository(self._session, keyring)
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
        self.audit = AuditLog(self._session, keyring)
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
                await closing
                raise
        finally:
            if self._writer is not None:
                self._writer.release()

    async def commit(self) -> None:
        handling = HANDLING_UPDATE.get()
        if handling is not None and not handling.marked:
            await self.inbound.mark_done(handling.update_id, handling.at)
        await self._session.commit()
        if handling is not None:
            handling.marked = True
        # A fresh audit tail is needed for the next transaction in this unit of work.
        self.audit = AuditLog(self._session, self.keyring)

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
        # SQLite has one writer at a time and every transaction here begins IMMEDIATE;
        # queueing in-process on a lock avoids SQLite's sleep-and-retry busy handler.
        # Units of work must therefore never nest.
        self._writer = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions, self.keyring, self._writer)

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

"""Append-only audit log chained by HMAC under a subkey of INDEX_KEY.

Each entry's MAC covers its own id and fields and the previous entry's MAC, so an
edited, deleted, inserted or reordered row breaks the chain, and without INDEX_KEY
nobody can compute a consistent replacement chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Keyring
from storage.models import AuditEntry

GENESIS = "0" * 64
AUDIT_PURPOSE = "audit-chain"
_PG_AUDIT_LOCK = 0x5A4C_0A11


def entry_mac(key: bytes, prev_mac: str, entry: AuditEntry) -> str:
    """The MAC that binds an entry to its predecessor."""
    body = json.dumps(
        [entry.id, entry.at.isoformat(), entry.actor, entry.action, entry.subject, entry.details],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hmac.new(key, f"{prev_mac}|{body}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    """The first entry at which the chain does not hold."""

    entry_id: int
    reason: str


class AuditLog:
    """Appends chained entries inside the caller's transaction."""

    def __init__(
        self, session: AsyncSession, keyring: Keyring, tail: tuple[int, str] | None = None
    ) -> None:
        """`tail`: the last entry, when this transaction already read or wrote it (and,
        on PostgreSQL, holds the lock that keeps it the last)."""
        self._session = session
        self._keyring = keyring
        self._key = keyring.subkey(AUDIT_PURPOSE)
        self._tail = tail

    @property
    def tail(self) -> tuple[int, str] | None:
        """The last entry as this transaction sees it, once read or written."""
        return self._tail

    async def _lock_tail(self) -> tuple[int, str]:
        if self._tail is None:
            if self._session.get_bind().dialect.name == "postgresql":
                # Two transactions appending at once would both chain to the same tail.
                await self._session.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK}
                )
            row = (
                await self._session.execute(
                    select(AuditEntry.id, AuditEntry.mac).order_by(AuditEntry.id.desc()).limit(1)
                )
            ).first()
            self._tail = (row[0], row[1]) if row else (0, GENESIS)
        return self._tail

    async def record(
        self, at: datetime, actor: str, action: str, subject: str = "", **details: Any
    ) -> AuditEntry:
        """Append one entry. Details must be references and codes, never personal data."""
        last_id, last_mac = await self._lock_tail()
        entry = AuditEntry(
            id=last_id + 1,
            at=at.astimezone(UTC),
            actor=actor,
            action=action,
            subject=subject,
            details=json.dumps(details, sort_keys=True, separators=(",", ":"), default=str),
            prev_mac=last_mac,
        )
        entry.mac = entry_mac(self._key, last_mac, entry)
        self._session.add(entry)
        self._tail = (entry.id, entry.mac)
        return entry

    async def last_at(self, action: str) -> datetime | None:
        """When an entry with this action was last written, or None if none was."""
        return await self._session.scalar(
            select(func.max(AuditEntry.at)).where(AuditEntry.action == action)
        )

    def verified_entries(self) -> AsyncIterator[AuditEntry]:
        """Every entry in id order, each checked against the chain (see `verified_entries`)."""
        return verified_entries(self._session, self._keyring)

    async def verify(self) -> tuple[int, ChainProblem | None]:
        """Check the whole chain (see `verify_chain`)."""
        return await verify_chain(self._session, self._keyring)

    async def head(self) -> tuple[int, str] | None:
        """The last entry's id and MAC (see `chain_head`)."""
        return await chain_head(self._session)


async def iter_entries(session: AsyncSession, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    """Every entry in id order, a batch at a time."""
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)
            )
        ).all()
        if not rows:
            return
        for row in rows:
            yield row
        after = rows[-1].id
        session.expunge_all()


async def verify_chain(session: AsyncSession, keyring: Keyring) -> tuple[int, ChainProblem | None]:
    """Check the whole chain; returns entries checked and the first problem, if any."""
    key = keyring.subkey(AUDIT_PURPOSE)
    prev_mac, expected_id, count = GENESIS, 1, 0
    async for entry in iter_entries(session):
        if entry.id != expected_id:
            return count, ChainProblem(
                entry.id, f"entry {expected_id} is missing (found {entry.id} next)"
            )
        if entry.prev_mac != prev_mac:
            return count, ChainProblem(entry.id, "does not follow the entry before it")
        if not hmac.compare_digest(entry.mac, entry_mac(key, prev_mac, entry)):
            return count, ChainProblem(entry.id, "content does not match its MAC (edited)")
        prev_mac, expected_id, count = entry.mac, expected_id + 1, count + 1
    return count, None


class ChainBroken(Exception):
    """The chain does not hold at `problem.entry_id`."""

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(f"entry {problem.entry_id}: {problem.reason}")
        self.problem = problem


async def verified_entries(session: AsyncSession, keyring: Keyring) -> AsyncIterator[AuditEntry]:
    """Every entry in id order, each yielded only once it is checked against the chain.

    Raises ChainBroken at the first entry that does not hold (the same checks as
    `verify_chain`), so a consumer never receives an entry past a break.
    """
    key = keyring.subkey(AUDIT_PURPOSE)
    prev_mac, expected_id = GENESIS, 1
    async for entry in iter_entries(session):
        if entry.id != expected_id:
            raise ChainBroken(
                ChainProblem(entry.id, f"entry {expected_id} is missing (found {entry.id} next)")
            )
        if entry.prev_mac != prev_mac:
            raise ChainBroken(ChainProblem(entry.id, "does not follow the entry before it"))
        if not hmac.compare_digest(entry.mac, entry_mac(key, prev_mac, entry)):
            raise ChainBroken(ChainProblem(entry.id, "content does not match its MAC (edited)"))
        yield entry
        prev_mac, expected_id = entry.mac, expected_id + 1


async def chain_head(session: AsyncSession) -> tuple[int, str] | None:
    """The last entry's id and MAC: logged periodically, so that a tail cut off the log
    (which leaves a shorter chain that still verifies) shows against the logged head."""
    row = (
        await session.execute(
            select(AuditEntry.id, AuditEntry.mac).order_by(AuditEntry.id.desc()).limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None

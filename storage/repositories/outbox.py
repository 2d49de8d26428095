"""The outbox and the record of sent messages: claims, parts sent, owners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    table,
    update,
)

from storage.crypto import associated_data
from storage.models import (
    OutboxMessage,
    Person,
    SentMessage,
)
from storage.repositories._base import _Repository, rowcount

NO_CHAT = 0  # Telegram has no chat 0: a message row that no longer names an account
FINISHED = ("sent", "failed", "undeliverable")


class SentMessageRepository(_Repository):
    async def forget_chat(self, recipient_id: int, chat_id: int | None) -> None:
        """Delete the record of messages sent to this person (or to this chat)."""
        mapped = SentMessage.recipient_id == recipient_id
        if chat_id is not None:
            mapped = or_(mapped, SentMessage.chat_id == chat_id)
        await self.session.execute(delete(SentMessage).where(mapped))

    def add(self, message: SentMessage) -> None:
        self.session.add(message)

    async def find(self, chat_id: int, telegram_message_id: int) -> SentMessage | None:
        return await self.session.scalar(
            select(SentMessage).where(
                SentMessage.chat_id == chat_id,
                SentMessage.telegram_message_id == telegram_message_id,
            )
        )


class OutboxRepository(_Repository):
    def add(self, message: OutboxMessage) -> None:
        self.session.add(message)

    async def get(self, outbox_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, outbox_id)

    async def unsent_with_key(self, chat_id: int, key: str) -> OutboxMessage | None:
        """The chat's pending (not claimed) notice with this collapse key, locked.

        Locked so the dispatcher cannot claim it while the caller rewrites it; one it
        claimed first is no longer pending, and so not found.
        """
        return await self.session.scalar(
            select(OutboxMessage)
            .where(
                OutboxMessage.chat_id == chat_id,
                OutboxMessage.collapse_key == key,
                OutboxMessage.status == "pending",
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
            .with_for_update()
        )

    async def claim(
        self, now: datetime, lease_until: datetime, limit: int, owner: int | None = None
    ) -> list[ClaimedMessage]:
        """Take the oldest due message of each chat whose earlier messages are all done.

        On PostgreSQL the rows are locked with SKIP LOCKED, so several processes never
        claim the same message. A claim names its `owner`, a process holding the owner
        lock keyed by that id (bot.leadership.OwnerLock): once that lock is gone (the
        process died or lost its connection) the claim is free at once. The lease is the
        fallback for claims without an owner; a process that lost its own lock claims
        nothing, as its claims would look free to everyone else.
        """
        # Core, not ORM, here and below: these run for every message sent, and loading
        # and flushing ORM objects cost more than the statements themselves.
        result = await self.session.execute(
            _claim_statement(self._postgres()), {"now": now, "limit": limit, "owner": owner}
        )
        claimed = [self._claimed(row) for row in result]
        if claimed:
            await self.session.execute(
                _CLAIM, {"ids": [c.id for c in claimed], "until": lease_until, "owner": owner}
            )
        return claimed

    async def claim_next(
        self, chat_id: int, now: datetime, lease_until: datetime, owner: int | None = None
    ) -> ClaimedMessage | None:
        """The chat's next message, if it is the oldest unfinished one and due now."""
        return (await self.claim_next_of([chat_id], now, lease_until, owner)).get(chat_id)

    async def record_sent(self, parts: Sequence[SentPart], now: datetime) -> None:
        """Parts now with Telegram: remember each (replies to it are routed by it) and,
        after a message's last part, that the message was sent. One statement each for
        however many parts, so a sender can record a batch in one transaction."""
        for last in (False, True):
            rows = [p for p in parts if p.last == last]
            if rows:
                await self.session.execute(
                    _RECORD_LAST_PART if last else _RECORD_PART,
                    [
                        {
                            "row": p.message.id,
                            "parts": p.parts_sent,
                            "message": p.telegram_id,
                            "at": now,
                        }
                        for p in rows
                    ],
                )
        await self.session.execute(
            _RECORD_SENT,
            [
                {
                    "chat_id": p.message.chat_id,
                    "telegram_message_id": p.telegram_id,
                    "recipient_id": p.message.recipient_id,
                    "case_id": p.message.case_id,
                    "query_id": p.message.query_id,
                    "outbox_id": p.message.id,
                    "created_at": now,
                }
                for p in parts
            ],
        )

    async def claim_next_of(
        self,
        chat_ids: Sequence[int],
        now: datetime,
        lease_until: datetime,
        owner: int | None = None,
    ) -> dict[int, ClaimedMessage]:
        """For each chat, its oldest unfinished message if that is due now, claimed; two
        statements for however many chats. Returns the chats that had one."""
        if not chat_ids:
            return {}
        result = await self.session.execute(
            _next_of_statement(self._postgres()), {"chats": sorted(set(chat_ids))}
        )
        due = {
            row.chat_id: row
            for row in result
            if row.status == "pending" and row.next_attempt_at <= now
        }
        if due:
            await self.session.execute(
                _CLAIM,
                {"ids": [row.id for row in due.values()], "until": lease_until, "owner": owner},
            )
        return {chat: self._claimed(row) for chat, row in due.items()}

    def _claimed(self, row: Any) -> ClaimedMessage:
        payload = (
            None
            if row.payload_enc is None
            else self.keyring.decrypt(
                row.payload_enc, associated_data("outbox", "payload", row.uid)
            )
        )
        return ClaimedMessage(
            id=row.id,
            chat_id=row.chat_id,
            payload=payload,
            protect=row.protect_content,
            parts_sent=row.parts_sent,
            recipient_id=row.recipient_id,
            case_id=row.case_id,
            query_id=row.query_id,
            # No recipient (a chat not yet registered) counts as reachable.
            held=row.recipient_reachable is False,
        )

    async def renew_claims(
        self, ids: Sequence[int], lease_until: datetime, owner: int | None = None
    ) -> None:
        """Extend the lease on messages this process is still sending."""
        await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id.in_(list(ids)),
                OutboxMessage.status == "sending",
                OutboxMessage.claimed_by.is_(None)
                if owner is None
                else OutboxMessage.claimed_by == owner,
            )
            .values(claimed_until=lease_until)
        )

    async def adopt(self, outbox_id: int, owners: Sequence[int], owner: int) -> bool:
        """Move this process's claim from an owner id it lost to its new one; False when
        the claim is no longer its own (another process took it, or it was sent).

        A claim still naming an old id of this process was taken by nobody since (taking
        a claim renames it), so sending it now cannot duplicate anyone else's send.
        """
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.status == "sending",
                OutboxMessage.claimed_by.in_(list(owners)),
            )
            .values(claimed_by=owner)
        )
        return rowcount(result) > 0

    async def release_claims(self) -> int:
        """Put messages claimed by a process that is gone back in the queue."""
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending")
            .values(status="pending", claimed_until=None, claimed_by=None)
        )
        return rowcount(result)

    async def count_due(self, now: datetime) -> int:
        """Unsent messages that should be going out now (not those waiting to retry)."""
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    or_(
                        and_(
                            OutboxMessage.status == "pending",
                            OutboxMessage.next_attempt_at <= now,
                        ),
                        OutboxMessage.status == "sending",
                    )
                )
            )
            or 0
        )

    async def hold_for(self, recipient_id: int, reason: str, *, drop_text: bool = False) -> int:
        """Stop everything still queued for someone who cannot be reached (and forget its
        text with `drop_text`, for someone removed)."""
        values: dict[str, Any] = {"status": "undeliverable", "last_error": reason}
        if drop_text:
            values["payload_enc"] = None
        result = await self.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.recipient_id == recipient_id,
                OutboxMessage.status == "pending",
            )
            .values(**values)
        )
        return rowcount(result)

    async def pending_count_to(self, recipient_id: int) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.recipient_id == recipient_id,
                    OutboxMessage.status == "pending",
                )
            )
            or 0
        )

    async def forget_chat(self, recipient_id: int, chat_id: int | None) -> None:
        """Rows to this person (or this chat) stay, but no longer name the chat or hold
        the text."""
        to_them = OutboxMessage.recipient_id == recipient_id
        if chat_id is not None:
            to_them = or_(to_them, OutboxMessage.chat_id == chat_id)
        await self.session.execute(
            update(OutboxMessage).where(to_them).values(chat_id=NO_CHAT, payload_enc=None)
        )

    async def clear_finished_of_cases(self, case_ids: Sequence[int]) -> int:
        """Drop the kept texts of these cases' finished messages; returns how many."""
        return rowcount(
            await self.session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.case_id.in_(case_ids),
                    OutboxMessage.status.in_(FINISHED),
                    OutboxMessage.payload_enc.is_not(None),
                )
                .values(payload_enc=None)
            )
        )

    async def finished_copies_before(self, before: datetime, limit: int) -> list[int]:
        """Finished messages created before `before` that still hold their text."""
        return await self._ids(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status.in_(FINISHED),
                OutboxMessage.created_at < before,
                OutboxMessage.payload_enc.is_not(None),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )

    async def clear_payloads(self, outbox_ids: Sequence[int]) -> int:
        return rowcount(
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(outbox_ids))
                .values(payload_enc=None)
            )
        )


_OUTBOX = cast(Table, OutboxMessage.__table__)
_SENT = cast(Table, SentMessage.__table__)
_CLAIM = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sending", claimed_until=bindparam("until"), claimed_by=bindparam("owner"))
)
_RECORD_PART = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row"))
    .values(parts_sent=bindparam("parts"), telegram_message_id=bindparam("message"))
)
# Bind names differ from column names: SQLAlchemy keeps those for the SET clause.
_RECORD_LAST_PART = _RECORD_PART.values(status="sent", sent_at=bindparam("at"), claimed_until=None)
_RECORD_SENT = insert(_SENT)


@dataclass(frozen=True)
class SentPart:
    """A part of a claimed message that Telegram accepted, to be recorded."""

    message: ClaimedMessage
    parts_sent: int
    telegram_id: int
    last: bool


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox message this process has leased for sending, with what sending needs."""

    id: int
    chat_id: int
    payload: str | None
    protect: bool
    parts_sent: int
    recipient_id: int | None
    case_id: int | None
    query_id: int | None
    held: bool  # its recipient is known to be unreachable


def _claim_columns() -> list[Any]:
    reachable = (
        select(Person.reachable)
        .where(Person.id == _OUTBOX.c.recipient_id)
        .scalar_subquery()
        .label("recipient_reachable")
    )
    t = _OUTBOX.c
    return [
        t.id,
        t.uid,
        t.chat_id,
        t.payload_enc,
        t.protect_content,
        t.parts_sent,
        t.recipient_id,
        t.case_id,
        t.query_id,
        t.status,
        t.next_attempt_at,
        reachable,
    ]


# First key of each process's owner lock (the second is its owner id): "REFC".
OWNER_LOCK_CLASS = 0x52454643
_LOCKS = table(
    "pg_locks",
    column("locktype"),
    column("database"),
    column("classid", Integer),
    column("objid", Integer),
    column("objsubid", Integer),
    column("granted", Boolean),
)
_DATABASES = table("pg_database", column("oid"), column("datname"))


def _live_owners() -> Select[Any]:
    """Owner ids whose process holds its owner lock in this database now."""
    locks = _LOCKS.c
    here = (
        select(_DATABASES.c.oid)
        .where(_DATABASES.c.datname == func.current_database())
        .scalar_subquery()
    )
    return select(locks.objid.cast(BigInteger)).where(
        locks.locktype == "advisory",
        locks.database == here,
        locks.classid == OWNER_LOCK_CLASS,
        locks.objsubid == 2,  # the two-key form of pg_advisory_lock
        locks.granted,
    )


@lru_cache(maxsize=2)
def _claim_statement(postgres: bool) -> Select[Any]:
    # Built once: constructing this expression costs more than running it.
    now: BindParameter[datetime] = bindparam("now")
    t = _OUTBOX.c
    earlier = _OUTBOX.alias("earlier")
    expired = t.claimed_until <= now
    if postgres:
        # Read only when a row is being sent by someone (rare): a claim is free once
        # its owner's lock is gone, whatever its lease says. (NOT IN an empty set is
        # true even for NULL: claims without an owner keep to their lease.)
        expired = or_(expired, and_(t.claimed_by.is_not(None), t.claimed_by.not_in(_live_owners())))
    due = or_(
        and_(t.status == "pending", t.next_attempt_at <= now),
        and_(t.status == "sending", expired),
    )
    blocked = exists().where(
        earlier.c.chat_id == t.chat_id,
        earlier.c.id < t.id,
        earlier.c.status.in_(("pending", "sending")),
    )
    query = select(*_claim_columns()).where(due, ~blocked).order_by(t.id).limit(bindparam("limit"))
    if postgres:
        owner: BindParameter[int | None] = bindparam("owner", type_=BigInteger)
        # A process whose own lock is gone claims nothing: others see its claims as free.
        query = query.where(or_(owner.is_(None), owner.in_(_live_owners())))
        query = query.with_for_update(skip_locked=True, of=_OUTBOX)
    return query


@lru_cache(maxsize=2)
def _next_of_statement(postgres: bool) -> Select[Any]:
    t = _OUTBOX.c
    oldest = (
        select(func.min(t.id))
        .where(
            t.chat_id.in_(bindparam("chats", expanding=True)),
            t.status.in_(("pending", "sending")),
        )
        .group_by(t.chat_id)
    )
    query = select(*_claim_columns()).where(t.id.in_(oldest))
    # Not SKIP LOCKED: skipping a locked oldest row would send a later one first.
    return query.with_for_update(of=_OUTBOX) if postgres else query

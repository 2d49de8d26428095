"""The outbox dispatcher: sends committed messages, in order per chat, exactly once.

Transient failures (timeouts, 5xx) are retried a few times in place with exponential
backoff and jitter, then from the database with a growing delay until the message is
`SEND_MAX_AGE` old, when it is marked failed and `on_failed` is called. A 429 holds that
chat (or everyone) for `retry_after` and retries. 403 and "chat not found" mark the
recipient unreachable, hold what is queued for them, and call `on_unreachable`.

Who is told about a failed message or an unreachable person, and what, is not this
module's business: the callbacks (bot.delivery_rules) queue those warnings in the same
transaction that records the change.

On PostgreSQL several processes send. Each claim names the claiming process's owner id,
valid while that process holds its owner lock (bot.leadership.OwnerLock): a killed
process's claims are taken again at once, and a process that lost its lock sends nothing
more of what it claimed, since others may now be sending it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from telegram import Bot, InlineKeyboardMarkup, InputFile, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from core.clock import Clock
from delivery.flood import FloodControl, Timer
from delivery.sender import Payload, markup, seconds
from storage.models import OutboxMessage, Person
from storage.repositories import ClaimedMessage, SentPart
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)

INLINE_ATTEMPTS = 4
# A claim lasts this long unless renewed (a live sender renews its claims every third of
# it). Only a fallback: a claim is free as soon as its owner's lock is gone, which for a
# killed process is at once; the lease bounds how long a claim whose owner the server
# still thinks alive (cut off, not yet noticed by keepalives) can hold up its chat.
LEASE = timedelta(seconds=60)
CLAIM_BATCH = 200
UNREACHABLE_ERRORS = ("chat not found", "user not found", "peer_id_invalid", "bot was blocked")

# Called in the transaction that marks a message failed (after every retry) or a person
# unreachable (once, on the change); what they queue is sent once it commits.
OnFailed = Callable[[UnitOfWork, OutboxMessage, datetime], Awaitable[None]]
OnUnreachable = Callable[[UnitOfWork, Person, datetime], Awaitable[None]]


async def _nobody_told(uow: UnitOfWork, about: OutboxMessage | Person, now: datetime) -> None:
    """The default callback: nothing beyond the message's status and the audit entry."""


@dataclass
class DispatcherStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0


# What Telegram says when a file_id it gave out is no longer valid for sending.
_STALE_FILE_ID = ("wrong file identifier", "file_id", "file reference", "wrong remote file")
# sendPhoto's limits (Bot API): bigger or odd-shaped images go as documents.
_PHOTO_MAX_BYTES = 10 * 1024 * 1024
_PHOTO_MAX_SIDES = 10_000
_PHOTO_MAX_RATIO = 20


@dataclass(frozen=True)
class _FileToSend:
    """What sending a stored file needs to know about it (read before the call)."""

    id: int
    case_id: int
    kind: str
    size: int
    width: int | None
    height: int | None

    @property
    def name(self) -> str:
        """A file name with no patient detail (the sender's own name is not kept)."""
        extension = "jpg" if self.kind == "jpeg" else self.kind
        return f"C-{self.case_id}-file-{self.id}.{extension}"

    @property
    def as_photo(self) -> bool:
        """Images within sendPhoto's limits are shown as photos; the rest as documents."""
        w, h = self.width or 0, self.height or 0
        return (
            self.kind in ("jpeg", "png")
            and self.size <= _PHOTO_MAX_BYTES
            and 0 < w + h <= _PHOTO_MAX_SIDES
            and max(w, h) <= _PHOTO_MAX_RATIO * min(w, h)
        )

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        file: str | InputFile,
        caption: str,
        protect: bool,
        buttons: InlineKeyboardMarkup | None,
    ) -> Message:
        common: dict[str, Any] = {
            "chat_id": chat_id,
            "caption": caption,
            "parse_mode": ParseMode.HTML,
            "reply_markup": buttons,
            "protect_content": protect or None,
        }
        if self.as_photo:
            return await bot.send_photo(photo=file, **common)
        return await bot.send_document(document=file, **common)

    def file_id_of(self, sent: Message) -> str | None:
        if self.as_photo:
            return sent.photo[-1].file_id if sent.photo else None
        return sent.document.file_id if sent.document else None


class _Transient(Exception):
    pass


class _NotOurs(Exception):
    """The claim may be someone else's now: this process lost the owner id it was made under."""


class Liveness(Protocol):
    """Proof that this process is alive, which other processes can check (OwnerLock)."""

    @property
    def owner(self) -> int | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class _Work:
    """A claimed message with what is needed to send it, read in the claiming transaction."""

    claim: ClaimedMessage
    payload: Payload
    owner: int | None  # the owner id it was claimed under

    @classmethod
    def of(cls, claim: ClaimedMessage, owner: int | None) -> _Work:
        return cls(claim, Payload.parse(claim.payload or "{}"), owner)

    @property
    def outbox_id(self) -> int:
        return self.claim.id

    @property
    def chat_id(self) -> int:
        return self.claim.chat_id


class Dispatcher:
    """Claims due outbox rows and sends them; one message in flight per chat."""

    def __init__(
        self,
        db: Database,
        bot: Bot,
        flood: FloodControl,
        clock: Clock,
        *,
        max_age: timedelta = timedelta(hours=1),
        timer: Timer | None = None,
        poll_seconds: float = 1.0,
        liveness: Liveness | None = None,
        on_failed: OnFailed = _nobody_told,
        on_unreachable: OnUnreachable = _nobody_told,
    ) -> None:
        self.db = db
        self.liveness = liveness
        self.on_failed = on_failed
        self.on_unreachable = on_unreachable
        self.bot = bot
        self.flood = flood
        self.clock = clock
        self.timer = timer or flood.timer
        self.max_age = max_age
        self.poll_seconds = poll_seconds
        self.stats = DispatcherStats()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._on_the_wire: set[asyncio.Task[None]] = set()
        self._sending: set[int] = set()  # outbox ids this process is sending now
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        # A chat's next message, claimed in the same transaction that recorded the last one
        # as sent (one transaction fewer per message); None: the chat had nothing more.
        self._chained: dict[int, _Work | None] = {}
        # Sent parts waiting to be recorded, and the task recording them.
        self._to_record: list[tuple[SentPart, asyncio.Future[_Work | None]]] = []
        self._recorder: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Recover what a dead process left half-sent, then start dispatching."""
        if self.liveness is not None:
            await self.liveness.start()
        if self.db.dialect == "sqlite":
            # One process per SQLite file, so nobody else can be sending these.
            async with self.db.uow() as uow:
                await uow.outbox.release_claims()
                await uow.commit()
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")
        self._renewer = asyncio.create_task(self._renew_loop(), name="outbox-lease-renewal")

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(LEASE.total_seconds() / 3)
            if not self._sending or not self._may_claim():
                continue
            try:
                async with self.db.uow() as uow:
                    await uow.outbox.renew_claims(
                        sorted(self._sending), self.clock.now() + LEASE, self._owner()
                    )
                    await uow.commit()
            except Exception as exc:  # the next round tries again
                log.error("renewing outbox claims failed: %s", type(exc).__name__)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop at once; a send already on the wire is let finish and be recorded."""
        tasks = [t for t in [self._task, self._renewer, *self._inflight] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._on_the_wire:
            await asyncio.wait(set(self._on_the_wire), timeout=grace)
        self._task = self._renewer = None
        self._inflight.clear()
        if self.liveness is not None:
            # Last: what this process claimed and did not send is free once this goes.
            await self.liveness.stop()

    def _owner(self) -> int | None:
        return None if self.liveness is None else self.liveness.owner

    def _may_claim(self) -> bool:
        """False while this process has lost its owner lock: its claims would look free."""
        return self.liveness is None or self.liveness.owner is not None

    async def _still_ours(self, work: _Work) -> bool:
        """May `work` be sent now? Checked right before every send.

        After this process lost its owner lock, others may have taken the claim: it is
        sent only if it can be moved to the process's new owner id, which fails when
        anyone else took it meanwhile.
        """
        if self.liveness is None:
            return True
        owner = self.liveness.owner
        if owner is None or work.owner is None:
            return False
        if owner == work.owner:
            return True
        async with self.db.uow() as uow:
            adopted = await uow.outbox.adopt(work.outbox_id, [work.owner, owner], owner)
            await uow.commit()
        if adopted:
            work.owner = owner
        return adopted and self.liveness.owner == owner

    async def _run(self) -> None:
        while True:
            try:
                claimed = await self.dispatch_once()
            except Exception as exc:  # the database may be briefly away; keep going
                log.error("outbox dispatch failed: %s", type(exc).__name__)
                claimed = 0
            if claimed == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                self._wake.clear()

    async def dispatch_once(self) -> int:
        """Claim what is due and start a sender per chat; returns how many were claimed."""
        if not self._may_claim():
            return 0
        now, owner = self.clock.now(), self._owner()
        async with self.db.uow() as uow:
            claimed = await uow.outbox.claim(now, now + LEASE, CLAIM_BATCH, owner)
            await uow.commit()
        # A lease that ran out (or an owner id this process lost) on a message it is still
        # sending brings it back from the claim, renewed; sending it again would be a
        # duplicate.
        work = [_Work.of(c, owner) for c in claimed if c.id not in self._sending]
        for item in work:
            task = asyncio.create_task(self._chat_sender(item))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(work)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox delivery crashed: %s", type(task.exception()).__name__)

    async def _chat_sender(self, work: _Work | None) -> None:
        """Send a chat's messages one after another while the next one is due."""
        while work is not None:
            self._sending.add(work.outbox_id)
            try:
                delivered = await self._deliver(work)
            finally:
                self._sending.discard(work.outbox_id)
            if not delivered:
                self._chained.pop(work.chat_id, None)
                return  # retrying later or undeliverable: later messages wait their turn
            if work.chat_id in self._chained:
                work = self._chained.pop(work.chat_id)
                continue
            if not self._may_claim():
                return
            now, owner = self.clock.now(), self._owner()
            async with self.db.uow() as uow:
                following = await uow.outbox.claim_next(work.chat_id, now, now + LEASE, owner)
                await uow.commit()
            work = _Work.of(following, owner) if following is not None else None

    async def idle(self) -> bool:
        """True when nothing is in flight and nothing unsent is due."""
        if self._inflight:
            return False
        async with self.db.uow() as uow:
            return await uow.outbox.count_due(self.clock.now()) == 0

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until everything due has been sent (tests and shutdown)."""
        async with asyncio.timeout(timeout):
            while not await self.idle():  # noqa: ASYNC110 - the condition lives in the database
                await asyncio.sleep(0.01)

    async def _deliver(self, work: _Work) -> bool:
        """Send one message (all its parts); True when it was delivered."""
        if work.claim.held:
            async with self.db.uow() as uow:
                row = await uow.outbox.get(work.outbox_id)
                assert row is not None
                row.status, row.last_error = "undeliverable", "recipient unreachable"
                row.claimed_until = None
                await uow.commit()
            return False
        parts = work.payload.parts()
        for index in range(work.claim.parts_sent, len(parts)):
            try:
                await self._send_part(work, parts, index)
            except _Transient as exc:
                await self._retry_later(work.outbox_id, str(exc))
                return False
            except _NotOurs:
                return False  # left claimed under the lost id: free for whoever takes it
            except (Forbidden, BadRequest) as exc:
                if isinstance(exc, Forbidden) or any(
                    e in exc.message.lower() for e in UNREACHABLE_ERRORS
                ):
                    await self._unreachable(work.outbox_id, type(exc).__name__)
                else:
                    await self._fail(work.outbox_id, f"{type(exc).__name__}: refused")
                return False
        return True

    async def _send_part(self, work: _Work, parts: list[str], index: int) -> None:
        chat_id = work.chat_id
        delay = 0.5
        for attempt in range(1, INLINE_ATTEMPTS + 1):
            await self.flood.acquire(chat_id)
            if not await self._still_ours(work):
                raise _NotOurs
            try:
                # Shielded: once Telegram has a message, its record must be written even
                # if we are being stopped, or the next start would send it again.
                wire = asyncio.create_task(
                    self._send_and_record(work, parts[index], index, len(parts))
                )
                self._on_the_wire.add(wire)
                wire.add_done_callback(self._on_the_wire.discard)
                await asyncio.shield(wire)
                return
            except RetryAfter as exc:
                self.stats.retried += 1
                self.flood.retry_after(chat_id, seconds(exc.retry_after))
            except NetworkError as exc:  # timeouts and 5xx; BadRequest/Forbidden pass up
                self.stats.retried += 1
                if attempt == INLINE_ATTEMPTS:
                    raise _Transient(type(exc).__name__) from None
                await self.timer.sleep(delay * random.uniform(0.5, 1.5))
                delay *= 2
        raise _Transient("rate limited repeatedly")

    async def _send_and_record(self, work: _Work, text: str, index: int, total: int) -> None:
        payload, chat_id = work.payload, work.chat_id
        protect, last = work.claim.protect, index == total - 1
        if payload.attachment is not None:
            message_id = await self._send_attachment(
                chat_id, payload.attachment, text, protect, markup(payload.buttons)
            )
            await self._record_part(work, index, total, message_id)
            return
        if payload.document is not None:
            name, content = payload.document
            sent = await self.bot.send_document(
                chat_id=chat_id,
                document=InputFile(content, filename=name),
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(payload.buttons),
                protect_content=protect or None,
            )
            await self._record_part(work, index, total, sent.message_id)
            return
        sent = await self.bot.send_message(
            chat_id=chat_id,
            text=text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(payload.buttons) if last else None,
            protect_content=protect or None,
            reply_parameters=(
                ReplyParameters(payload.reply_to, allow_sending_without_reply=True)
                if payload.reply_to and index == 0
                else None
            ),
        )
        await self._record_part(work, index, total, sent.message_id)

    async def _send_attachment(
        self,
        chat_id: int,
        attachment_id: int,
        caption: str,
        protect: bool,
        buttons: InlineKeyboardMarkup | None,
    ) -> int:
        """Send a stored file by the file_id Telegram gave it, or upload its bytes (the
        first time, or when Telegram no longer takes the id) and keep the new id.

        Never the id of the file as the user sent it: what is stored is the cleaned copy
        (images re-encoded without their metadata), and that is what goes out.
        """
        async with self.db.uow() as uow:
            row = await uow.attachments.get(attachment_id)
            if row is None or row.purged_at is not None:
                raise BadRequest("file no longer stored")
            file = _FileToSend(row.id, row.case_id, row.kind, row.size, row.width, row.height)
            file_id = row.telegram_file_id
        if file_id is not None:
            try:
                sent = await file.send(self.bot, chat_id, file_id, caption, protect, buttons)
                return sent.message_id
            except BadRequest as exc:
                if not any(e in exc.message.lower() for e in _STALE_FILE_ID):
                    raise
                log.info("attachment:%s: file_id no longer taken; uploading", attachment_id)
        async with self.db.uow() as uow:
            row = await uow.attachments.get(attachment_id)
            content = await uow.attachments.content(row) if row is not None else None
        if content is None:
            raise BadRequest("file no longer stored")
        sent = await file.send(
            self.bot, chat_id, InputFile(content, filename=file.name), caption, protect, buttons
        )
        new_id = file.file_id_of(sent)
        if new_id is not None and new_id != file_id:
            async with self.db.uow() as uow:
                await uow.attachments.set_file_id(attachment_id, new_id)
                await uow.commit()
        return sent.message_id

    async def _record_part(self, work: _Work, index: int, total: int, message_id: int) -> None:
        last = index + 1 == total
        recorded: asyncio.Future[_Work | None] = asyncio.get_running_loop().create_future()
        self._to_record.append((SentPart(work.claim, index + 1, message_id, last), recorded))
        if self._recorder is None:
            self._recorder = asyncio.create_task(self._record_waiting(), name="outbox-recorder")
        following = await recorded
        if last:
            self.stats.sent += 1
            self._chained[work.chat_id] = following

    async def _record_waiting(self) -> None:
        """Record every sent part that is waiting, in one transaction.

        Under load many chats' sends finish while one transaction holds the database;
        they are recorded together in the next (group commit) instead of each paying for
        its own. Each chat's next message is claimed in the same transaction. A batch
        that fails is tried again part by part, so one bad record cannot leave the
        others unrecorded (and sent twice once their leases run out).
        """
        try:
            while self._to_record:
                batch, self._to_record = self._to_record, []
                try:
                    await self._record(batch)
                except Exception:  # a lone part's error went to its sender
                    if len(batch) > 1:
                        for one in batch:
                            with contextlib.suppress(Exception):
                                await self._record([one])
        finally:
            self._recorder = None

    async def _record(self, batch: list[tuple[SentPart, asyncio.Future[_Work | None]]]) -> None:
        parts = [part for part, _ in batch]
        # Without its owner lock this process claims nothing more (the sent parts are
        # still recorded: they are with Telegram whoever claims what follows).
        chats = [p.message.chat_id for p in parts if p.last] if self._may_claim() else []
        owner = self._owner()
        try:
            async with self.db.uow() as uow:
                now = self.clock.now()
                await uow.outbox.record_sent(parts, now)
                claimed = await uow.outbox.claim_next_of(chats, now, now + LEASE, owner)
                await uow.commit()
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
            raise
        following = {chat: _Work.of(claim, owner) for chat, claim in claimed.items()}
        for part, recorded in batch:
            # pop: one sender per chat takes its next message, never two.
            chat = part.message.chat_id
            recorded.set_result(following.pop(chat, None) if part.last else None)

    async def _retry_later(self, outbox_id: int, reason: str) -> None:
        async with self.db.uow() as uow:
            row = await uow.outbox.get(outbox_id)
            assert row is not None
            now = self.clock.now()
            row.attempts += 1
            if now - row.created_at >= self.max_age:
                await self._mark_failed(uow, row, reason)
            else:
                backoff = min(300.0, 2.0 ** min(row.attempts, 8)) * random.uniform(0.5, 1.5)
                row.status, row.claimed_until = "pending", None
                row.next_attempt_at = now + timedelta(seconds=backoff)
                row.last_error = reason[:200]
            await uow.commit()

    async def _fail(self, outbox_id: int, reason: str) -> None:
        async with self.db.uow() as uow:
            row = await uow.outbox.get(outbox_id)
            assert row is not None
            await self._mark_failed(uow, row, reason)
            await uow.commit()

    async def _mark_failed(self, uow: UnitOfWork, row: OutboxMessage, reason: str) -> None:
        now = self.clock.now()
        row.status, row.last_error, row.claimed_until = "failed", reason[:200], None
        self.stats.failed += 1
        log.error("outbox %s to chat %s failed: %s", row.id, row.chat_id, reason)
        await uow.audit.record(now, "delivery", "message.failed", f"outbox:{row.id}")
        await self.on_failed(uow, row, now)

    async def _unreachable(self, outbox_id: int, reason: str) -> None:
        async with self.db.uow() as uow:
            row = await uow.outbox.get(outbox_id)
            assert row is not None
            now = self.clock.now()
            row.status, row.last_error, row.claimed_until = "undeliverable", reason, None
            self.stats.unreachable += 1
            person = await uow.people.get(row.recipient_id) if row.recipient_id else None
            if person is not None and person.reachable:
                # Told once, on the change: later messages are held without a call.
                person.reachable, person.unreachable_since = False, now
                await uow.outbox.hold_for(person.id, "recipient unreachable")
                await uow.audit.record(now, "delivery", "person.unreachable", person.ref)
                log.warning("%s is unreachable (%s)", person.ref, reason)
                await self.on_unreachable(uow, person, now)
            await uow.commit()
        self.wake()

"""Durable intake: every update is stored (encrypted) before Telegram is told we have it.

python-telegram-bot's own Updater confirms an update (the next getUpdates offset, or the
webhook's 200) before any handler runs, so a crash loses whatever sat in its queue.
Here the poll loop stores the batch, commits, and only then asks for the next offset;
the processor handles stored updates in order and marks each done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application

from core.clock import Clock
from delivery.ratelimit import IncomingRateLimit, Verdict, sender_of
from storage.uow import COMMIT_GROUP, HANDLING_UPDATE, CommitGroup, Database, HandlingUpdate

log = logging.getLogger(__name__)


LANES = 8  # users whose updates may be in hand at once


def seconds(value: int | float | timedelta) -> float:
    """PTB gives retry_after as seconds or as a timedelta, depending on its settings."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Intake:
    """Stores incoming updates and feeds them, one at a time, to the Application."""

    def __init__(
        self,
        db: Database,
        application: Application,
        clock: Clock,
        *,
        poll_timeout: int = 30,
        recheck_seconds: float | None = None,
        on_conflict: Callable[[], Awaitable[None]] | None = None,
        on_handled: Callable[[str], None] | None = None,
        rate_limit: IncomingRateLimit | None = None,
        on_slow_down: Callable[[int], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self.db = db
        self.application = application
        self.clock = clock
        self.poll_timeout = poll_timeout
        # Another process may store updates (a webhook behind a load balancer): look in
        # the database this often even when nothing here woke us.
        self.recheck_seconds = recheck_seconds
        self.on_conflict = on_conflict
        self.on_handled = on_handled
        self.rate_limit = rate_limit
        self.on_slow_down = on_slow_down
        self.dropped = 0
        self._warnings: set[asyncio.Task[None]] = set()
        self._lanes = asyncio.Semaphore(LANES)
        # Handler transactions of different users finishing together share one commit.
        self.group = CommitGroup(db)
        self._wake = asyncio.Event()
        self._handled = asyncio.Condition()
        self.last_handled = 0
        self._processing: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None
        # Webhook calls waiting for their update to be stored (see `receive`).
        self._arrivals: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._storing: asyncio.Task[None] | None = None
        self.store_commits = 0
        # Updates this process polled, by id, until handled (the stored copy is what
        # counts: an update is only handled once its row says pending).
        self._polled: dict[int, Update] = {}

    def admit(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The updates within their senders' rate limit; the rest are dropped unstored."""
        if self.rate_limit is None:
            return payloads
        now = self.clock.now().timestamp()
        kept = []
        for payload in payloads:
            sender = sender_of(payload)
            verdict = Verdict.ALLOW if sender is None else self.rate_limit.check(sender[0], now)
            if verdict is Verdict.ALLOW:
                kept.append(payload)
                continue
            self.dropped += 1
            assert sender is not None
            if verdict is Verdict.WARN:
                log.warning("user %s is over the incoming rate limit", sender[0])
                if sender[1] is not None and self.on_slow_down is not None:
                    # Not awaited: the poll loop must not wait on Telegram for an abuser.
                    task = asyncio.create_task(self.on_slow_down(sender[1]))
                    self._warnings.add(task)
                    task.add_done_callback(self._warnings.discard)
        return kept

    async def store(
        self, payloads: list[dict[str, Any]], parsed: dict[int, Update] | None = None
    ) -> int:
        """Store new updates (duplicates ignored); returns how many were new.

        `parsed`: the same updates as PTB objects, kept to be handled from.
        """
        payloads = self.admit(payloads)
        if not payloads:
            return 0
        # Another process (a webhook behind a load balancer) may store the same update:
        # the insert skips an update_id already there instead of failing.
        batch = {int(p["update_id"]): json.dumps(p, separators=(",", ":")) for p in payloads}
        async with self.db.uow() as uow:
            stored = await uow.inbound.add_new(batch, self.clock.now())
            await uow.commit()
        self.store_commits += 1
        new = len(stored)
        fresh = {i: parsed[i] for i in stored if i in parsed} if parsed is not None else {}
        self._polled.update(fresh)
        if new:
            self._wake.set()
        return new

    async def receive(self, payload: dict[str, Any]) -> None:
        """Store one update from a webhook call; returns once it is committed.

        Telegram makes several webhook calls at once (up to `max_connections`). Calls
        that arrive while a store is being committed are stored together by the next
        one, in one transaction, and each is answered once that commits: one commit per
        burst instead of one per call.
        """
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals.append((payload, arrived))
        if self._storing is None:
            self._storing = asyncio.create_task(self._store_arrivals(), name="intake-receive")
        await asyncio.shield(arrived)

    async def _store_arrivals(self) -> None:
        try:
            while self._arrivals:
                batch, self._arrivals = self._arrivals, []
                try:
                    await self.store([payload for payload, _ in batch])
                except Exception as exc:
                    for _, arrived in batch:
                        if not arrived.done():
                            arrived.set_exception(exc)
                else:
                    for _, arrived in batch:
                        if not arrived.done():
                            arrived.set_result(None)
        finally:
            self._storing = None

    async def process_pending(self) -> int:
        """Handle every stored, unhandled update: each user's in order, users side by side.

        One user's updates must be handled one at a time and in order (a conversation is
        a sequence), but nothing orders two users' updates, so while one user's handler
        waits on the database or Telegram another user's can run.
        """
        count = 0
        while True:
            async with self.db.uow() as uow:
                rows = await uow.inbound.pending(50)
                if rows:  # people changed elsewhere are seen from the next batch on
                    self.db.people.check(await uow.people.generation())
                # An update this process polled is handled from the object it already
                # parsed; decrypting and parsing the stored copy again cost as much.
                batch = [
                    (row.update_id, None if row.update_id in self._polled else row.payload)
                    for row in rows
                ]
            if not batch:
                return count
            lanes: dict[object, list[tuple[int, str | None]]] = {}
            for update_id, payload in batch:
                lane = self._lane(update_id, payload)
                lanes.setdefault(lane, []).append((update_id, payload))
            grouped = COMMIT_GROUP.set(self.group)
            try:
                await asyncio.gather(*(self._handle_lane(lane) for lane in lanes.values()))
            finally:
                COMMIT_GROUP.reset(grouped)
                await self.group.close()
            count += len(batch)
            async with self._handled:
                self.last_handled = max(self.last_handled, batch[-1][0])
                self._handled.notify_all()

    def _lane(self, update_id: int, payload: str | None) -> object:
        """Whose update this is: updates of one sender keep their order."""
        polled = self._polled.get(update_id)
        if polled is not None:
            user = polled.effective_user
            return user.id if user is not None else ("update", update_id)
        try:
            sender = sender_of(json.loads(payload or "{}"))
        except ValueError:
            sender = None
        return sender[0] if sender is not None else ("update", update_id)

    async def _handle_lane(self, lane: list[tuple[int, str | None]]) -> None:
        async with self._lanes:
            for update_id, payload in lane:
                await self._handle(update_id, payload)

    async def _handle(self, update_id: int, payload: str | None) -> None:
        handling = HandlingUpdate(update_id, self.clock.now())
        token = HANDLING_UPDATE.set(handling)
        try:
            update = self._polled.pop(update_id, None) or Update.de_json(
                json.loads(payload or "{}"), self.application.bot
            )
            # process_update routes handler exceptions to the error handler itself.
            await self.application.process_update(update)
        except Exception as exc:  # a malformed payload must not block the queue forever
            log.error("update %s could not be processed: %s", update_id, type(exc).__name__)
        finally:
            HANDLING_UPDATE.reset(token)
        if not handling.marked:  # no handler committed (nothing to do, or it failed)
            async with self.db.uow() as uow:
                await uow.inbound.mark_done(update_id, self.clock.now())
                await uow.commit()
        if self.on_handled is not None:
            self.on_handled("done")

    async def wait_handled(self, update_id: int, timeout: float = 10.0) -> None:
        """Wait until `update_id` (and everything before it) has been handled."""
        async with asyncio.timeout(timeout), self._handled:
            await self._handled.wait_for(lambda: self.last_handled >= update_id)

    async def _process_loop(self) -> None:
        while True:
            try:
                await self.process_pending()
            except Exception as exc:  # the database went away: try again shortly
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Stopping: a failure caused by the cancellation must not swallow it.
                    raise asyncio.CancelledError from exc
                log.error("handling stored updates failed: %s", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.recheck_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def _poll_loop(self) -> None:
        bot = self.application.bot
        async with self.db.uow() as uow:
            highest = await uow.inbound.highest_id()
        offset = highest + 1 if highest is not None else None
        delay = 1.0
        while True:
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=self.poll_timeout,
                    allowed_updates=Update.ALL_TYPES,
                    read_timeout=self.poll_timeout + 10,
                )
                delay = 1.0
            except RetryAfter as exc:
                await asyncio.sleep(seconds(exc.retry_after))
                continue
            except Conflict:
                if self.on_conflict is not None:
                    # Handled as a lost lock: the callback stops this loop.
                    log.error("another process is polling this bot (409 Conflict)")
                    await self.on_conflict()
                    return
                log.error("another process is polling this bot (409 Conflict); backing off")
                await asyncio.sleep(min(delay, 30.0))
                delay *= 2
                continue
            except (TimedOut, NetworkError) as exc:
                log.warning("getUpdates failed: %s; retrying", type(exc).__name__)
                await asyncio.sleep(min(delay, 30.0))
                delay *= 2
                continue
            if not updates:
                continue
            await self.store(
                [u.to_dict() for u in updates], parsed={u.update_id: u for u in updates}
            )
            # Only now, with the batch committed, may Telegram forget it.
            offset = max(u.update_id for u in updates) + 1

    def start(self, *, poll: bool) -> None:
        """Start handling stored updates and, when `poll`, long polling."""
        if self._processing is None:
            self._processing = asyncio.create_task(self._process_loop(), name="intake-process")
        if poll and self._polling is None:
            self._polling = asyncio.create_task(self._poll_loop(), name="intake-poll")

    async def stop(self) -> None:
        """Stop polling and processing at once; stored updates wait for whoever goes on.

        An update being handled is cancelled mid-way: its transaction rolls back and the
        update stays pending, so the next holder handles it from the start.
        """
        tasks = [t for t in (self._polling, self._processing) if t is not None]
        self._polling = self._processing = None
        self._polled.clear()
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

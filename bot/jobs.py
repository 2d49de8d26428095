"""The bot's timed background work: one table of jobs, each with its interval setting.

BotRuntime starts jobs only from `JOBS`: it schedules every one, runs those marked
`at_start` as it starts and `on_taking_updates` when it takes the updates; the sandbox
(through bot.sandboxed) and tests run the same table (`run_sweeps`). Every job is safe
in every process at once: reminders and escalations claim their rows (SKIP LOCKED on
PostgreSQL), conversations are expired by the update taker only, and the nightly purge
runs once a night across processes (`NightlyPurge`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Settings
from core.clock import Clock
from handlers.base import frames_only
from handlers.jobs import dispatch_reminders, expire_conversations, run_escalations, run_mdt
from services.retention import PurgeResult, Skipped, last_purge, purge_once
from storage.uow import Database

if TYPE_CHECKING:
    from handlers.base import Resources

log = logging.getLogger(__name__)
# The audit head is logged as bot.app, where operators have always looked for it.
audit_log = logging.getLogger("bot.app")

# A purge that failed is tried again after this, not at every check.
PURGE_RETRY = timedelta(minutes=15)


class _Leadership(Protocol):
    @property
    def is_holder(self) -> bool: ...


class JobRuntime(Protocol):
    """What the jobs use of the running bot (bot.app.BotRuntime, which imports this
    module: a protocol keeps the import one-way)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def resources(self) -> Resources: ...

    @property
    def leadership(self) -> _Leadership: ...

    @property
    def nightly_purge(self) -> NightlyPurge: ...


@dataclass(frozen=True)
class Job:
    """One timed job: its scheduler id, how often it runs, and what it runs."""

    name: str
    every: Callable[[Settings], float]  # seconds between runs, from the settings
    run: Callable[[JobRuntime], Awaitable[object]]
    # Follows the service's clock (due reminders, idle conversations, late queries): the
    # sandbox runs these after moving its clock.
    sweep: bool = False
    # Also run once as the process starts, before scheduling: work that fell due while
    # no process ran (reminders: sent if under 6 h late, else missed) is not left waiting.
    at_start: bool = False
    # Also run once when this process takes the updates: timeouts that fell due while
    # nobody held the lock fire then, not an interval later.
    on_taking_updates: bool = False


async def expire_if_holder(runtime: JobRuntime) -> int:
    # Only the update taker: a standby ending a conversation would race the holder's
    # handling of that user's next answer.
    if not runtime.leadership.is_holder:
        return 0
    return await expire_conversations(runtime.resources)


async def _reminders(runtime: JobRuntime) -> int:
    return await dispatch_reminders(runtime.resources)


async def _escalations(runtime: JobRuntime) -> int:
    return await run_escalations(runtime.resources, runtime.settings.ACK_SLA)


async def _mdt(runtime: JobRuntime) -> int:
    return await run_mdt(runtime.resources)


async def log_audit_head(db: Database) -> tuple[int, str] | None:
    """Write the audit chain's head to the log (kept apart from the database)."""
    async with db.uow() as uow:
        head = await uow.audit.head()
    if head is not None:
        audit_log.info("audit head: entry %s mac %s", head[0], head[1])
    return head


async def _audit_head(runtime: JobRuntime) -> object:
    return await log_audit_head(runtime.db)


async def _nightly_purge(runtime: JobRuntime) -> object:
    return await runtime.nightly_purge()


JOBS: tuple[Job, ...] = (
    Job(
        "expire-conversations",
        lambda s: s.CONVERSATION_SWEEP_SECONDS,
        expire_if_holder,
        sweep=True,
        on_taking_updates=True,
    ),
    Job("reminders", lambda s: s.REMINDER_SWEEP_SECONDS, _reminders, sweep=True, at_start=True),
    Job("escalations", lambda s: s.ESCALATION_SWEEP_SECONDS, _escalations, sweep=True),
    Job("mdt", lambda s: s.MDT_SWEEP_SECONDS, _mdt, sweep=True, at_start=True),
    Job("audit-head", lambda s: s.AUDIT_HEAD_MINUTES * 60, _audit_head, at_start=True),
    Job("retention-purge", lambda s: s.PURGE_CHECK_SECONDS, _nightly_purge),
)


def schedule(scheduler: AsyncIOScheduler, runtime: JobRuntime) -> None:
    """Register every job of the table on `scheduler` (started by the caller)."""
    for job in JOBS:
        scheduler.add_job(
            _guarded,
            "interval",
            seconds=job.every(runtime.settings),
            args=[job, runtime],
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
        )


async def _guarded(job: Job, runtime: JobRuntime) -> None:
    # APScheduler would log the exception's message, which may quote personal data.
    try:
        await job.run(runtime)
    except Exception as exc:
        log.error("job %s failed: %s\n%s", job.name, type(exc).__name__, frames_only(exc))


async def run_at_start(runtime: JobRuntime) -> None:
    """The table's start-up jobs, in order; a failure fails the start."""
    for job in JOBS:
        if job.at_start:
            await job.run(runtime)


async def run_on_taking_updates(runtime: JobRuntime) -> None:
    """The table's jobs for a process that has just taken the updates."""
    for job in JOBS:
        if job.on_taking_updates:
            await job.run(runtime)


async def run_sweeps(runtime: JobRuntime) -> int:
    """Every sweep of the table once, now (the sandbox, after moving its clock)."""
    done = 0
    for job in JOBS:
        if job.sweep:
            done += int(await job.run(runtime))  # type: ignore[call-overload]
    return done


def last_due(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The latest `at` (a time of day in `zone`) at or before `now`, in UTC."""
    local = now.astimezone(zone)
    due = datetime.combine(local.date(), at, tzinfo=zone)
    if due > local:
        due = datetime.combine(local.date() - timedelta(days=1), at, tzinfo=zone)
    return due.astimezone(UTC)


class NightlyPurge:
    """The purge, once a night at PURGE_AT, in one process of however many run.

    Each check finds when the purge was last due. It runs when that moment passed while
    this process was running, or (on the first check) when the audit log shows the last
    purge before it: a night when no process ran is made up when one starts. Either way
    `purge_once` decides under a database lock, so one purge and one audit entry per night.
    """

    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self.db, self.clock = db, clock
        self.at, self.zone = settings.PURGE_AT, settings.TIMEZONE
        self.retention = settings.retention
        self.handled: datetime | None = None  # the due time this process needs do nothing for
        self.retry_after: datetime | None = None

    async def __call__(self) -> PurgeResult | Skipped | None:
        now = self.clock.now()
        due = last_due(now, self.at, self.zone)
        if due == self.handled or (self.retry_after is not None and now < self.retry_after):
            return None
        try:
            if self.handled is None:
                async with self.db.uow() as uow:
                    last = await last_purge(uow)
                if last is None or last >= due:
                    # Done already, or a new database: nothing until the next PURGE_AT.
                    self.handled = due
                    return None
            outcome = await purge_once(self.db, now, self.retention, due)
        except Exception as exc:
            log.error("retention purge failed: %s\n%s", type(exc).__name__, frames_only(exc))
            self.retry_after = now + PURGE_RETRY
            return None
        self.retry_after = None
        if outcome is Skipped.ELSEWHERE:
            return outcome  # not done yet: if that process dies, the next check takes over
        self.handled = due
        if isinstance(outcome, PurgeResult):
            log.info("retention purge: %s", outcome.as_dict())
        return outcome

"""Wiring: the Application, its handlers, the intake, the scheduler, start and stop."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseHandler, ContextTypes, TypeHandler

from bot.config import Settings
from bot.health import HealthServer
from bot.leadership import AdvisoryLock, Leadership, SoleProcess, asyncpg_connector
from bot.webhook import WebhookServer
from delivery.flood import FloodControl, Timer
from delivery.inbound import Intake
from delivery.outbox import Dispatcher
from delivery.ratelimit import IncomingRateLimit
from delivery.sender import Sender
from handlers import (
    admin,
    appointments,
    cases,
    closing,
    common,
    erasure,
    queries,
    registration,
    texts,
)
from handlers.base import (
    Conversation,
    Services,
    conversation_router,
    expire_conversations,
    frames_only,
    services_of,
)
from monitoring.metrics import DeliveryCounts, Metrics
from services.clock import Clock, SystemClock
from services.retention import PurgeResult, purge
from storage.audit import chain_head
from storage.crypto import Keyring
from storage.uow import Database

log = logging.getLogger(__name__)

CONVERSATIONS: list[Conversation] = [
    *registration.CONVERSATIONS,
    *cases.CONVERSATIONS,
    *queries.CONVERSATIONS,
    *appointments.CONVERSATIONS,
]


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure without personal data and tell the user, so nobody waits in silence."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    log.error(
        "update %s failed: %s\n%s",
        update_id,
        type(error).__name__,
        frames_only(error) if error else "",
    )
    if (
        isinstance(update, Update)
        and update.effective_chat
        and update.effective_chat.type == "private"
    ):
        try:
            if update.callback_query is not None:
                await update.callback_query.answer()
            await services_of(context).sender.send_direct(
                update.effective_chat.id, texts.SOMETHING_WENT_WRONG
            )
        except TelegramError as exc:
            log.warning("could not tell user about failure: %s", type(exc).__name__)


async def run_purge(db: Database, clock: Clock, retention: timedelta) -> PurgeResult | None:
    """Scheduled: apply the retention policy; a failure is logged and retried tomorrow."""
    try:
        result = await purge(db, clock.now(), retention)
    except Exception as exc:
        log.error("retention purge failed: %s\n%s", type(exc).__name__, frames_only(exc))
        return None
    log.info("retention purge: %s", result.as_dict())
    return result


async def log_audit_head(db: Database) -> tuple[int, str] | None:
    """Scheduled: write the audit chain's head to the log (kept apart from the database)."""
    async with db.uow() as uow:
        head = await chain_head(uow.session)
    if head is not None:
        log.info("audit head: entry %s mac %s", head[0], head[1])
    return head


def build_application(settings: Settings, token: str) -> Application:
    """A python-telegram-bot Application without its Updater: our intake feeds it."""
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.TELEGRAM_API_BASE_URL)
        .updater(None)
        .job_queue(None)  # timers live in the database, driven by our own scheduler
        .concurrent_updates(False)
        .connect_timeout(settings.TELEGRAM_TIMEOUT)
        .read_timeout(settings.TELEGRAM_TIMEOUT)
        .write_timeout(settings.TELEGRAM_TIMEOUT)
        .pool_timeout(settings.TELEGRAM_TIMEOUT)
        .connection_pool_size(64)
    )
    if settings.TELEGRAM_API_FILE_URL:
        builder = builder.base_file_url(settings.TELEGRAM_API_FILE_URL)
    return builder.build()


class BotRuntime:
    """One running bot: database, Application, intake, scheduled work."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        poll_timeout: int = 30,
        conversations: Iterable[Conversation] = (),
        handlers: Iterable[tuple[int, BaseHandler[Any, Any, Any]]] = (),
        sweep_seconds: float = 30.0,
        engine_kwargs: dict[str, object] | None = None,
        timer: Timer | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        token = settings.require_token()
        self.db = Database(
            settings.DATABASE_URL,
            Keyring.from_keys(settings.ENCRYPTION_KEYS, settings.INDEX_KEY),
            **(engine_kwargs or {}),
        )
        self.leadership: Leadership
        if self.db.dialect == "postgresql":
            connect_args = dict((engine_kwargs or {}).get("connect_args", {}) or {})  # type: ignore[call-overload]
            self.leadership = AdvisoryLock(
                asyncpg_connector(settings.DATABASE_URL, connect_args),
                check_seconds=settings.LEADER_CHECK_SECONDS,
            )
        else:
            self.leadership = SoleProcess(settings.DATABASE_URL)
        self.metrics = Metrics()
        self.application = build_application(settings, token)
        self.flood = FloodControl(
            settings.SEND_GLOBAL_RATE,
            settings.SEND_PER_CHAT_RATE,
            settings.SEND_PER_CHAT_BURST,
            timer=timer,
        )
        self.dispatcher = Dispatcher(
            self.db,
            self.application.bot,
            self.flood,
            self.clock,
            max_age=settings.SEND_MAX_AGE,
        )
        self.sender = Sender(self.application.bot, self.flood, self.dispatcher.wake)
        self.services = Services(
            db=self.db,
            clock=self.clock,
            sender=self.sender,
            timezone=settings.TIMEZONE,
            service_phone=settings.SERVICE_PHONE,
            bot_username=settings.BOT_USERNAME,
            conversations={c.name: c for c in [*CONVERSATIONS, *conversations]},
            reminder_offsets=settings.REMINDER_OFFSETS,
            quiet_hours=settings.QUIET_HOURS,
            metrics=self.metrics,
            ack_sla=settings.ACK_SLA,
        )
        self.application.bot_data["services"] = self.services
        self.application.add_handler(TypeHandler(Update, conversation_router), group=-1)
        for group, handler in [
            *common.handlers(),
            *registration.handlers(),
            *cases.handlers(),
            *queries.handlers(),
            *appointments.handlers(),
            *admin.handlers(),
            *closing.handlers(),
            *erasure.handlers(),
            *handlers,
            *common.fallbacks(),
        ]:
            self.application.add_handler(handler, group=group)
        self.application.add_error_handler(on_error)
        self.intake = Intake(
            self.db,
            self.application,
            self.clock,
            poll_timeout=poll_timeout,
            recheck_seconds=1.0 if self.db.dialect == "postgresql" else None,
            on_conflict=self.leadership.conflict,
            on_handled=lambda outcome: self.metrics.updates_handled.labels(outcome).inc(),
            rate_limit=IncomingRateLimit(
                settings.INCOMING_RATE_PER_MINUTE, settings.INCOMING_BURST
            ),
            on_slow_down=self._slow_down,
        )
        stats = self.dispatcher.stats
        self.metrics.delivery = lambda: DeliveryCounts(
            stats.sent, stats.retried, stats.failed, stats.unreachable
        )
        self.metrics.is_holder = lambda: self.leadership.is_holder
        self.health = HealthServer(
            self.db,
            self.clock,
            self.metrics,
            lambda: self.leadership.role,
            listen=settings.HEALTH_LISTEN,
            port=settings.HEALTH_PORT,
        )
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.sweep_seconds = sweep_seconds
        self.webhook: WebhookServer | None = None

    async def start(self) -> None:
        """Migrate, connect to Telegram, start scheduled work, then compete to take updates."""
        self.leadership.prepare()  # SQLite: refuse before touching a file in use
        try:
            await self._start()
        except BaseException:
            await self.leadership.stop()
            raise
        # What exists now (modules, the application, tables' metadata) lives as long as
        # the process: frozen, the collector stops re-scanning it on every full
        # collection, which otherwise paused the event loop for ~100 ms at a time.
        gc.freeze()

    async def _start(self) -> None:
        await self.db.migrate()
        await self.application.initialize()
        await self.application.start()
        if not self.services.bot_username:
            self.services.bot_username = self.application.bot.username
        await common.set_menu(self.application.bot, None, None)
        # Messages committed before a crash go out first; then stored updates are handled.
        # Every process sends: outbox rows are claimed one by one (SKIP LOCKED).
        await self.dispatcher.start()
        # Reminders that fell due while the bot was down: sent if < 6 h late, else missed.
        await appointments.dispatch_reminders(self.services)
        self.scheduler.add_job(
            self._expire_conversations,
            "interval",
            seconds=self.sweep_seconds,
            id="expire-conversations",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            appointments.dispatch_reminders,
            "interval",
            seconds=30,
            args=[self.services],
            id="reminders",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            queries.run_escalations,
            "interval",
            seconds=60,
            args=[self.services, self.settings.ACK_SLA],
            id="escalations",
            max_instances=1,
            coalesce=True,
        )
        await log_audit_head(self.db)
        self.scheduler.add_job(
            log_audit_head,
            "interval",
            minutes=15,
            args=[self.db],
            id="audit-head",
            max_instances=1,
            coalesce=True,
        )
        # Retention: once a day, at night in the service's time zone.
        self.scheduler.add_job(
            run_purge,
            "cron",
            hour=3,
            minute=30,
            timezone=self.settings.TIMEZONE,
            args=[self.db, self.clock, self.settings.retention],
            id="retention-purge",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        await self.health.start()
        if self.settings.WEBHOOK_URL:
            assert self.settings.WEBHOOK_SECRET
            # Every process accepts webhook calls (behind a load balancer any may get
            # one); each stores the update and the holder handles it.
            self.webhook = WebhookServer(
                self.intake,
                secret=self.settings.WEBHOOK_SECRET,
                url=self.settings.WEBHOOK_URL,
                listen=self.settings.LISTEN,
                port=self.settings.PORT,
            )
            await self.webhook.start()
        await self.leadership.start(self._take_updates, self._stop_taking_updates)
        log.info(
            "bot started (%s mode, %s)",
            "webhook" if self.webhook else "polling",
            self.leadership.role,
        )

    async def _take_updates(self) -> None:
        """This process holds the lock: register the webhook or poll, and handle updates."""
        # Timeouts that fell due while nobody held the lock fire now, not 30 minutes later.
        await self._expire_conversations()
        if self.settings.WEBHOOK_URL:
            await self.application.bot.set_webhook(
                self.settings.WEBHOOK_URL,
                secret_token=self.settings.WEBHOOK_SECRET,
                allowed_updates=Update.ALL_TYPES,
            )
            self.intake.start(poll=False)
        else:
            await self.application.bot.delete_webhook()
            self.intake.start(poll=True)

    async def _slow_down(self, chat_id: int) -> None:
        try:
            await self.sender.send_direct(chat_id, texts.SLOW_DOWN)
        except TelegramError as exc:
            log.warning("could not send slow-down notice: %s", type(exc).__name__)

    async def _stop_taking_updates(self) -> None:
        await self.intake.stop()

    async def _expire_conversations(self) -> None:
        # Only the update taker: a standby ending a conversation would race the holder's
        # handling of that user's next answer.
        if self.leadership.is_holder:
            await expire_conversations(self.services)

    async def stop(self) -> None:
        """Stop taking updates, hand over the lock, finish scheduled work, close connections."""
        await self.intake.stop()
        await self.leadership.stop()
        await self.dispatcher.stop()
        if self.webhook:
            await self.webhook.stop()
        await self.health.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()
        await self.db.dispose()
        gc.unfreeze()  # collectable again (tests start many runtimes in one process)
        log.info("bot stopped")

    async def drained(self, timeout: float = 10.0) -> None:
        """Wait until every message due has left the outbox."""
        await self.dispatcher.wait_idle(timeout)

    async def run_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

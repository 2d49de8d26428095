"""Wiring: the Application, its handlers, the intake, the scheduler, start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from alembic.util.exc import CommandError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.engine import URL, make_url
from telegram import Update
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import Application, BaseHandler, ContextTypes

from bot import jobs
from bot.config import ConfigError, Settings, StartupError
from bot.delivery_rules import tell_admins_it_failed, tell_dependants_unreachable
from bot.health import HealthServer
from bot.leadership import AdvisoryLock, Leadership, SoleProcess, asyncpg_connector
from bot.webhook import WebhookServer
from core.clock import Clock, SystemClock
from delivery.flood import FloodControl, Timer
from delivery.inbound import Intake
from delivery.outbox import Dispatcher
from delivery.ratelimit import IncomingRateLimit
from delivery.sender import Sender
from handlers import commands, texts
from handlers.base import Conversation, Resources, frames_only, resources_of
from handlers.menus import set_menu
from monitoring.metrics import DeliveryCounts, Metrics
from storage.crypto import Keyring
from storage.uow import Database

log = logging.getLogger(__name__)

CONVERSATIONS: list[Conversation] = commands.CONVERSATIONS


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
            await resources_of(context).sender.send_direct(
                update.effective_chat.id, texts.SOMETHING_WENT_WRONG
            )
        except TelegramError as exc:
            log.warning("could not tell user about failure: %s", type(exc).__name__)


def file_url(settings: Settings) -> str:
    """Where files are downloaded from: TELEGRAM_API_FILE_URL, or beside the API's own
    address (`.../bot` -> `.../file/bot`, as Telegram and a local Bot API server lay
    them out), so a bot pointed at another server never fetches files from Telegram's."""
    if settings.TELEGRAM_API_FILE_URL:
        return settings.TELEGRAM_API_FILE_URL
    base = settings.TELEGRAM_API_BASE_URL.rstrip("/")
    return base.removesuffix("/bot") + "/file/bot"


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
    builder = builder.base_file_url(file_url(settings))
    return builder.build()


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def sqlite_path_problem(database_url: str) -> StartupError | None:
    """Why the SQLite file cannot be kept where DATABASE_URL says, checked before any use."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    path = Path(url.database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        reason = "part of that path is a file, not a directory"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    else:
        if not os.access(path.parent, os.W_OK | os.X_OK):
            reason = "the bot's user may not write there"
        elif path.exists() and not (path.is_file() and os.access(path, os.R_OK | os.W_OK)):
            reason = "not a file the bot's user may read and write"
        else:
            return None
    return StartupError(
        f"DATABASE_URL: cannot keep the SQLite database at {path} ({reason}); create its "
        "directory, writable by the bot's user, or point DATABASE_URL elsewhere"
    )


# The first of the exception's causes that is one of these kinds, or None.
_Find = Callable[[type[BaseException] | tuple[type[BaseException], ...]], Any]


def database_problem(database_url: str, exc: BaseException) -> StartupError | None:
    """What the operator must fix when the first connection or migration failed, or None."""
    url = make_url(database_url)
    causes = _causes(exc)

    def find(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((c for c in causes if isinstance(c, kind)), None)

    if url.get_backend_name() == "sqlite" and (problem := _sqlite_problem(url.database, find)):
        return problem
    return _server_problem(url, find) or _schema_problem(find)


def _sqlite_problem(path: str | None, find: _Find) -> StartupError | None:
    error = find(sqlite3.Error)
    text = str(error or "").lower()
    if "not a database" in text:
        return ConfigError(
            f"DATABASE_URL: {path} is not a SQLite database; point DATABASE_URL at the "
            "bot's database file"
        )
    if "locked" in text:
        return StartupError(
            f"DATABASE_URL: {path} is locked by another program; close it, then start again"
        )
    if error is not None or find(OSError) is not None:
        return StartupError(
            f"DATABASE_URL: SQLite cannot use {path} ({_first_line(error or find(OSError))}"
            "); check that it is a file the bot's user may read and write"
        )
    return None


def _server_problem(url: URL, find: _Find) -> StartupError | None:
    """PostgreSQL (or the network to it) refused the bot: what the operator must fix."""
    import asyncpg

    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if find(asyncpg.InvalidCatalogNameError):
        return ConfigError(
            f"DATABASE_URL: there is no database {url.database!r} on {where}; create it "
            "(createdb) or correct the name"
        )
    if refused := find(
        (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)
    ):
        return ConfigError(
            f"DATABASE_URL: PostgreSQL at {where} refused user {url.username!r} "
            f"({_first_line(refused)}); correct the user or password"
        )
    if denied := find(asyncpg.InsufficientPrivilegeError):
        return ConfigError(
            f"DATABASE_URL: user {url.username!r} may not create the bot's tables "
            f"({_first_line(denied)}); grant it the rights, or use the database's owner"
        )
    if find(socket.gaierror):
        return ConfigError(
            f"DATABASE_URL: database host {url.host!r} not found; correct the host name"
        )
    if find(ConnectionRefusedError):
        return StartupError(
            f"DATABASE_URL: nothing accepts connections at {where} (connection refused); "
            "start PostgreSQL, or correct the host and port"
        )
    if find(TimeoutError):
        return StartupError(
            f"DATABASE_URL: no answer from {where}; check that PostgreSQL runs there and "
            "that the network lets this host reach it"
        )
    if unreachable := find(OSError):
        return StartupError(
            f"DATABASE_URL: cannot reach {where} ({_first_line(unreachable)}); check the "
            "server and the network"
        )
    if other := find(asyncpg.PostgresError):
        return StartupError(
            f"DATABASE_URL: PostgreSQL at {where} refused to start the bot "
            f"({type(other).__name__}: {_first_line(other)})"
        )
    return None


def _schema_problem(find: _Find) -> StartupError | None:
    if unknown := find(CommandError):
        return StartupError(
            f"DATABASE_URL: the database's schema is not one this version knows "
            f"({_first_line(unknown)}); run the version that migrated it, or restore a backup"
        )
    return None


def telegram_problem(settings: Settings, exc: BaseException) -> StartupError | None:
    """What the operator must fix when the first call to the Bot API (getMe) failed."""
    base = settings.TELEGRAM_API_BASE_URL
    if isinstance(exc, InvalidToken):
        # PTB's message quotes the token: never shown.
        return ConfigError(
            f"TELEGRAM_BOT_TOKEN: the Bot API at {base} rejected the token; copy the current "
            "token from @BotFather (or correct TELEGRAM_API_BASE_URL)"
        )
    if not isinstance(exc, TelegramError):
        return None
    detail = _first_line(exc).replace(settings.TELEGRAM_BOT_TOKEN or "\0", "<token>")
    if isinstance(exc, TimedOut):
        return StartupError(
            f"TELEGRAM_API_BASE_URL: no answer from {base} within TELEGRAM_TIMEOUT "
            f"({settings.TELEGRAM_TIMEOUT:g} s); check the network and any proxy (HTTPS_PROXY)"
        )
    if type(exc) is NetworkError:  # its subclasses (TimedOut, BadRequest...) said more above
        return StartupError(
            f"TELEGRAM_API_BASE_URL: cannot reach {base} ({detail}); check the network, any "
            "proxy (HTTPS_PROXY) and the URL"
        )
    return StartupError(
        f"TELEGRAM_API_BASE_URL: {base} answered getMe with an error "
        f"({type(exc).__name__}: {detail}); check the URL and the token"
    )


def open_database(settings: Settings, engine_kwargs: dict[str, object] | None) -> Database:
    """The database DATABASE_URL names, after checking a SQLite file can be kept there."""
    if problem := sqlite_path_problem(settings.DATABASE_URL):
        raise problem
    return Database(
        settings.DATABASE_URL,
        Keyring.from_keys(settings.ENCRYPTION_KEYS, settings.INDEX_KEY),
        sqlite_driver_name=settings.SQLITE_DRIVER,
        **(engine_kwargs or {}),
    )


def choose_leadership(
    settings: Settings, db: Database, engine_kwargs: dict[str, object] | None
) -> Leadership:
    """Who takes the updates: an advisory lock on PostgreSQL, the only process on SQLite."""
    if db.dialect != "postgresql":
        return SoleProcess(settings.DATABASE_URL)
    connect_args = dict((engine_kwargs or {}).get("connect_args", {}) or {})  # type: ignore[call-overload]
    return AdvisoryLock(
        asyncpg_connector(settings.DATABASE_URL, connect_args),
        check_seconds=settings.LEADER_CHECK_SECONDS,
    )


@contextlib.asynccontextmanager
async def _explained(problem: Callable[[BaseException], StartupError | None]) -> Any:
    """Re-raise a failure as the StartupError `problem` makes of it, if it knows it."""
    try:
        yield
    except Exception as exc:
        known = problem(exc)
        if known is None:
            raise
        raise known from None


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
        sweep_seconds: float | None = None,
        engine_kwargs: dict[str, object] | None = None,
        timer: Timer | None = None,
    ) -> None:
        if sweep_seconds is not None:  # tests: conversations expire when they say
            settings = settings.model_copy(update={"CONVERSATION_SWEEP_SECONDS": sweep_seconds})
        self.settings = settings
        self.clock = clock or SystemClock()
        token = settings.require_token()
        self.db = open_database(settings, engine_kwargs)
        self.leadership = choose_leadership(settings, self.db, engine_kwargs)
        self.metrics = Metrics()
        self.application = build_application(settings, token)
        self.flood = FloodControl(
            settings.SEND_GLOBAL_RATE,
            settings.SEND_PER_CHAT_RATE,
            settings.SEND_PER_CHAT_BURST,
            timer=timer,
        )
        self.dispatcher = self._dispatcher()
        self.sender = Sender(self.application.bot, self.flood, self.dispatcher.wake)
        self.resources = self._resources(conversations)
        self.application.bot_data["resources"] = self.resources
        for group, handler in commands.all_handlers(handlers):
            self.application.add_handler(handler, group=group)
        self.application.add_error_handler(on_error)
        self.intake = self._intake(poll_timeout)
        self.health = self._monitoring()
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.nightly_purge = jobs.NightlyPurge(self.db, self.clock, settings)
        self.webhook = self._webhook()

    def _dispatcher(self) -> Dispatcher:
        """The outbox's sender, with the clinic's rules for what cannot be delivered."""
        return Dispatcher(
            self.db,
            self.application.bot,
            self.flood,
            self.clock,
            max_age=self.settings.SEND_MAX_AGE,
            liveness=self.leadership.liveness,
            on_failed=tell_admins_it_failed,
            on_unreachable=tell_dependants_unreachable,
        )

    def _resources(self, conversations: Iterable[Conversation]) -> Resources:
        """What every handler reaches through `resources_of(context)`."""
        settings = self.settings
        return Resources(
            db=self.db,
            clock=self.clock,
            sender=self.sender,
            timezone=settings.TIMEZONE,
            service_phone=settings.SERVICE_PHONE,
            bot_username=settings.BOT_USERNAME,
            conversations={c.name: c for c in [*CONVERSATIONS, *conversations]},
            menus=commands.menus(),
            reminder_offsets=settings.REMINDER_OFFSETS,
            quiet_hours=settings.QUIET_HOURS,
            metrics=self.metrics,
            ack_sla=settings.ACK_SLA,
            attachment_max_bytes=settings.ATTACHMENT_MAX_BYTES,
            attachments_per_case=settings.ATTACHMENTS_PER_CASE,
        )

    def _intake(self, poll_timeout: int) -> Intake:
        """Stores incoming updates and feeds them to the application, one at a time."""
        settings = self.settings
        return Intake(
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

    def _monitoring(self) -> HealthServer:
        """The metrics' view of delivery and leadership, and the server that shows them."""
        stats = self.dispatcher.stats
        self.metrics.delivery = lambda: DeliveryCounts(
            stats.sent, stats.retried, stats.failed, stats.unreachable
        )
        self.metrics.is_holder = lambda: self.leadership.is_holder
        return HealthServer(
            self.db,
            self.clock,
            self.metrics,
            lambda: self.leadership.role,
            listen=self.settings.HEALTH_LISTEN,
            port=self.settings.HEALTH_PORT,
        )

    def _webhook(self) -> WebhookServer | None:
        """The webhook server when WEBHOOK_URL is set; None: polling."""
        settings = self.settings
        if not settings.WEBHOOK_URL:
            return None
        assert settings.WEBHOOK_SECRET
        # Every process accepts webhook calls (behind a load balancer any may get
        # one); each stores the update and the holder handles it.
        return WebhookServer(
            self.intake,
            secret=settings.WEBHOOK_SECRET,
            url=settings.WEBHOOK_URL,
            listen=settings.LISTEN,
            port=settings.PORT,
        )

    async def start(self) -> None:
        """Claim the database file and the ports, connect to Telegram, migrate, start
        scheduled work, then compete to take updates.

        What an operator can get wrong (a port in use, the database or Telegram out of
        reach, a rejected token) fails as a StartupError before any message is sent, and
        whatever had started is stopped again: ports closed, locks released.
        """
        try:
            self.leadership.prepare()  # SQLite: refuse before touching a file in use
            self.health.bind()
            if self.webhook is not None:
                self.webhook.bind()
            await self._start()
        except BaseException:
            await self._shut_down(after_failure=True)
            raise
        # What exists now (modules, the application, tables' metadata) lives as long as
        # the process: frozen, the collector stops re-scanning it on every full
        # collection, which otherwise paused the event loop for ~100 ms at a time.
        gc.freeze()

    async def _start(self) -> None:
        async with _explained(lambda exc: telegram_problem(self.settings, exc)):
            await self.application.initialize()  # getMe: the token and the Bot API's reach
        async with _explained(lambda exc: database_problem(self.settings.DATABASE_URL, exc)):
            await self.db.migrate()
        await self.application.start()
        if not self.resources.bot_username:
            self.resources.bot_username = self.application.bot.username
        await set_menu(self.application.bot, None, self.resources.menus.get(None, []))
        # Messages committed before a crash go out first; then stored updates are handled.
        # Every process sends: outbox rows are claimed one by one (SKIP LOCKED).
        await self.dispatcher.start()
        # Work that fell due while the bot was down (reminders), and the audit head.
        await jobs.run_at_start(self)
        jobs.schedule(self.scheduler, self)
        self.scheduler.start()
        await self.health.start()
        if self.webhook is not None:
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
        await jobs.run_on_taking_updates(self)
        if self.settings.WEBHOOK_URL:
            try:
                await self.application.bot.set_webhook(
                    self.settings.WEBHOOK_URL,
                    secret_token=self.settings.WEBHOOK_SECRET,
                    allowed_updates=Update.ALL_TYPES,
                )
            except BadRequest as exc:
                raise ConfigError(
                    f"WEBHOOK_URL: Telegram refused {self.settings.WEBHOOK_URL} "
                    f"({_first_line(exc)}); use a public https:// URL on port 443, 80, 88 "
                    "or 8443"
                ) from None
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

    async def stop(self) -> None:
        """Stop taking updates, hand over the lock, finish scheduled work, close connections."""
        await self._shut_down()
        log.info("bot stopped")

    async def _shut_down(self, *, after_failure: bool = False) -> None:
        async def scheduler() -> None:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)

        async def application() -> None:
            if self.application.running:
                await self.application.stop()
            await self.application.shutdown()

        steps: list[Callable[[], Awaitable[None]]] = [
            self.intake.stop,
            self.leadership.stop,
            self.dispatcher.stop,
            *([self.webhook.stop] if self.webhook else []),
            self.health.stop,
            scheduler,
            application,
            self.db.dispose,
        ]
        for step in steps:
            if not after_failure:
                await step()
                continue
            # Undoing a failed start: every step runs, and the first failure is the one
            # reported.
            try:
                await step()
            except Exception as exc:
                log.debug("after a failed start, %s failed: %s", step, type(exc).__name__)
        gc.unfreeze()  # collectable again (tests start many runtimes in one process)

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

"""A small HTTP listener for orchestration: liveness, readiness and Prometheus metrics.

It runs in both polling and webhook modes, apart from the webhook's port, so metrics are
never on the port Telegram reaches.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.config import ConfigError, StartupError
from core.clock import Clock
from monitoring.metrics import DatabaseState, Metrics
from storage.uow import Database

log = logging.getLogger(__name__)

STATE_TIMEOUT = 3.0  # a readiness probe must answer even when the database does not


def listening_sockets(
    listen: str, port: int, *, listen_setting: str, port_setting: str
) -> list[socket.socket]:
    """Sockets bound to `listen:port`, or a StartupError naming the setting to change."""
    where = f"{listen}:{port}"
    try:
        return bind_sockets(port, address=listen)
    except socket.gaierror:
        problem: StartupError = ConfigError(
            f"{listen_setting}: {listen!r} is not an address of this host; use 127.0.0.1, "
            "0.0.0.0 or one of the host's own addresses"
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            problem = StartupError(
                f"{port_setting}: {where} is already in use (another referral-bot on this "
                f"host?); stop what listens there, or give each process its own {port_setting}"
            )
        elif exc.errno == errno.EADDRNOTAVAIL:
            problem = ConfigError(
                f"{listen_setting}: {listen} is not an address of this host; use 127.0.0.1, "
                "0.0.0.0 or one of the host's own addresses"
            )
        elif exc.errno == errno.EACCES:
            problem = ConfigError(
                f"{port_setting}: listening on {where} is not permitted (ports below 1024 "
                f"need privileges); set {port_setting} to a port above 1023"
            )
        else:
            problem = StartupError(
                f"{port_setting}: cannot listen on {where} ({exc.strerror}); check "
                f"{listen_setting} and {port_setting}"
            )
    raise problem


class PortServer:
    """A tornado application on `listen:port`. The port is taken early (`bind`), so a
    clash stops the start before anything else is done; `start` serves it."""

    def __init__(
        self,
        app: Application,
        listen: str,
        port: int,
        *,
        listen_setting: str,
        port_setting: str,
        max_body_size: int | None = None,
    ) -> None:
        self.app, self.listen, self.port = app, listen, port
        self.settings = {"listen_setting": listen_setting, "port_setting": port_setting}
        self.max_body_size = max_body_size
        self.server: HTTPServer | None = None
        self._sockets: list[socket.socket] = []

    def bind(self) -> None:
        """Take the port now, so a clash stops the start before anything else is done."""
        if self.server is None and not self._sockets:
            self._sockets = listening_sockets(self.listen, self.port, **self.settings)
            self.port = self._sockets[0].getsockname()[1]  # port 0 asks for a free one

    async def start(self) -> None:
        self.bind()
        self.server = HTTPServer(self.app, max_body_size=self.max_body_size)
        self.server.add_sockets(self._sockets)
        self._sockets = []

    async def stop(self) -> None:
        for sock in self._sockets:  # bound, never served (a start that failed)
            sock.close()
        self._sockets = []
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
            self.server = None


async def read_state(db: Database, clock: Clock) -> DatabaseState:
    """The database's figures for /readyz and /metrics; `reachable` False if it is down."""
    state = DatabaseState()
    try:
        async with asyncio.timeout(STATE_TIMEOUT), db.uow() as uow:
            now = clock.now()
            state.outbox = await uow.status.outbox_by_status()
            state.outbox_due = await uow.outbox.count_due(now)
            oldest = await uow.status.oldest_unsent()
            state.oldest_unsent_seconds = (
                max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            )
            state.reminders = await uow.status.reminders_by_status()
            state.reminders_due = await uow.status.reminders_due(now)
            levels = await uow.status.escalations_by_level()
            state.escalations = {
                "deputy": sum(n for level, n in levels.items() if level >= 1),
                "admins": sum(n for level, n in levels.items() if level >= 2),
            }
            state.inbound_pending = await uow.status.inbound_pending()
        state.reachable = True
    except Exception as exc:
        log.warning("database state unavailable: %s", type(exc).__name__)
    return state


class _Live(RequestHandler):
    def get(self) -> None:
        self.write({"status": "ok"})


class _Ready(RequestHandler):
    def initialize(
        self, refresh: Callable[[], Awaitable[DatabaseState]], role: Callable[[], str]
    ) -> None:
        self.refresh = refresh
        self.role = role

    async def get(self) -> None:
        state = await self.refresh()
        self.set_status(200 if state.reachable else 503)
        self.write(
            {
                "status": "ready" if state.reachable else "database unreachable",
                "database": state.reachable,
                "role": self.role(),
                "outbox_backlog": state.outbox_due,
                "oldest_unsent_seconds": round(state.oldest_unsent_seconds, 1),
                "inbound_pending": state.inbound_pending,
            }
        )


class _Metrics(RequestHandler):
    def initialize(self, refresh: Callable[[], Awaitable[DatabaseState]], metrics: Metrics) -> None:
        self.refresh = refresh
        self.metrics = metrics

    async def get(self) -> None:
        await self.refresh()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.write(self.metrics.exposition())


class HealthServer(PortServer):
    """`/healthz`, `/readyz`, `/metrics` on `listen:port`."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        metrics: Metrics,
        role: Callable[[], str],
        *,
        listen: str,
        port: int,
    ) -> None:
        self.db, self.clock, self.metrics = db, clock, metrics

        async def refresh() -> DatabaseState:
            self.metrics.state = await read_state(self.db, self.clock)
            return self.metrics.state

        app = Application(
            [
                ("/healthz", _Live),
                ("/readyz", _Ready, {"refresh": refresh, "role": role}),
                ("/metrics", _Metrics, {"refresh": refresh, "metrics": metrics}),
            ]
        )
        super().__init__(
            app, listen, port, listen_setting="HEALTH_LISTEN", port_setting="HEALTH_PORT"
        )

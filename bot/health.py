"""A small HTTP listener for orchestration: liveness, readiness and Prometheus metrics.

It runs in both polling and webhook modes, apart from the webhook's port, so metrics are
never on the port Telegram reaches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from monitoring.metrics import DatabaseState, Metrics
from services.clock import Clock
from storage.uow import Database

log = logging.getLogger(__name__)

STATE_TIMEOUT = 3.0  # a readiness probe must answer even when the database does not


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


class HealthServer:
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

        self.app = Application(
            [
                ("/healthz", _Live),
                ("/readyz", _Ready, {"refresh": refresh, "role": role}),
                ("/metrics", _Metrics, {"refresh": refresh, "metrics": metrics}),
            ]
        )
        self.listen, self.port = listen, port
        self.server: HTTPServer | None = None

    async def start(self) -> None:
        sockets = bind_sockets(self.port, address=self.listen)
        self.port = sockets[0].getsockname()[1]  # port 0 asks the kernel for a free one
        self.server = HTTPServer(self.app)
        self.server.add_sockets(sockets)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()

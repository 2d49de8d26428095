"""Prometheus metrics: per-process counters plus the database's state read at scrape time.

Counters (updates handled, messages sent/retried/failed, handler latency) belong to this
process. Backlog, reminders and escalations are read from the database when scraped, so
every process of a standby pair reports the same, real figures, and they survive restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "referral_bot"


@dataclass
class DatabaseState:
    """Figures read from the database for one scrape."""

    reachable: bool = False
    outbox: dict[str, int] = field(default_factory=dict)  # rows by status
    outbox_due: int = 0
    oldest_unsent_seconds: float = 0.0
    reminders: dict[str, int] = field(default_factory=dict)  # rows by status
    reminders_due: int = 0
    escalations: dict[str, int] = field(default_factory=dict)  # queries by level reached
    inbound_pending: int = 0


@dataclass
class DeliveryCounts:
    sent: int
    retried: int
    failed: int
    unreachable: int


class _StateCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = self.metrics.state
        yield GaugeMetricFamily(
            f"{PREFIX}_database_up", "1 if the database answered the last scrape", state.reachable
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_update_holder",
            "1 if this process holds the lock and takes updates from Telegram",
            1 if self.metrics.is_holder() else 0,
        )
        outbox = GaugeMetricFamily(
            f"{PREFIX}_outbox_messages", "Outbox rows by status", labels=["status"]
        )
        for status, count in sorted(state.outbox.items()):
            outbox.add_metric([status], count)
        yield outbox
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_depth", "Messages waiting to be sent and due now", state.outbox_due
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_unsent_seconds",
            "Age of the oldest message not yet sent",
            state.oldest_unsent_seconds,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_inbound_pending", "Stored updates not yet handled", state.inbound_pending
        )
        reminders = GaugeMetricFamily(
            f"{PREFIX}_reminders",
            "Reminders by status (pending, sent, missed, ...)",
            labels=["status"],
        )
        for status, count in sorted(state.reminders.items()):
            reminders.add_metric([status], count)
        yield reminders
        yield GaugeMetricFamily(
            f"{PREFIX}_reminders_due", "Pending reminders whose time has come", state.reminders_due
        )
        escalations = GaugeMetricFamily(
            f"{PREFIX}_escalations", "Queries escalated, by the level they reached", labels=["to"]
        )
        for level, count in sorted(state.escalations.items()):
            escalations.add_metric([level], count)
        yield escalations
        counts = self.metrics.delivery()
        for name, value, doc in (
            ("sent", counts.sent, "Messages delivered by this process"),
            ("retried", counts.retried, "Send attempts retried (429, timeouts, 5xx)"),
            ("failed", counts.failed, "Messages given up on"),
            ("unreachable", counts.unreachable, "Recipients found unreachable (403)"),
        ):
            yield CounterMetricFamily(f"{PREFIX}_messages_{name}", doc, value)


class Metrics:
    """One registry per bot process (tests run several bots in one interpreter)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.state = DatabaseState()
        self.is_holder: Callable[[], bool] = lambda: False
        self.delivery: Callable[[], DeliveryCounts] = lambda: DeliveryCounts(0, 0, 0, 0)
        self.updates_handled = Counter(
            f"{PREFIX}_updates_handled",
            "Updates handled, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            f"{PREFIX}_handler_seconds",
            "Time to handle one update in one handler, including its commit",
            ["handler"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.registry.register(_StateCollector(self))

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)

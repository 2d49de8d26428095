"""`/healthz`, `/readyz` and `/metrics` report the real state: checked after real sends,
retries, reminders and an unreachable database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx

from handlers.jobs import dispatch_reminders
from storage.uow import Database
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import PATIENT, _book_one_stop, _case_with_patient
from tests.journeys.test_registration import say


def _metric(text: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus' text format (0 when absent)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def _get(h: Harness, path: str) -> httpx.Response:
    assert h.runtime is not None
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{h.runtime.health.port}{path}")


async def test_readyz_and_metrics_follow_what_the_bot_does(bot: Harness) -> None:
    assert (await _get(bot, "/healthz")).json() == {"status": "ok"}
    ready = (await _get(bot, "/readyz")).json()
    assert ready["database"] is True and ready["role"] == "holder"
    assert ready["outbox_backlog"] == 0 and ready["oldest_unsent_seconds"] == 0
    before = (await _get(bot, "/metrics")).text
    assert _metric(before, "referral_bot_update_holder") == 1
    assert _metric(before, "referral_bot_messages_sent_total") == 0

    user = bot.fake.user(9_400_001)
    bot.fake.fail_next("sendMessage", 500, "Internal Server Error", times=2)
    await say(bot, user, "/help")
    await say(bot, user, "/privacy")
    text = (await _get(bot, "/metrics")).text
    assert _metric(text, "referral_bot_messages_sent_total") == 2
    assert _metric(text, "referral_bot_messages_retried_total") == 2
    assert _metric(text, "referral_bot_outbox_messages", 'status="sent"') == 2
    assert _metric(text, "referral_bot_updates_handled_total", 'outcome="done"') == 2
    assert _metric(text, "referral_bot_handler_seconds_count", 'handler="help_command"') == 1
    assert _metric(text, "referral_bot_outbox_depth") == 0

    # A message that cannot go out yet shows as backlog, with its age.
    assert bot.runtime is not None
    await bot.runtime.dispatcher.stop()
    other = bot.fake.user(9_400_003)
    await bot.runtime.intake.wait_handled(other.send_text("/help"))
    bot.clock.advance(timedelta(seconds=90))
    ready = (await _get(bot, "/readyz")).json()
    assert ready["outbox_backlog"] == 1 and ready["oldest_unsent_seconds"] == 90
    assert _metric((await _get(bot, "/metrics")).text, "referral_bot_outbox_depth") == 1
    await bot.runtime.dispatcher.start()
    await bot.runtime.drained()
    assert (await _get(bot, "/readyz")).json()["outbox_backlog"] == 0


async def test_reminder_figures_come_from_the_database(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    text = (await _get(bot, "/metrics")).text
    assert _metric(text, "referral_bot_reminders", 'status="pending"') == 2
    assert _metric(text, "referral_bot_reminders_due") == 0
    bot.clock.set(datetime(2026, 11, 29, 9, 0, 30, tzinfo=UTC))
    text = (await _get(bot, "/metrics")).text
    assert _metric(text, "referral_bot_reminders_due") == 1
    assert bot.runtime is not None
    assert await dispatch_reminders(bot.runtime.resources) == 1
    await bot.runtime.drained()
    assert "One-stop clinic" in bot.fake.user(PATIENT).last().plain
    text = (await _get(bot, "/metrics")).text
    assert _metric(text, "referral_bot_reminders", 'status="sent"') == 1
    assert _metric(text, "referral_bot_reminders", 'status="pending"') == 1
    assert _metric(text, "referral_bot_reminders_due") == 0


async def test_readyz_says_so_when_the_database_is_gone(bot: Harness) -> None:
    assert bot.runtime is not None
    # Nothing listens on port 1: the database is unreachable from the probe's view.
    gone = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none", bot.runtime.db.keyring)
    bot.runtime.health.db = gone
    try:
        answer = await _get(bot, "/readyz")
        assert answer.status_code == 503
        assert answer.json()["database"] is False and answer.json()["role"] == "holder"
        text = (await _get(bot, "/metrics")).text
        assert _metric(text, "referral_bot_database_up") == 0
        assert (await _get(bot, "/healthz")).status_code == 200  # alive, just not ready
    finally:
        await gone.dispose()

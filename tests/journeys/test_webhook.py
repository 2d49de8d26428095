"""Webhook mode: Telegram's secret header is checked, updates are stored before the 200,
and a resent update is handled once."""

from __future__ import annotations

import asyncio
import socket

import httpx

from tests.journeys.conftest import Harness


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_webhook_checks_the_secret_and_handles_each_update_once(harness: Harness) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    harness.settings = harness.settings.model_copy(
        update={"WEBHOOK_URL": url, "WEBHOOK_SECRET": "s3cret-token_1", "PORT": port}
    )
    await harness.start()
    (set_webhook,) = harness.fake.calls_to("setWebhook")
    assert (
        set_webhook.params["url"] == url and set_webhook.params["secret_token"] == "s3cret-token_1"
    )

    user = harness.fake.user(9_100_000)
    user.send_text("/privacy")
    update = harness.fake.pending_updates[-1] if harness.fake.pending_updates else None
    assert update is not None
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json=update)
        wrong = await client.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
        )
        assert (missing.status_code, wrong.status_code) == (403, 403)
        assert not user.messages()

        headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_1"}
        first = await client.post(url, json=update, headers=headers)
        again = await client.post(url, json=update, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200)
        try:  # refused unread: an error status, or the connection closed on us
            huge = await client.post(url, content=b"{" + b" " * 2_000_000 + b"}", headers=headers)
            assert huge.status_code in (400, 413)
        except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
            pass
        health = await client.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
    await harness.handled(int(update["update_id"]))
    assert len(user.messages()) == 1 and "What this bot stores" in user.last().plain


async def test_concurrent_webhook_calls_share_commits_and_each_is_answered_once(
    harness: Harness,
) -> None:
    """Telegram calls the webhook several at a time: calls arriving while a store commits
    are stored together by the next commit, each gets its 200 only once stored, and every
    update is answered exactly once, in order per user."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"
    harness.settings = harness.settings.model_copy(
        update={"WEBHOOK_URL": url, "WEBHOOK_SECRET": "s3cret-token_1", "PORT": port}
    )
    runtime = await harness.start()
    users = [harness.fake.user(9_200_000 + i) for i in range(10)]
    for round_ in range(3):
        for user in users:
            user.send_text("/privacy" if round_ != 1 else "/help")
    updates = list(harness.fake.pending_updates)
    assert len(updates) == 30
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_1"}
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=40)) as client:
        answers = await asyncio.gather(
            *(client.post(url, json=u, headers=headers) for u in updates)
        )
    assert [a.status_code for a in answers] == [200] * 30
    intake = runtime.intake
    assert intake is not None
    assert intake.store_commits < 30, intake.store_commits  # calls shared commits
    async with harness.db.uow() as uow:  # every call got its 200 after its update was stored
        for u in updates:
            assert await uow.inbound.get(int(u["update_id"])) is not None
    await harness.handled(max(int(u["update_id"]) for u in updates))
    for user in users:
        texts = [m.plain for m in user.messages()]
        assert len(texts) == 3, texts
        assert "What this bot stores" in texts[0] and "What this bot stores" in texts[2]
        assert "What this bot stores" not in texts[1]

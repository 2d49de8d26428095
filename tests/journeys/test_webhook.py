"""Webhook mode: Telegram's secret header is checked, updates are stored before the 200,
and a resent update is handled once."""

from __future__ import annotations

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

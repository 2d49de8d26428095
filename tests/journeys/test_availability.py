"""Availability on PostgreSQL with real `referral-bot run` processes against the HTTP fake:
one update taker, a standby that takes over after kill -9 mid-conversation (also with a
message in flight), webhook mode registered by the holder only."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.fakes import FakeBotAPI, FakeUser
from tests.processes import bot_env, start, throwaway_database

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set"),
]

# From kill -9 of the holder to the standby's answer reaching the user (the bound).
TAKEOVER_LIMIT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotProcess:
    """One `referral-bot run` process with its own health port."""

    def __init__(self, name: str, env: dict[str, str], cwd: Path) -> None:
        self.name = name
        self.health_port = _free_port()
        self.env = {**env, "HEALTH_PORT": str(self.health_port)}
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.log = cwd / f"{name}.log"

    async def start(self) -> BotProcess:
        self.process = await start(self.env, self.cwd, log=self.log)
        return self

    async def readyz(self) -> dict[str, Any] | None:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                answer = await client.get(f"http://127.0.0.1:{self.health_port}/readyz")
            return dict(answer.json())
        except (httpx.HTTPError, ValueError):
            return None

    async def wait_role(self, role: str, timeout: float = 40.0) -> float:
        """Seconds until /readyz reports `role`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            state = await self.readyz()
            if state and state.get("role") == role:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} never became {role}: {self.log.read_text()[-2000:]}")

    async def wait_quiet(self, timeout: float = 10.0) -> None:
        """Until every stored update is handled and every message is sent and recorded."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            state = await self.readyz() or {}
            if state.get("outbox_backlog") == 0 and state.get("inbound_pending") == 0:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.name} never went quiet")

    async def metric(self, name: str) -> float:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{self.health_port}/metrics")).text
        found = [line for line in text.splitlines() if line.startswith(name + " ")]
        return float(found[0].split()[1]) if found else 0.0

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no clean shutdown, no lock handed back politely

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A throw-away PostgreSQL database (separate processes cannot share a test schema)."""
    async with throwaway_database("t_avail") as url:
        yield url


@pytest.fixture
async def processes(
    fake: FakeBotAPI, pg_url: str, tmp_path: Path
) -> AsyncIterator[list[BotProcess]]:
    env = bot_env(fake, pg_url)
    made = [BotProcess(name, env, tmp_path) for name in ("a", "b")]
    try:
        yield made
    finally:
        for p in made:
            await p.stop()


async def _answer(user: FakeUser, text: str, expect: str, timeout: float = 10.0) -> str:
    before = len(user.messages())
    user.send_text(text)
    await user.wait_messages(before + 1, timeout=timeout)
    last = user.last().plain
    assert expect in last, last
    return last


async def _announce_huge_body(url: str, secret: str) -> int:
    """Status for a request announcing a 2 MB body, answered before the body is sent."""
    parts = httpx.URL(url)
    reader, writer = await asyncio.open_connection(parts.host, parts.port)
    writer.write(
        (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.host}\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\n"
            "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


def _conflicts(fake: FakeBotAPI) -> int:
    return sum(1 for c in fake.calls_to("getUpdates") if c.status == 409)


async def test_standby_takes_over_mid_registration_after_kill_9(
    fake: FakeBotAPI, processes: list[BotProcess]
) -> None:
    a, b = processes
    try:
        await a.start()
        await a.wait_role("holder")
        await b.start()
        await b.wait_role("standby")
        await asyncio.sleep(6)  # past a standby's lock attempt: it must stay a standby
        assert (await b.readyz() or {}).get("role") == "standby"
        assert _conflicts(fake) == 0  # only one process polls

        user = fake.user(7_100_001)
        await _answer(user, "/register", "full name")
        await _answer(user, "Sean O'Brien & <Sons>", "job title")
        await a.wait_quiet()  # killed between messages (mid-send: the next test)
        assert await a.metric("referral_bot_update_holder") == 1
        assert await b.metric("referral_bot_update_holder") == 0
        assert await a.metric('referral_bot_updates_handled_total{outcome="done"}') == 2
        assert await b.metric('referral_bot_updates_handled_total{outcome="done"}') == 0
        # Backlog figures come from the database: both processes report the same.
        sent = 'referral_bot_outbox_messages{status="sent"}'
        assert await a.metric(sent) == await b.metric(sent) == 2

        a.kill()
        killed = time.monotonic()
        await b.wait_role("holder", timeout=TAKEOVER_LIMIT)
        # The answer typed while nobody held the lock lands on the next question.
        before = len(user.messages())
        user.send_text("Consultant Orthopaedic Surgeon")
        await user.wait_messages(before + 1, timeout=TAKEOVER_LIMIT)
        took = time.monotonic() - killed
        assert took < TAKEOVER_LIMIT
        assert "centre" in user.last().plain.lower()

        assert await b.metric("referral_bot_update_holder") == 1
        assert await b.metric('referral_bot_updates_handled_total{outcome="done"}') == 1
        assert await b.metric('referral_bot_outbox_messages{status="sent"}') == 3
        texts = user.texts()
        assert len(texts) == len(set(texts)) == 3, texts  # nothing lost, nothing doubled
        assert _conflicts(fake) <= 1, "409 loop"  # at most the dead holder's cut-off poll
        print(f"takeover answered {took:.1f} s after kill -9")
    finally:
        for p in processes:
            await p.stop()


class HeldSend:
    """Telegram accepts one message (the user sees it) but its answer has not reached the
    bot: the fake shows the first sendMessage containing `words` and holds the response
    until released, so the sender is killed with the message sent and not recorded."""

    def __init__(self, fake: FakeBotAPI, monkeypatch: pytest.MonkeyPatch, words: str) -> None:
        self.accepted = asyncio.Event()
        self._released = asyncio.Event()
        send = fake._m_sendMessage

        async def holding(p: dict[str, Any], f: Any, h: Any) -> Any:
            result = await send(p, f, h)
            if words in str(p.get("text")) and not self.accepted.is_set():
                self.accepted.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), 30)
            return result

        monkeypatch.setattr(fake, "_m_sendMessage", holding)

    def release(self) -> None:
        self._released.set()


async def test_kill_9_with_a_message_in_flight_answers_within_10_s(
    fake: FakeBotAPI, processes: list[BotProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = processes
    try:
        await a.start()
        await a.wait_role("holder")
        await b.start()
        await b.wait_role("standby")

        user = fake.user(7_100_003)
        await _answer(user, "/register", "full name")
        in_flight = HeldSend(fake, monkeypatch, "job title")
        user.send_text("Sean O'Brien")
        await asyncio.wait_for(in_flight.accepted.wait(), 10)
        a.kill()  # the question is with the user; the holder never learnt it was sent
        killed = time.monotonic()
        in_flight.release()
        # The user answers at once; the dead process's claim on this chat must not hold
        # up the standby's reply (it used to wait out a 60 s lease).
        user.send_text("Consultant Orthopaedic Surgeon")
        await fake.wait_for(
            lambda: any("centre" in t for t in user.texts()),
            timeout=TAKEOVER_LIMIT,
            what="the next question, from the standby",
        )
        took = time.monotonic() - killed
        assert "Which centre do you refer from?" in user.last().plain  # the same step

        await b.wait_quiet()
        texts = Counter(user.texts())
        job_title = next(t for t in texts if "job title" in t)
        # Only the message in flight at the kill may be sent twice (no Bot API call says
        # whether Telegram has it); everything else exactly once.
        assert texts[job_title] <= 2
        assert all(n == 1 for t, n in texts.items() if t != job_title), texts
        assert len(texts) == 3, texts
        assert await b.metric("referral_bot_update_holder") == 1
        again = [
            c.finished - killed
            for c in fake.calls_to("sendMessage")
            if "job title" in str(c.params.get("text")) and c.started > killed
        ]
        print(
            f"in-flight takeover: next question {took:.1f} s after kill -9; the message "
            f"in flight sent again after {', '.join(f'{t:.1f} s' for t in again) or 'never'}"
        )
    finally:
        for p in processes:
            await p.stop()


async def test_webhook_is_registered_by_the_holder_and_checks_its_secret(
    fake: FakeBotAPI, processes: list[BotProcess]
) -> None:
    a, b = processes
    secret = "s3cret-token_1"
    for p in processes:
        p.env["WEBHOOK_SECRET"] = secret
        p.env["PORT"] = str(_free_port())
        p.env["WEBHOOK_URL"] = f"http://127.0.0.1:{p.env['PORT']}/telegram-hook"
    try:
        await a.start()
        await a.wait_role("holder")
        await b.start()
        await b.wait_role("standby")
        hooks = [c.params["url"] for c in fake.calls_to("setWebhook")]
        assert hooks == [a.env["WEBHOOK_URL"]]  # the standby registers nothing

        user = fake.user(7_100_002)
        user.send_text("/privacy")
        update = fake.pending_updates[-1]
        async with httpx.AsyncClient(timeout=10) as client:
            # Any process may receive Telegram's call (a load balancer in front): the
            # standby stores it and the holder handles it.
            url = b.env["WEBHOOK_URL"]
            missing = await client.post(url, json=update)
            wrong = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            )
            assert (missing.status_code, wrong.status_code) == (403, 403)
            assert await _announce_huge_body(url, secret) == 413
            assert not user.messages()
            right = await client.post(
                url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": secret}
            )
            assert right.status_code == 200
        await user.wait_messages(1, timeout=10)
        assert "What this bot stores" in user.last().plain
        assert "wrong or missing secret" in b.log.read_text()

        a.kill()
        await b.wait_role("holder", timeout=TAKEOVER_LIMIT)
        hooks = [c.params["url"] for c in fake.calls_to("setWebhook")]
        assert hooks == [a.env["WEBHOOK_URL"], b.env["WEBHOOK_URL"]]
    finally:
        for p in processes:
            await p.stop()

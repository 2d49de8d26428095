"""A running bot against the HTTP Bot API fake, restartable on the same database."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.app import BotRuntime
from bot.config import Settings, load_settings
from core.clock import FakeClock
from handlers.base import Conversation
from storage.crypto import Keyring
from tests.fakes import FakeBotAPI


class Harness:
    """The bot under test: start, stop, restart, and wait for updates to be handled."""

    def __init__(
        self,
        fake: FakeBotAPI,
        settings: Settings,
        clock: FakeClock,
        engine_kwargs: dict[str, object],
    ) -> None:
        self.fake = fake
        self.settings = settings
        self.clock = clock
        self.engine_kwargs = engine_kwargs
        self.conversations: list[Conversation] = []
        self.handlers: list[tuple[int, Any]] = []
        self.timer: Any = None
        self.runtime: BotRuntime | None = None

    async def start(self) -> BotRuntime:
        self.runtime = BotRuntime(
            self.settings,
            clock=self.clock,
            poll_timeout=1,
            conversations=self.conversations,
            handlers=self.handlers,
            sweep_seconds=3600,
            engine_kwargs=self.engine_kwargs,
            timer=self.timer,
        )
        await self.runtime.start()
        return self.runtime

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    async def restart(self) -> BotRuntime:
        await self.stop()
        return await self.start()

    @property
    def db(self):  # type: ignore[no-untyped-def]
        assert self.runtime is not None
        return self.runtime.db

    async def handled(self, update_id: int) -> None:
        """Wait until the bot has handled `update_id` and sent what it caused."""
        assert self.runtime is not None
        await self.runtime.intake.wait_handled(update_id)
        await self.runtime.drained()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api
        assert api.spec_errors == [], api.spec_errors


def journey_settings(fake: FakeBotAPI, database_url: str, keyring: Keyring) -> Settings:
    """Settings of a bot under test (also used by tests that run their own event loop)."""
    return load_settings(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=database_url,
        ENCRYPTION_KEYS=",".join(_b64(k) for k in keyring.keys),
        INDEX_KEY=_b64(keyring.index_key),
        SERVICE_PHONE="01865 738000",
        # Journeys are about behaviour, not pacing: flood control has its own tests.
        SEND_GLOBAL_RATE=10_000,
        SEND_PER_CHAT_RATE=10_000,
        SEND_PER_CHAT_BURST=100,
        HEALTH_PORT=0,  # any free port: suites may run side by side on one machine
        # A frozen test clock would make every scripted journey a burst; the limit has
        # its own test with the real defaults.
        INCOMING_RATE_PER_MINUTE=100_000,
        INCOMING_BURST=100_000,
    )


@pytest.fixture
def settings(fake: FakeBotAPI, database_url: dict, keyring: Keyring) -> Settings:
    return journey_settings(fake, database_url["url"], keyring)


@pytest.fixture
async def harness(
    fake: FakeBotAPI, settings: Settings, clock: FakeClock, database_url: dict
) -> AsyncIterator[Harness]:
    h = Harness(fake, settings, clock, database_url["engine_kwargs"])
    try:
        yield h
    finally:
        await h.stop()


@pytest.fixture
async def bot(harness: Harness) -> Harness:
    await harness.start()
    return harness

"""The real bot as the sandbox runs it: its settings (the fake's URLs, a throw-away
database, fresh keys) and the runtime, which `referral-bot sandbox` hands to
`sandbox.run.serve`. The sandbox itself imports nothing from `bot/`: it is given the way
to start the bot and to run its timed sweeps (`bot.jobs.run_sweeps`, production's table).
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.app import BotRuntime
from bot.config import Settings
from bot.jobs import run_sweeps
from sandbox.botapi import FakeBotAPI
from sandbox.clock import SandboxClock
from sandbox.world import SERVICE_PHONE


class _SandboxSettings(Settings):
    """Settings from what the sandbox passes in, never from the environment or `.env`:
    a real token, database or webhook configured there must not leak into the sandbox."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def sandbox_settings(fake: FakeBotAPI, database_url: str, **overrides: Any) -> Settings:
    """The bot's settings: the fake's URLs, the throw-away database and fresh keys."""
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "TELEGRAM_API_FILE_URL": fake.base_file_url,
        "DATABASE_URL": database_url,
        # The same as `referral-bot keys new`: 32 random bytes each, used only this run.
        "ENCRYPTION_KEYS": (secrets.token_bytes(32),),
        "INDEX_KEY": secrets.token_bytes(32),
        "SERVICE_PHONE": SERVICE_PHONE,
        # Snappier than Telegram's limits: the fake enforces none, and nobody waits.
        "SEND_GLOBAL_RATE": 100.0,
        "SEND_PER_CHAT_RATE": 20.0,
        "SEND_PER_CHAT_BURST": 20,
        # A rehearsal (or the browser test) clicks faster than the production limit.
        "INCOMING_RATE_PER_MINUTE": 600.0,
        "INCOMING_BURST": 60,
        "HEALTH_PORT": 0,  # loopback, any free port: never collides with a real bot
        **overrides,
    }
    return _SandboxSettings(**values)


class SandboxRuntime:
    """`BotRuntime` as the sandbox drives it (`sandbox.world.Runtime`, its `Launch`)."""

    def __init__(self, fake: FakeBotAPI, database_url: str, clock: SandboxClock) -> None:
        self.runtime = BotRuntime(
            sandbox_settings(fake, database_url), clock=clock, poll_timeout=10
        )
        self.db = self.runtime.db
        self.intake = self.runtime.intake
        self.timezone = self.runtime.settings.TIMEZONE

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()

    async def drained(self, timeout: float) -> None:
        await self.runtime.drained(timeout)

    async def sweep(self) -> int:
        return await run_sweeps(self.runtime)

"""`referral-bot sandbox`: refuse a real database, start the world and the page, run until
SIGINT/SIGTERM, then delete everything."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from sandbox.web import WebServer
from sandbox.world import Launch, Sandbox

log = logging.getLogger(__name__)


class _Configured(BaseSettings):
    """Only DATABASE_URL, from the same places as the bot's settings."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    DATABASE_URL: str | None = None


def real_database_problem() -> str | None:
    """Why the configured DATABASE_URL must stop the sandbox, or None.

    The sandbox never uses it; refusing is for the person who ran the sandbox where the bot
    is configured and might believe they are looking at (or rehearsing on) real data.
    """
    url = (_Configured().DATABASE_URL or "").strip()
    if not url:
        return None
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "DATABASE_URL is set (in the environment or .env) and is not a database URL"
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).exists():
            return None
        where = f"an existing SQLite database ({shown})"
    else:
        where = f"a database server ({shown}), which may hold real data"
    return (
        f"DATABASE_URL (from the environment or .env) points to {where}. The sandbox "
        "always uses its own throw-away database and never touches a configured one; "
        "to avoid any doubt it does not start here. Unset DATABASE_URL, or run the sandbox "
        "from a directory without that .env."
    )


async def serve(
    launch: Launch,
    host: str,
    port: int,
    start: datetime | None = None,
    ready: Callable[[str], None] = print,
) -> None:
    """Run the sandbox, with the bot that `launch` starts, until SIGINT or SIGTERM."""
    sandbox = Sandbox(launch, start)
    web = WebServer(sandbox, host, port)  # refuses a non-loopback host before anything runs
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sandbox.start()
        await web.start()
        ready(web.url)
        await stop.wait()
    finally:
        await web.stop()
        await sandbox.stop()
        log.info("sandbox stopped; its database and keys are gone")

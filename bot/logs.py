"""Logging: references and ids only; python-telegram-bot and httpx never below INFO.

At DEBUG python-telegram-bot logs whole updates (names, texts), and httpx logs URLs that
contain the bot token, so those loggers are held at INFO and WARNING respectively. Pillow
and pypdf, which open the files people attach, log what they read at DEBUG (EXIF values
such as a description or GPS position, PDF metadata): held at WARNING.
"""

from __future__ import annotations

import logging


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("telegram", "telegram.ext", "apscheduler"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
    # Alembic announces its plugins on every start (migrations themselves still show), and
    # APScheduler two lines per job run, several a minute; a job's failure still shows.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and the URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    for reader in ("PIL", "pypdf"):
        logging.getLogger(reader).setLevel(logging.WARNING)

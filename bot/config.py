"""Settings read from the environment and `.env` (SPEC: Configuration)."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_DURATION = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class StartupError(Exception):
    """The bot cannot start; the message is one line naming the setting and what to do.

    Raised where the failure is known (a port in use, the database down), so the command
    line prints the message and exits with `exit_code`, never a traceback. 1: something
    around the bot is not as the settings expect (environment); 2: a setting is wrong.
    """

    exit_code = 1


class ConfigError(StartupError):
    """A setting is missing or malformed; the message names the variable."""

    exit_code = 2


def parse_duration(text: str) -> timedelta:
    """Parse `7d`, `2h`, `30m` or `45s`."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text.strip()!r} is not a duration like 7d, 2h, 30m or 45s")
    amount, unit = match.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def decode_key(text: str, *, min_bytes: int, exact: bool) -> bytes:
    """Decode one urlsafe base64 key and check its length."""
    raw = text.strip()
    try:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("is not urlsafe base64") from exc
    if exact and len(key) != min_bytes:
        raise ValueError(f"each key must decode to exactly {min_bytes} bytes, got {len(key)}")
    if len(key) < min_bytes:
        raise ValueError(f"must decode to at least {min_bytes} bytes, got {len(key)}")
    return key


class Settings(BaseSettings):
    """Every variable of the SPEC's configuration table, plus delivery tuning."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    TELEGRAM_BOT_TOKEN: str | None = None
    TELEGRAM_API_BASE_URL: str = "https://api.telegram.org/bot"
    TELEGRAM_API_FILE_URL: str | None = None
    DATABASE_URL: str = "sqlite+aiosqlite:///./data/referral-bot.db"
    # fast: storage/sqlite_driver.py (measured in bench/); stock: SQLAlchemy's own
    # aiosqlite adapter, kept working by a CI run so the fast one can be switched off.
    SQLITE_DRIVER: Literal["fast", "stock"] = "fast"
    ENCRYPTION_KEYS: Annotated[tuple[bytes, ...], NoDecode]
    INDEX_KEY: Annotated[bytes, NoDecode]
    TIMEZONE: Annotated[ZoneInfo, NoDecode] = ZoneInfo("Europe/London")
    REMINDER_OFFSETS: Annotated[tuple[timedelta, ...], NoDecode] = (
        timedelta(days=7),
        timedelta(days=1),
        timedelta(hours=2),
    )
    QUIET_HOURS: Annotated[tuple[time, time] | None, NoDecode] = (time(21, 0), time(8, 0))
    ACK_SLA: Annotated[timedelta, NoDecode] = timedelta(hours=4)
    BOT_USERNAME: str | None = None
    WEBHOOK_URL: str | None = None
    WEBHOOK_SECRET: str | None = None
    LISTEN: str = "127.0.0.1"
    PORT: int = Field(default=8443, ge=1, le=65535)
    HEALTH_LISTEN: str = "127.0.0.1"
    HEALTH_PORT: int = Field(default=9464, ge=0, le=65535)  # 0: any free port
    INCOMING_RATE_PER_MINUTE: float = Field(default=20.0, gt=0)
    INCOMING_BURST: int = Field(default=10, ge=1)
    LEADER_CHECK_SECONDS: float = Field(default=5.0, gt=0, le=10)
    SERVICE_PHONE: str = "01865 738000"
    LOG_LEVEL: str = "INFO"
    SEND_GLOBAL_RATE: float = Field(default=25.0, gt=0)
    SEND_PER_CHAT_RATE: float = Field(default=1.0, gt=0)
    SEND_PER_CHAT_BURST: int = Field(default=3, ge=1)
    SEND_MAX_AGE: Annotated[timedelta, NoDecode] = timedelta(hours=1)
    TELEGRAM_TIMEOUT: float = Field(default=10.0, gt=0)
    # Timed background work (bot/jobs.py): how often each sweep looks for work due.
    CONVERSATION_SWEEP_SECONDS: float = Field(default=30.0, gt=0)
    REMINDER_SWEEP_SECONDS: float = Field(default=30.0, gt=0)
    ESCALATION_SWEEP_SECONDS: float = Field(default=60.0, gt=0)
    AUDIT_HEAD_MINUTES: float = Field(default=15.0, gt=0)
    # MDT: agendas at the cut-off, roll-overs after a meeting day, next-morning reminders.
    MDT_SWEEP_SECONDS: float = Field(default=60.0, gt=0)
    # The nightly purge: due daily at PURGE_AT (service time); every PURGE_CHECK_SECONDS
    # a process checks whether the latest PURGE_AT has passed without a purge since.
    PURGE_AT: Annotated[time, NoDecode] = time(3, 30)
    PURGE_CHECK_SECONDS: float = Field(default=60.0, gt=0)
    # NHS Records Management Code of Practice: adult hospital records, 8 years after the
    # end of treatment (2922 days). Message bodies of cases closed longer than this go.
    RETENTION_DAYS: int = Field(default=2922, ge=1)
    # Files on a case. 20 MB is the most the Bot API lets a bot download (getFile).
    ATTACHMENT_MAX_BYTES: int = Field(default=20 * 1024 * 1024, ge=1024, le=20 * 1024 * 1024)
    ATTACHMENTS_PER_CASE: int = Field(default=30, ge=1, le=1000)

    @field_validator("ENCRYPTION_KEYS", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> tuple[bytes, ...]:
        if isinstance(value, tuple):
            return value
        parts = [p for p in str(value).split(",") if p.strip()]
        if not parts:
            raise ValueError("needs at least one key")
        return tuple(decode_key(p, min_bytes=32, exact=True) for p in parts)

    @field_validator("INDEX_KEY", mode="before")
    @classmethod
    def _index_key(cls, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        return decode_key(str(value), min_bytes=32, exact=False)

    @field_validator("TIMEZONE", mode="before")
    @classmethod
    def _zone(cls, value: Any) -> ZoneInfo:
        if isinstance(value, ZoneInfo):
            return value
        try:
            return ZoneInfo(str(value).strip())
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not a known time zone") from exc

    @field_validator("REMINDER_OFFSETS", mode="before")
    @classmethod
    def _offsets(cls, value: Any) -> tuple[timedelta, ...]:
        if isinstance(value, tuple):
            return value
        parts = [p for p in str(value).split(",") if p.strip()]
        offsets = sorted({parse_duration(p) for p in parts}, reverse=True)
        if any(o <= timedelta(0) for o in offsets):
            raise ValueError("offsets must be positive")
        return tuple(offsets)

    @field_validator("ACK_SLA", "SEND_MAX_AGE", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        duration = parse_duration(str(value))
        if duration <= timedelta(0):
            raise ValueError("must be positive")
        return duration

    @field_validator("QUIET_HOURS", mode="before")
    @classmethod
    def _quiet(cls, value: Any) -> tuple[time, time] | None:
        if value is None or isinstance(value, tuple):
            return value
        text = str(value).strip()
        if not text:
            return None
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
        if not match:
            raise ValueError(f"{text!r} is not a window like 21:00-08:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            return time(h1, m1), time(h2, m2)
        except ValueError as exc:
            raise ValueError(f"{text!r} has an impossible time") from exc

    @field_validator("PURGE_AT", mode="before")
    @classmethod
    def _time_of_day(cls, value: Any) -> time:
        if isinstance(value, time):
            return value
        text = str(value).strip()
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
        try:
            if not match:
                raise ValueError
            return time(int(match.group(1)), int(match.group(2)))
        except ValueError:
            raise ValueError(f"{text!r} is not a time of day like 03:30") from None

    @field_validator("DATABASE_URL")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):
            url = None
        if url is None or (url.port is not None and not 1 <= url.port <= 65535):
            raise ValueError(
                "is not a database URL like postgresql+asyncpg://user:password@host:5432/name"
            )
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            # Every pooled connection would get an empty database of its own.
            raise ValueError("names no file: use sqlite+aiosqlite:///path/to/file.db")
        return value

    @field_validator("TELEGRAM_API_BASE_URL", "WEBHOOK_URL")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("TELEGRAM_BOT_TOKEN")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", value.strip()):
            raise ValueError("does not look like a bot token (digits:letters)")
        return value.strip() if value else None

    @model_validator(mode="after")
    def _webhook(self) -> Settings:
        if self.WEBHOOK_URL:
            if not self.WEBHOOK_SECRET:
                raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
            if not _WEBHOOK_SECRET.fullmatch(self.WEBHOOK_SECRET):
                raise ValueError("WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        return self

    @property
    def bot_id(self) -> int | None:
        """The bot's own numeric id, the token's prefix."""
        return int(self.TELEGRAM_BOT_TOKEN.split(":", 1)[0]) if self.TELEGRAM_BOT_TOKEN else None

    @property
    def retention(self) -> timedelta:
        """How long after closing a case its free text is kept."""
        return timedelta(days=self.RETENTION_DAYS)

    def require_token(self) -> str:
        """The bot token, or a ConfigError naming it."""
        if not self.TELEGRAM_BOT_TOKEN:
            raise ConfigError("TELEGRAM_BOT_TOKEN: missing (required to run the bot)")
        return self.TELEGRAM_BOT_TOKEN


def describe(error: ValidationError) -> str:
    """One line naming each bad variable and what is wrong with it."""
    problems = []
    for item in error.errors():
        name = ".".join(str(p) for p in item["loc"]) or "configuration"
        if item["type"] == "missing":
            problems.append(f"{name}: missing (required)")
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{name}: {message}")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning validation errors into one ConfigError line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None

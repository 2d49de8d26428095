"""The sandbox's world: the Bot API fake, the real bot pointed at it, a throw-away database
with fresh keys, the demo directory, and one fake Telegram user per role.

The bot is started through a `Launch` the caller passes in (`bot.sandboxed.SandboxRuntime`
from `referral-bot sandbox`), so the sandbox imports nothing from `bot/`.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError

from delivery.inbound import Intake
from sandbox import spec
from sandbox.botapi import FakeBotAPI, FakeUser
from sandbox.clock import SandboxClock
from services.directory import ParsedDirectory, import_directory, parse_directory
from services.invites import create_staff_invite
from services.mdt import Meeting, meetings_from
from services.reminder_times import resolve_local
from storage.uow import Database

log = logging.getLogger(__name__)

BOT_USERNAME = "sarcoma_sandbox_bot"
SERVICE_PHONE = "0118 496 0000"  # Ofcom's drama range: nobody answers it
# Time moves in steps no longer than this, with the bot's sweeps after each, so that a
# jump of a day behaves like a day with the bot running (reminders sent, not "missed").
STEP = timedelta(minutes=10)
# A file from the page: Telegram takes up to 2 GB, but anything over the 20 MB a bot can
# download (up to this) is enough to show the bot refusing it.
MAX_UPLOAD = 30 * 1024 * 1024
PHOTO_SIDE = 1280  # Telegram's apps send photos as JPEG, longest side 1280 px
# The clock buttons that go to the next MDT moment (`Sandbox.advance_to`), and what each
# is: just after the listing cut-off (the agenda goes out), the meeting's start, and the
# next morning once the meeting day is over (cases without an outcome have rolled over
# and their clinicians are reminded at 08:00).
MDT_MOMENTS = {
    "mdt_cutoff": "to the MDT cut-off",
    "mdt_meeting": "to the MDT meeting",
    "morning_after": "to the morning after",
}
JUST_AFTER = timedelta(minutes=1)
MORNING_AFTER = time(8, 5)  # service time


@dataclass(frozen=True)
class Pane:
    """One role's chat on the page, played by one fake Telegram user."""

    key: str
    role: str
    user_id: int
    first_name: str
    last_name: str
    directory_id: str | None = None  # staff are invited and bound at start
    invite_role: str | None = None
    hint: str = ""
    uploads: bool = False  # the page offers to send a file (PDF, JPEG, PNG) from this pane

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


PANES: tuple[Pane, ...] = (
    Pane(
        "admin",
        "Admin",
        7_000_001,
        "Sam",
        "Rivers",
        "coord-rivers",
        "admin",
        "Approves referrers (Approve / Reject on each card) and receives escalations.",
    ),
    Pane(
        "clinician1",
        "Clinician",
        7_000_002,
        "Alex",
        "Harper",
        "dr-harper",
        "clinician",
        "Senior clinician: /queue, /cases, /appointment C-n, /invite_patient C-n, /mdt_add C-n.",
    ),
    Pane(
        "clinician2",
        "Clinician",
        7_000_003,
        "Priya",
        "Nair",
        "dr-nair",
        "clinician",
        "Senior clinician, Dr Harper's default deputy (and the other way round).",
    ),
    Pane(
        "link",
        "Link clinician",
        7_000_004,
        "Tom",
        "Okafor",
        "lc-nfg-okafor",
        "link",
        "Link clinician at Northfield General: gets copies of that centre's cases.",
    ),
    Pane(
        "referrer",
        "Referrer",
        7_000_005,
        "Casey",
        "Morgan",
        hint=(
            "Not registered yet: type /register. Made-up answers that pass: phone "
            "0118 496 0123, mobile 07911 123456, email casey.morgan@example.nhs.uk, "
            "NHS number 943 476 5919."
        ),
        uploads=True,
    ),
    Pane(
        "patient",
        "Patient",
        7_000_006,
        "Pat",
        "Example",
        hint=(
            "Waits for an invitation: a clinician types /invite_patient C-1, then "
            "'Open as Patient' on the link."
        ),
    ),
)


class SandboxError(Exception):
    """The sandbox cannot start as asked; the message says why."""


class Runtime(Protocol):
    """The real bot as the sandbox drives it (bot.sandboxed.SandboxRuntime)."""

    @property
    def db(self) -> Database: ...

    @property
    def intake(self) -> Intake: ...

    @property
    def timezone(self) -> ZoneInfo: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def drained(self, timeout: float) -> None:
        """Wait until every message due has been sent."""

    async def sweep(self) -> int:
        """Run the bot's timed sweeps once, now; how many things they did."""


# Builds the bot against the fake, with the throw-away database's URL and the sandbox's clock.
Launch = Callable[[FakeBotAPI, str, SandboxClock], Runtime]


def demo_directory() -> ParsedDirectory:
    """The built-in directory of made-up centres, clinicians and clinics."""
    text = resources.files("sandbox").joinpath("demo_directory.yaml").read_text("utf-8")
    parsed = parse_directory(text, "yaml")
    if isinstance(parsed, list):  # a broken package, not a user error
        raise SandboxError(f"demo directory: {[str(p) for p in parsed]}")
    return parsed


def _as_telegram_photo(content: bytes) -> tuple[bytes, int, int]:
    """What a Telegram app makes of a picture sent as a photo: a JPEG, longest side 1280."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise SandboxError("only JPEG and PNG pictures go as photos; send it as a file")
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        raise SandboxError("that is not a JPEG or PNG picture; send it as a file") from None
    picture.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=87)
    return out.getvalue(), picture.width, picture.height


def mdt_moment(which: str, meetings: Sequence[Meeting], now: datetime, tz: ZoneInfo) -> datetime:
    """The instant a `MDT_MOMENTS` button moves the clock to, from `now`, given the MDT
    meetings (in date order, from yesterday on, cancelled dates left out)."""
    if which not in MDT_MOMENTS:
        raise SandboxError(f"no clock button {which!r}; expected one of {', '.join(MDT_MOMENTS)}")
    for meeting in meetings:
        if which == "mdt_cutoff" and meeting.cutoff_at >= now:
            return meeting.cutoff_at + JUST_AFTER
        if which == "mdt_meeting" and meeting.starts_at > now:
            return meeting.starts_at
        next_morning = datetime.combine(meeting.day + timedelta(days=1), MORNING_AFTER)
        if which == "morning_after" and (morning := resolve_local(next_morning, tz)) > now:
            return morning
    raise SandboxError("the directory has no MDT meeting (a clinic of kind mdt) ahead")


class Sandbox:
    """Everything but the web page: start, stop, act as a pane's user, move the clock."""

    def __init__(self, launch: Launch, start: datetime | None = None) -> None:
        self.launch = launch
        self.clock = SandboxClock(start)
        self.panes: dict[str, Pane] = {p.key: p for p in PANES}
        self.users: dict[str, FakeUser] = {}
        self.fake: FakeBotAPI | None = None
        self.runtime: Runtime | None = None
        self._tmp: Path | None = None
        self._advancing = asyncio.Lock()
        self._housekeeping: asyncio.Task[None] | None = None

    @property
    def timezone(self) -> ZoneInfo:
        """The service's time zone, in which the page shows times."""
        assert self.runtime is not None
        return self.runtime.timezone

    async def start(self) -> None:
        """The fake, then the bot (which migrates the new database), then the demo world."""
        spec.allow_bundled()  # a plain install has no api.json beside it
        self._tmp = Path(tempfile.mkdtemp(prefix="referral-bot-sandbox-"))
        bot_id = secrets.randbelow(9 * 10**9) + 10**9
        self.fake = FakeBotAPI(
            token=f"{bot_id}:SANDBOX-{secrets.token_urlsafe(24)}",
            bot_username=BOT_USERNAME,
            bot_first_name="Sarcoma referral bot (sandbox)",
            clock=self.clock.timestamp,
            max_poll_seconds=10.0,
        )
        await self.fake.start()
        database_url = f"sqlite+aiosqlite:///{self._tmp / 'sandbox.db'}"
        self.runtime = self.launch(self.fake, database_url, self.clock)
        await self.runtime.start()
        for pane in PANES:
            self.users[pane.key] = self.fake.user(pane.user_id, pane.first_name, pane.last_name)
        await self._load_demo()
        self._housekeeping = asyncio.create_task(self._forget_old_calls())
        log.info("sandbox world ready")

    async def stop(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        if self.fake is not None:
            await self.fake.stop()
            self.fake = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def _load_demo(self) -> None:
        """Import the demo directory, then bind each staff pane through its invite link."""
        assert self.runtime is not None
        now = self.clock.now()
        tokens: dict[str, str] = {}
        async with self.runtime.db.uow() as uow:
            await import_directory(uow, demo_directory(), now)
            for pane in PANES:
                if pane.directory_id and pane.invite_role:
                    tokens[pane.key] = await create_staff_invite(
                        uow, pane.invite_role, pane.directory_id, now, actor="sandbox"
                    )
            await uow.commit()
        # The same path as a person opening https://t.me/<bot>?start=<token> in Telegram.
        last = 0
        for key, token in tokens.items():
            last = self.users[key].send_text(f"/start {token}")
        await self.settled(last)

    async def settled(self, update_id: int, timeout: float = 15.0) -> None:
        """Wait until the bot has handled `update_id` and sent what it caused."""
        assert self.runtime is not None
        await self.runtime.intake.wait_handled(update_id, timeout)
        await self.runtime.drained(timeout)

    # ------------------------------------------------------------------ acting as a user
    def user(self, pane: str) -> FakeUser:
        if pane not in self.users:
            raise SandboxError(f"no pane {pane!r}")
        return self.users[pane]

    def send(self, pane: str, text: str, reply_to: int | None = None) -> int:
        """The pane's user types `text` (as a Telegram reply to `reply_to` if given)."""
        text = text.strip()
        if not text:
            raise SandboxError("type something first")
        if len(text) > 4096:
            raise SandboxError("Telegram messages are at most 4096 characters")
        user = self.user(pane)
        try:
            return user.reply_to(reply_to, text) if reply_to else user.send_text(text)
        except AssertionError as exc:  # the fake's way of saying "no such message"
            raise SandboxError("that message is gone") from exc

    def upload(
        self,
        pane: str,
        name: str,
        content: bytes,
        caption: str | None = None,
        as_photo: bool = False,
        reply_to: int | None = None,
    ) -> int:
        """The pane's user sends a file: a JPEG or PNG ``as_photo`` the way Telegram's apps
        do (re-encoded as a JPEG of at most 1280 px), anything else as a document."""
        name = Path(name.replace("\\", "/")).name.strip() or "file"
        if not content:
            raise SandboxError("choose a file first")
        if len(content) > MAX_UPLOAD:
            raise SandboxError(f"the sandbox takes files up to {MAX_UPLOAD // 2**20} MB")
        caption = (caption or "").strip() or None
        if caption and len(caption) > 1024:
            raise SandboxError("Telegram captions are at most 1024 characters")
        user = self.user(pane)
        try:
            if as_photo:
                jpeg, width, height = _as_telegram_photo(content)
                return user.send_photo(caption, jpeg, None, reply_to, width, height)
            return user.send_document(name, content, caption=caption, reply_to=reply_to)
        except AssertionError as exc:
            raise SandboxError("that message is gone") from exc

    def press(self, pane: str, message_id: int, data: str) -> int:
        """The pane's user presses the inline button carrying `data` on `message_id`."""
        try:
            return self.user(pane).press(data, message_id)
        except AssertionError as exc:
            raise SandboxError("that button is gone") from exc

    # ------------------------------------------------------------------------- the clock
    async def advance(self, delta: timedelta) -> datetime:
        """Move time forward in steps, running the bot's sweeps after each step."""
        assert self.runtime is not None
        runtime = self.runtime
        async with self._advancing:
            remaining = delta
            while remaining > timedelta(0):
                step = min(STEP, remaining)
                self.clock.advance(step)
                remaining -= step
                done = await runtime.sweep()
                if done:
                    await runtime.drained(30.0)
            log.info("sandbox clock advanced by %s", delta)
            return self.clock.now()

    async def advance_to(self, which: str, limit: timedelta | None = None) -> datetime:
        """Move time (as `advance` does) to the next MDT moment, one of `MDT_MOMENTS`;
        refused if that is more than `limit` ahead."""
        assert self.runtime is not None
        tz, now = self.timezone, self.clock.now()
        since = now.astimezone(tz).date() - timedelta(days=1)  # yesterday's: its morning after
        async with self.runtime.db.uow() as uow:
            cancelled = await uow.mdt.cancelled_dates(since)
            meetings = meetings_from(await uow.clinics.all(), since, cancelled, tz)
        target = mdt_moment(which, meetings, now, tz)
        if limit is not None and target - now > limit:
            raise SandboxError(f"the next {which.replace('_', ' ')} is more than {limit} ahead")
        return await self.advance(max(target - self.clock.now(), timedelta(0)))

    async def _forget_old_calls(self) -> None:
        """The fake records every call for tests; a long-running sandbox keeps the last few."""
        while True:
            await asyncio.sleep(60)
            if self.fake is not None and len(self.fake.calls) > 2000:
                del self.fake.calls[:-500]

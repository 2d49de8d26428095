"""The outbound sender: every message leaves the bot through here.

Messages are written to the outbox in the caller's transaction (`enqueue`) and sent by
the dispatcher (`delivery.outbox`), so a crash between commit and send loses nothing.
Texts arrive as rendered `Html` (every user-supplied value escaped by the template);
over-long texts are split with the buttons on the last part; patient-identifiable
messages are sent with `protect_content`.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError

from delivery.flood import FloodControl
from delivery.text import Html, escape, split_html
from storage.models import OutboxMessage, Person
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64


@dataclass(frozen=True)
class Button:
    """An inline button: `data` for a callback, or `url` for a link."""

    label: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if self.data is not None and not 1 <= len(self.data.encode()) <= MAX_CALLBACK_BYTES:
            raise ValueError("callback data must be 1-64 bytes")


Keyboard = Sequence[Sequence[Button]]


@dataclass
class Outgoing:
    """One message to one chat, before splitting."""

    chat_id: int
    text: Html
    buttons: Keyboard | None = None
    protect: bool = False
    reply_to: int | None = None
    recipient_id: int | None = None
    case_id: int | None = None
    query_id: int | None = None
    document: tuple[str, bytes] | None = None  # (file name, content); `text` is its caption
    # A stored file (attachments row id), sent by its Telegram file_id or uploaded from the
    # database when sent; `text` is its caption. Only the id goes into the outbox.
    attachment: int | None = None

    def payload(self, tally: Sequence[str] | None = None) -> str:
        """What the outbox stores (encrypted) to send this message later."""
        body: dict[str, Any] = {"text": str(self.text)}
        if self.attachment is not None:
            body["attachment"] = self.attachment
        if tally is not None:
            body["tally"] = list(tally)
        if self.buttons:
            body["buttons"] = [[[b.label, b.data, b.url] for b in row] for row in self.buttons]
        if self.reply_to:
            body["reply_to"] = self.reply_to
        if self.document:
            body["document"] = [self.document[0], base64.b64encode(self.document[1]).decode()]
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Payload:
    """A stored message, read back for sending."""

    text: str
    buttons: Keyboard | None
    reply_to: int | None
    document: tuple[str, bytes] | None = None
    attachment: int | None = None
    tally: tuple[str, ...] | None = None  # what a collapsing notice has counted so far

    @classmethod
    def parse(cls, raw: str) -> Payload:
        body = json.loads(raw)
        buttons = [[Button(*b) for b in row] for row in body.get("buttons", [])] or None
        document = body.get("document")
        tally = body.get("tally")
        return cls(
            body["text"],
            buttons,
            body.get("reply_to"),
            (document[0], base64.b64decode(document[1])) if document else None,
            body.get("attachment"),
            tuple(tally) if tally is not None else None,
        )

    def parts(self) -> list[str]:
        # A file goes in one piece; its caption is kept short by the templates.
        if self.document or self.attachment is not None:
            return [self.text]
        return split_html(self.text)


def markup(buttons: Keyboard | None) -> InlineKeyboardMarkup | None:
    """Telegram's inline keyboard for our buttons."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.label, url=b.url)
                if b.url
                else InlineKeyboardButton(b.label, callback_data=b.data)
                for b in row
            ]
            for row in buttons
        ]
    )


def to_person(person: Person, text: Html, **kwargs: Any) -> Outgoing | None:
    """A message to a person of the service; None if they have no Telegram account yet."""
    if person.telegram_user_id is None:
        return None
    return Outgoing(person.telegram_user_id, text, recipient_id=person.id, **kwargs)


def enqueue(uow: UnitOfWork, message: Outgoing, now: datetime) -> OutboxMessage:
    """Write a message to the outbox in the caller's transaction."""
    row = OutboxMessage(
        recipient_id=message.recipient_id,
        chat_id=message.chat_id,
        payload=message.payload(),
        protect_content=message.protect,
        case_id=message.case_id,
        query_id=message.query_id,
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    uow.outbox.add(row)
    return row


async def enqueue_tally(
    uow: UnitOfWork,
    message: Outgoing,
    key: str,
    items: Sequence[str],
    text_of: Callable[[Sequence[str]], Html],
    now: datetime,
    wait: timedelta,
) -> OutboxMessage:
    """Add `items` to the notice with `key` to this chat that has not gone out yet, or
    start one; it goes out `wait` after its last items.

    An album of files arrives as one update per file, and nothing says how many are
    coming: the notice of the first file waits, and each further file rewrites it, so
    the album gets one notice. A notice already claimed for sending is left alone (a
    late file starts a new one). `text_of` turns the items counted so far into the text.
    """
    row = await uow.outbox.unsent_with_key(message.chat_id, key)
    earlier = Payload.parse(row.payload or "{}").tally or () if row else ()
    tally = [*earlier, *items]
    message.text = text_of(tally)
    if row is None:
        row = enqueue(uow, message, now)
        row.collapse_key = key
    row.payload = message.payload(tally)
    row.next_attempt_at = now + wait
    return row


class Sender:
    """Queues messages in the outbox; sends the few that cannot wait for a transaction."""

    def __init__(self, bot: Bot, flood: FloodControl, wake: Callable[[], None]) -> None:
        self.bot = bot
        self.flood = flood
        self._wake = wake

    def enqueue(self, uow: UnitOfWork, message: Outgoing, now: datetime) -> OutboxMessage:
        """Add the message to the caller's transaction; sent once that commits."""
        return enqueue(uow, message, now)

    def wake(self) -> None:
        """Tell the dispatcher new messages were committed."""
        self._wake()

    async def send_direct(self, chat_id: int, text: str | Html) -> bool:
        """Send outside any transaction (a group being left, a failed update's apology).

        Still paced by flood control and retried after a 429; other failures are logged,
        because there is no row to retry from.
        """
        body = text if isinstance(text, Html) else Html(escape(text))
        for part in split_html(body):
            for _attempt in range(3):
                await self.flood.acquire(chat_id)
                try:
                    await self.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
                    break
                except RetryAfter as exc:
                    self.flood.retry_after(chat_id, seconds(exc.retry_after))
                except TelegramError as exc:
                    log.warning("direct send failed: %s", type(exc).__name__)
                    return False
            else:
                return False
        return True


def seconds(value: object) -> float:
    """PTB gives retry_after as seconds or a timedelta, depending on its settings."""
    total = getattr(value, "total_seconds", None)
    return float(total()) if total else float(value)  # type: ignore[arg-type]

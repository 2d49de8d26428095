"""The outbound sender: every message leaves the bot through here.

It owns escaping (texts arrive as rendered `Html`), splitting over-long texts with the
buttons on the last part, and `protect_content` for patient-identifiable messages.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode

from delivery.text import Html, escape, split_html

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
    parts_sent: list[int] = field(default_factory=list)


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


class Sender:
    """Sends rendered messages; later layers add the outbox and flood control."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(self, chat_id: int, text: str | Html) -> list[int]:
        """Send a fixed text (escaped unless already `Html`)."""
        body = text if isinstance(text, Html) else Html(escape(text))
        return await self.send(Outgoing(chat_id, body))

    async def send(self, message: Outgoing) -> list[int]:
        """Send a message, split if needed; returns Telegram's message ids in order."""
        parts = split_html(message.text)
        for index, part in enumerate(parts):
            if index < len(message.parts_sent):
                continue  # already delivered before a retry
            last = index == len(parts) - 1
            sent = await self.bot.send_message(
                chat_id=message.chat_id,
                text=part,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(message.buttons) if last else None,
                protect_content=message.protect or None,
                reply_parameters=(
                    ReplyParameters(message.reply_to, allow_sending_without_reply=True)
                    if message.reply_to and index == 0
                    else None
                ),
                link_preview_options=None,
            )
            message.parts_sent.append(sent.message_id)
        return list(message.parts_sent)

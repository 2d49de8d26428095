"""Command menus: which menu a person has now, and setting a chat's menu in Telegram.

The commands of each menu come from the one command table (`handlers/commands.py`),
handed to the running bot as `Resources.menus` (for /help and after a change of
standing). A chat's menu follows the person's current standing, not only their role:
someone pending approval, suspended or rejected has the base commands only, and a
Telegram account no longer bound to anyone (after /stop or erasure) is a stranger again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from storage.models import Person, PersonStatus

log = logging.getLogger(__name__)

INACTIVE = "inactive"  # known to the bot, but not (or no longer) allowed to act
# Menu key (a role, INACTIVE, or None for a stranger) -> (command, description), in order.
Menus = Mapping[str | None, Sequence[tuple[str, str]]]


def menu_key(person: Person | None) -> str | None:
    """Which menu someone has now: their role if active, INACTIVE, or None (a stranger)."""
    if person is None or person.telegram_user_id is None:
        return None
    return person.role if person.status == PersonStatus.ACTIVE else INACTIVE


async def set_menu(bot: object, chat_id: int | None, commands: Sequence[tuple[str, str]]) -> None:
    """Set the command menu of one chat (or the default); failure is logged, not fatal."""
    menu = [BotCommand(name, description) for name, description in commands]
    scope = BotCommandScopeChat(chat_id) if chat_id else BotCommandScopeDefault()
    try:
        await bot.set_my_commands(menu, scope=scope)  # type: ignore[attr-defined]
    except TelegramError as exc:
        log.warning("setMyCommands failed for scope %s: %s", scope.type, type(exc).__name__)

"""Command menus: which commands each kind of user has, for /help and Telegram's menu.

A chat's menu follows the person's current standing, not only their role: someone
pending approval, suspended or rejected has the base commands only, and a Telegram
account no longer bound to anyone (after /stop or erasure) is a stranger again.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from telegram.error import TelegramError

from storage.models import Person, PersonStatus, Role

log = logging.getLogger(__name__)

# Every role's commands; features add theirs here so /help and the menu agree.
BASE_COMMANDS: list[tuple[str, str]] = [
    ("start", "What this bot is"),
    ("help", "Your commands"),
    ("privacy", "What is stored and why"),
    ("cancel", "Leave the current question"),
]
ROLE_COMMANDS: dict[str, list[tuple[str, str]]] = {role.value: [] for role in Role}
NO_ROLE_COMMANDS: list[tuple[str, str]] = []
INACTIVE = "inactive"  # known to the bot, but not (or no longer) allowed to act


def menu_key(person: Person | None) -> str | None:
    """Which menu someone has now: their role if active, INACTIVE, or None (a stranger)."""
    if person is None or person.telegram_user_id is None:
        return None
    return person.role if person.status == PersonStatus.ACTIVE else INACTIVE


def commands_for(key: str | None) -> list[tuple[str, str]]:
    """The commands of one menu (see `menu_key`), in menu order."""
    if key is None:
        extra = NO_ROLE_COMMANDS
    elif key == INACTIVE:
        extra = []
    else:
        extra = ROLE_COMMANDS.get(key, [])
    return BASE_COMMANDS[:1] + extra + BASE_COMMANDS[1:]


async def set_menu(bot: object, chat_id: int | None, key: str | None) -> None:
    """Set the command menu of one chat (or the default); failure is logged, not fatal."""
    commands = [BotCommand(name, description) for name, description in commands_for(key)]
    scope = BotCommandScopeChat(chat_id) if chat_id else BotCommandScopeDefault()
    try:
        await bot.set_my_commands(commands, scope=scope)  # type: ignore[attr-defined]
    except TelegramError as exc:
        log.warning("setMyCommands failed for scope %s: %s", scope.type, type(exc).__name__)

"""Commands everyone has: /start (with invitation tokens), /help (the menu of one's
role, from the command table), /privacy, /cancel; plus the guards that keep the bot in
private chats and leave nobody unanswered."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from delivery.text import Html, render
from handlers import texts
from handlers.base import Turn, resources_of, run_turn
from handlers.menus import menu_key
from handlers.patients import patient_start
from services.invites import Redeemed, redeem_invite

log = logging.getLogger(__name__)


async def leave_group(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say the bot works only in private chats, leave, and stop all other handlers."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    log.info("update %s from a %s chat: leaving", update.update_id, chat.type)
    member = update.my_chat_member
    if member is not None and member.new_chat_member.status in ("left", "kicked"):
        raise ApplicationHandlerStop  # already out: nothing to say
    if chat.type != ChatType.CHANNEL:
        await resources_of(context).sender.send_direct(chat.id, texts.PRIVATE_ONLY)
    try:
        await context.bot.leave_chat(chat.id)
    except TelegramError as exc:
        log.warning("leaveChat failed: %s", type(exc).__name__)
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet by role, or redeem an invitation token given as /start payload."""

    async def body(turn: Turn) -> None:
        if turn.args:
            # A patient's invitation opens the consent question; others bind an account.
            if await patient_start(turn, turn.args[0][:128]):
                return
            result = await redeem_invite(turn.uow, turn.args[0][:128], turn.user_id, turn.now)
            if isinstance(result, Redeemed):
                person = result.person
                turn.say(
                    render(texts.INVITE_BOUND, name=person.name, role=texts.ROLE_NAMES[person.role])
                )
                turn.reset_menu(turn.chat_id, person)
                if result.previous_telegram_id not in (None, turn.user_id):
                    turn.reset_menu(result.previous_telegram_id, None)  # a stranger now
                log.info("user %s bound to %s", turn.user_id, person.ref)
            else:
                turn.say(texts.INVITE_REFUSED[result.reason])
                log.info("user %s invite refused: %s", turn.user_id, result.reason)
            return
        if turn.person is not None and turn.person.role:
            turn.say(
                render(
                    texts.WELCOME_BACK,
                    name=turn.person.name,
                    role=texts.ROLE_NAMES[turn.person.role],
                )
            )
        else:
            turn.say(render(texts.WELCOME_NEW))

    await run_turn(update, context, body)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the commands of the user's role."""

    async def body(turn: Turn) -> None:
        menu = turn.resources.menus.get(menu_key(turn.person), [])
        lines = [render("/{c} — {d}", c=c, d=d) for c, d in menu]
        turn.say(Html("\n".join([texts.HELP_HEADER, "", *lines])))

    await run_turn(update, context, body)


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain what is stored."""

    async def body(turn: Turn) -> None:
        turn.say(render(texts.PRIVACY, phone=turn.resources.service_phone))

    await run_turn(update, context, body)


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Leave any conversation with nothing saved."""

    async def body(turn: Turn) -> None:
        row = await turn.uow.conversations.get(turn.user_id)
        if row is None:
            turn.say(texts.NOTHING_TO_CANCEL)
            return
        await turn.uow.conversations.delete(turn.user_id)
        turn.say(texts.CANCELLED)

    await run_turn(update, context, body)


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer anything no other handler took, so nobody is left without a reply."""
    if update.callback_query is not None:
        await update.callback_query.answer(texts.BUTTON_EXPIRED, show_alert=True)
        return
    if update.edited_message is not None:
        # An edit is never read as an answer: say so, or the user believes it was taken.
        await run_turn(update, context, _edit_not_read)
        return
    message = update.message
    if message is None:
        return  # reactions, member updates...: nothing to answer

    async def body(turn: Turn) -> None:
        is_command = bool(message.text and message.text.startswith("/"))
        turn.say(texts.UNKNOWN_COMMAND if is_command else texts.UNKNOWN_INPUT)

    await run_turn(update, context, body)


async def _edit_not_read(turn: Turn) -> None:
    """Tell the user an edited message changes nothing."""
    turn.say(texts.EDIT_NOT_READ)

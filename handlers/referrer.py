"""/referrer <number> (admins): a referrer's card, with Suspend or Reinstate."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button
from delivery.text import render
from handlers import registration_texts
from handlers.base import Turn, has_role, run_turn
from handlers.shared import render_card
from services import registration, viewing
from storage.models import PersonStatus, Role


async def referrer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/referrer <number> (admins): a referrer's card, with Suspend or Reinstate."""

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]):
            turn.say(registration_texts.FOR_ADMINS)
            return
        if len(turn.args) != 1 or not turn.args[0].removeprefix("R-").isdigit():
            turn.say(registration_texts.REFERRER_USAGE)
            return
        await _show_referrer(turn, int(turn.args[0].removeprefix("R-")))

    await run_turn(update, context, body)


async def _show_referrer(turn: Turn, referrer_id: int) -> None:
    referrer = await turn.uow.people.get(referrer_id)
    card = await registration.load_card(turn.uow, referrer) if referrer else None
    if referrer is None or referrer.role != Role.REFERRER or card is None:
        turn.say(render(registration_texts.NO_SUCH_REFERRER, ref=referrer_id))
        return
    assert turn.person is not None
    await viewing.referrer_viewed(turn.uow, turn.person, referrer, turn.now)
    buttons = None
    if referrer.status == PersonStatus.ACTIVE:
        buttons = [[Button(registration_texts.SUSPEND, data=f"rf:s:{referrer.id}")]]
    elif referrer.status == PersonStatus.SUSPENDED:
        buttons = [[Button(registration_texts.REINSTATE, data=f"rf:r:{referrer.id}")]]
    turn.say(
        render(
            registration_texts.REFERRER_VIEW,
            ref=referrer.id,
            status=registration_texts.STATUS_NAMES.get(referrer.status, referrer.status),
            card=render_card(card),
        ),
        buttons,
    )


async def suspension_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Suspend or Reinstate on a referrer's card (admins)."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]) or not raw_id.isdigit():
            turn.notice = registration_texts.FOR_ADMINS
            return
        assert turn.person is not None
        referrer = await turn.uow.people.get(int(raw_id))
        if referrer is None or referrer.role != Role.REFERRER:
            turn.notice = registration_texts.NO_SUCH_REFERRER.format(ref=raw_id)
            return
        suspend = action == "s"
        if await registration.set_suspended(turn.uow, turn.person, referrer, suspend, turn.now):
            turn.say(
                render(
                    registration_texts.SUSPENDED if suspend else registration_texts.REINSTATED,
                    ref=referrer.id,
                )
            )
            turn.tell(
                referrer,
                render(
                    registration_texts.YOU_ARE_SUSPENDED
                    if suspend
                    else registration_texts.YOU_ARE_REINSTATED
                ),
            )
            turn.reset_menu(referrer.telegram_user_id, referrer)
        else:
            status = registration_texts.STATUS_NAMES.get(referrer.status, referrer.status)
            turn.notice = registration_texts.NOTHING_CHANGED.format(ref=referrer.id, status=status)
            turn.say(turn.notice)

    await run_turn(update, context, body)

"""/erase_patient C-n (admins): remove the patient's Telegram binding and personal
fields after a confirm button; the clinical record stays under the retention rule."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from delivery.sender import Button
from delivery.text import render
from handlers.base import Turn, for_roles, has_role, run_turn
from handlers.menus import ROLE_COMMANDS
from services import cases as case_svc
from services.erasure import erase_patient, patients_of_case
from storage.models import Case, Role

log = logging.getLogger(__name__)

ROLE_COMMANDS[Role.ADMIN].append(
    ("erase_patient", "Remove a patient's Telegram link and details: /erase_patient C-12")
)

FOR_ADMINS = "Only an administrator can erase a patient's details."
USAGE = "Usage: /erase_patient C-12"
NO_CASE = "There is no case {ref} that you can see."
NO_PATIENT = "Case {ref} has no patient enrolled with the bot: there is nothing to erase."
ASK = (
    "<b>Erase the patient of {ref}?</b>\n"
    "Their Telegram link and personal details are removed and their pending reminders "
    "cancelled. The clinical record of {ref} (thread, appointments) is kept under the "
    "retention policy. This cannot be undone."
)
ERASED = (
    "Done: the patient of {ref} is no longer linked to the bot ({reminders} pending "
    "reminder(s) cancelled). The case itself is unchanged."
)
KEPT = "Nothing was erased."
TELL_CLINICIAN = (
    "An administrator removed the patient of case {ref} from the bot: no more reminders "
    "will be sent to them."
)


@for_roles(Role.ADMIN, refusal=FOR_ADMINS)
async def erase_command(turn: Turn) -> None:
    """/erase_patient C-n: show what will happen, with Erase / Keep buttons."""
    if len(turn.args) != 1:
        turn.say(USAGE)
        return
    case = await case_svc.visible_case(turn.uow, turn.person, turn.args[0])
    if case is None:
        turn.say(NO_CASE.format(ref=turn.args[0][:20]))
        return
    if not await patients_of_case(turn.uow, case.id):
        turn.say(NO_PATIENT.format(ref=case.ref), case_id=case.id)
        return
    turn.say(
        render(ASK, ref=case.ref),
        [[Button("Erase", data=f"er:y:{case.id}"), Button("Keep", data=f"er:n:{case.id}")]],
        case_id=case.id,
    )


async def erase_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Erase / Keep: the role is checked again on the press, not only on the command."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]) or turn.person is None:
            turn.notice = FOR_ADMINS
            return
        case = await turn.uow.session.get(Case, int(raw_id))
        if case is None:
            turn.notice = KEPT
            return
        if action != "y":
            turn.say(KEPT)
            return
        if not await patients_of_case(turn.uow, case.id):
            turn.say(NO_PATIENT.format(ref=case.ref), case_id=case.id)
            return
        result = await erase_patient(turn.uow, case, turn.person, turn.now)
        log.info("patient of %s erased by %s", case.ref, turn.person.ref)
        for telegram_id in result.telegram_ids:
            turn.reset_menu(telegram_id, None)  # that account is a stranger to the bot now
        turn.say(
            render(ERASED, ref=case.ref, reminders=result.reminders_cancelled), case_id=case.id
        )
        named = (
            await turn.uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
        )
        if named is not None and named.id != turn.person.id:
            turn.tell(named, render(TELL_CLINICIAN, ref=case.ref), case_id=case.id)

    await run_turn(update, context, body)


def handlers() -> list[tuple[int, BaseHandler]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("erase_patient", erase_command, filters=private)),
        (0, CallbackQueryHandler(erase_pressed, pattern=r"^er:[yn]:\d{1,9}$")),
    ]

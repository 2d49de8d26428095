"""/erase_patient C-n (admins): remove the patient's Telegram binding and personal
fields after a confirm button; the clinical record stays under the retention rule."""

from __future__ import annotations

import logging

from delivery.text import render
from handlers.base import Turn, for_roles, has_role
from handlers.shared import ask_to_confirm, case_named, confirm_pattern, on_confirm
from services.erasure import erase_patient, patients_of_case
from storage.models import Case, Role

log = logging.getLogger(__name__)

PREFIX = "er"

FOR_ADMINS = "Only an administrator can erase a patient's details."
USAGE = "Usage: /erase_patient C-12"
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
    case = await case_named(turn, USAGE)
    if case is None:
        return
    if not await patients_of_case(turn.uow, case.id):
        turn.say(NO_PATIENT.format(ref=case.ref), case_id=case.id)
        return
    ask_to_confirm(turn, ASK, PREFIX, case, "Erase", "Keep")


async def erase_pressed(turn: Turn, case: Case, yes: bool) -> None:
    """Erase / Keep: the role is checked again on the press, not only on the command."""
    if not has_role(turn.person, [Role.ADMIN]) or turn.person is None:
        turn.notice = FOR_ADMINS
        return
    if not yes:
        turn.say(KEPT)
        return
    if not await patients_of_case(turn.uow, case.id):
        turn.say(NO_PATIENT.format(ref=case.ref), case_id=case.id)
        return
    result = await erase_patient(turn.uow, case, turn.person, turn.now)
    log.info("patient of %s erased by %s", case.ref, turn.person.ref)
    for telegram_id in result.telegram_ids:
        turn.reset_menu(telegram_id, None)  # that account is a stranger to the bot now
    turn.say(render(ERASED, ref=case.ref, reminders=result.reminders_cancelled), case_id=case.id)
    named = await turn.uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
    if named is not None and named.id != turn.person.id:
        turn.tell(named, render(TELL_CLINICIAN, ref=case.ref), case_id=case.id)


def _case_gone(turn: Turn) -> None:
    """No such case: admins hear nothing was erased; anyone else that it is for admins."""
    turn.notice = KEPT if has_role(turn.person, [Role.ADMIN]) else FOR_ADMINS


erase_button = on_confirm(erase_pressed, _case_gone)
ERASE_BUTTON = confirm_pattern(PREFIX)

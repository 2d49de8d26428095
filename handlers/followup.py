"""/followup C-n <days> <note>: a reminder to the case's named clinician on that day."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers.appointments import staff_case
from handlers.base import Turn, run_turn
from handlers.shared import today
from services import appointments

MAX_NOTE = 1000


async def followup_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/followup C-n <days> <note>: a reminder to the named clinician on that day."""

    async def body(turn: Turn) -> None:
        if len(turn.args) < 3 or not turn.args[1].isdigit() or not 0 < int(turn.args[1]) <= 3650:
            turn.say("Usage: /followup C-12 14 check MRI result")
            return
        case = await staff_case(turn, turn.args[0])
        if case is None or case.named_clinician_id is None or turn.person is None:
            return
        note = (turn.text or "").split(maxsplit=3)[3]
        if len(note) > MAX_NOTE:
            # Cutting it would lose the end of a clinical note without anyone noticing.
            turn.say(
                f"That note is {len(note)} characters; the limit is 1000. Nothing was set: "
                "please send it again, shorter."
            )
            return
        due = appointments.followup_due(today(turn), int(turn.args[1]), turn.resources.timezone)
        await appointments.set_followup(turn.uow, case, turn.person, due, note, turn.now)
        local = due.astimezone(turn.resources.timezone)
        turn.say(
            f"Follow-up reminder for {case.ref} set for {local:%A %d %B %Y %H:%M}.",
            case_id=case.id,
        )

    await run_turn(update, context, body)

"""/close C-n (named clinician, deputy, admins): end a case once every query on it is
resolved; the retention period runs from then."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from delivery.sender import Button
from delivery.text import render
from handlers.base import Turn, for_roles, run_turn
from handlers.menus import ROLE_COMMANDS
from services import cases as case_svc
from services.retention import close_case
from storage.models import Case, Role

for _role in (Role.CLINICIAN, Role.ADMIN):
    ROLE_COMMANDS[_role].append(("close", "Close a case when its care ends: /close C-12"))

NOT_ALLOWED = "Only the named clinician, the deputy or an administrator can close {ref}."
NOT_STAFF = "Only the service's clinicians and administrators can close cases."
USAGE = "Usage: /close C-12"
NO_CASE = "There is no case {ref} that you can see."
ALREADY = "{ref} is already closed."
ASK = (
    "<b>Close {ref}?</b>\nClose a case when the service's care of the patient has ended. "
    "Its messages are kept for the retention period, then deleted."
)
OPEN_QUERIES = "{ref} still has unresolved queries ({queries}): resolve them first."
CLOSED = "{ref} is closed."
TELL_REFERRER = "Case {ref} has been closed by the sarcoma service."
KEPT = "{ref} stays open."


def _may_close(turn: Turn, case: Case) -> bool:
    """An active admin, or an active clinician holding the case: checked on the command
    and again on the button, since either may have changed in between."""
    return case_svc.may_manage(turn.person, case)


@for_roles(Role.CLINICIAN, Role.ADMIN, refusal=NOT_STAFF)
async def close_command(turn: Turn) -> None:
    """/close C-n: confirm with a button."""
    if len(turn.args) != 1:
        turn.say(USAGE)
        return
    case = await case_svc.visible_case(turn.uow, turn.person, turn.args[0])
    if case is None:
        turn.say(NO_CASE.format(ref=turn.args[0][:20]))
        return
    if not _may_close(turn, case):
        turn.say(NOT_ALLOWED.format(ref=case.ref), case_id=case.id)
        return
    if case.status == "closed":
        turn.say(ALREADY.format(ref=case.ref), case_id=case.id)
        return
    turn.say(
        render(ASK, ref=case.ref),
        [
            [
                Button("Close case", data=f"cl:y:{case.id}"),
                Button("Keep open", data=f"cl:n:{case.id}"),
            ]
        ],
        case_id=case.id,
    )


async def close_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Close case / Keep open, checked again on the press."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        case = await turn.uow.session.get(Case, int(raw_id))
        if case is None or turn.person is None or not _may_close(turn, case):
            turn.notice = "That case is not one you can close."
            return
        if action != "y":
            turn.say(KEPT.format(ref=case.ref), case_id=case.id)
            return
        if case.status == "closed":
            turn.say(ALREADY.format(ref=case.ref), case_id=case.id)
            return
        closed = await close_case(turn.uow, case, turn.person, turn.now)
        if closed.open_queries:
            turn.say(
                OPEN_QUERIES.format(
                    ref=case.ref, queries=", ".join(q.ref for q in closed.open_queries)
                ),
                case_id=case.id,
            )
            return
        turn.say(CLOSED.format(ref=case.ref), case_id=case.id)
        referrer = await turn.uow.people.get(case.referrer_id)
        if referrer is not None:
            turn.tell(referrer, render(TELL_REFERRER, ref=case.ref), case_id=case.id)

    await run_turn(update, context, body)


def handlers() -> list[tuple[int, BaseHandler]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("close", close_command, filters=private)),
        (0, CallbackQueryHandler(close_pressed, pattern=r"^cl:[yn]:\d{1,9}$")),
    ]

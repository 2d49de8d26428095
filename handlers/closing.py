"""/close C-n (named clinician, deputy, admins): end a case once every query on it is
resolved; the retention period runs from then."""

from __future__ import annotations

from delivery.text import render
from handlers.base import Turn, for_roles
from handlers.mdt import day_words
from handlers.shared import ask_to_confirm, case_named, confirm_pattern, on_confirm
from services import cases
from services.retention import close_case
from storage.models import Case, Role

PREFIX = "cl"

NOT_ALLOWED = "Only the named clinician, the deputy or an administrator can close {ref}."
NOT_STAFF = "Only the service's clinicians and administrators can close cases."
USAGE = "Usage: /close C-12"
ALREADY = "{ref} is already closed."
ASK = (
    "<b>Close {ref}?</b>\nClose a case when the service's care of the patient has ended. "
    "Its messages are kept for the retention period, then deleted."
)
OPEN_QUERIES = "{ref} still has unresolved queries ({queries}): resolve them first."
LISTED = (
    "{ref} is listed for the MDT on {when}: record its outcome (/mdt_outcome {ref}) or take"
    " it off (/mdt_remove {ref} reason) first."
)
CLOSED = "{ref} is closed."
TELL_REFERRER = "Case {ref} has been closed by the sarcoma service."
KEPT = "{ref} stays open."


@for_roles(Role.CLINICIAN, Role.ADMIN, refusal=NOT_STAFF)
async def close_command(turn: Turn) -> None:
    """/close C-n: confirm with a button."""
    case = await case_named(turn, USAGE)
    if case is None:
        return
    # Checked on the command and again on the press: either may have changed in between.
    if not cases.may_manage(turn.person, case):
        turn.say(NOT_ALLOWED.format(ref=case.ref), case_id=case.id)
        return
    if case.status == "closed":
        turn.say(ALREADY.format(ref=case.ref), case_id=case.id)
        return
    ask_to_confirm(turn, ASK, PREFIX, case, "Close case", "Keep open")


NOT_YOURS_TO_CLOSE = "That case is not one you can close."


async def close_pressed(turn: Turn, case: Case, yes: bool) -> None:
    """Close case / Keep open, checked again on the press."""
    if turn.person is None or not cases.may_manage(turn.person, case):
        turn.notice = NOT_YOURS_TO_CLOSE
        return
    if not yes:
        turn.say(KEPT.format(ref=case.ref), case_id=case.id)
        return
    if case.status == "closed":
        turn.say(ALREADY.format(ref=case.ref), case_id=case.id)
        return
    closed = await close_case(turn.uow, case, turn.person, turn.now)
    if closed.open_queries:
        queries = ", ".join(q.ref for q in closed.open_queries)
        turn.say(OPEN_QUERIES.format(ref=case.ref, queries=queries), case_id=case.id)
        return
    if closed.listed_for is not None:
        when = day_words(closed.listed_for)
        turn.say(render(LISTED, ref=case.ref, when=when), case_id=case.id)
        return
    turn.say(CLOSED.format(ref=case.ref), case_id=case.id)
    referrer = await turn.uow.people.get(case.referrer_id)
    if referrer is not None:
        turn.tell(referrer, render(TELL_REFERRER, ref=case.ref), case_id=case.id)


def _case_gone(turn: Turn) -> None:
    turn.notice = NOT_YOURS_TO_CLOSE


close_button = on_confirm(close_pressed, _case_gone)
CLOSE_BUTTON = confirm_pattern(PREFIX)

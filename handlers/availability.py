"""/away (new queries go to the deputy until a date) and /back, for clinicians."""

from __future__ import annotations

from datetime import date

from handlers.base import Turn, for_roles
from handlers.shared import today
from handlers.texts import FOR_CLINICIANS
from services import availability
from storage.models import Role

AWAY_USAGE = "Usage: /away YYYY-MM-DD (the last day you are away)."
AWAY_SET = "You are marked away until {until}. New queries go to your deputies."
AWAY_BAD_DATE = "That date is not valid or is in the past. Usage: /away YYYY-MM-DD."
BACK = "Welcome back: new queries come to you again."


@for_roles(Role.CLINICIAN, refusal=FOR_CLINICIANS)
async def away_command(turn: Turn) -> None:
    """/away YYYY-MM-DD: new queries go to the deputy until then."""
    assert turn.person is not None
    if len(turn.args) != 1:
        turn.say(AWAY_USAGE)
        return
    try:
        until = date.fromisoformat(turn.args[0])
    except ValueError:
        until = None
    if until is None or until < today(turn):
        turn.say(AWAY_BAD_DATE)
        return
    await availability.set_away(turn.uow, turn.person, until, turn.now)
    turn.say(AWAY_SET.format(until=until.strftime("%d %B %Y")))


@for_roles(Role.CLINICIAN, refusal=FOR_CLINICIANS)
async def back_command(turn: Turn) -> None:
    """/back: available again."""
    assert turn.person is not None
    await availability.set_back(turn.uow, turn.person, turn.now)
    turn.say(BACK)

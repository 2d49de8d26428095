"""/queue: a clinician's open queries, urgent first, then oldest first."""

from __future__ import annotations

from delivery.text import render
from handlers.base import Turn, for_roles
from handlers.shared import say_list
from handlers.texts import FOR_CLINICIANS
from services import queries
from storage.models import Role

QUEUE_HEADER = "<b>Your open queries</b>, urgent first, then oldest first"
QUEUE_EMPTY = "You have no open queries."
QUEUE_LINE = "{qref} on {ref} — {state}, asked {asked}"


@for_roles(Role.CLINICIAN, refusal=FOR_CLINICIANS)
async def queue_command(turn: Turn) -> None:
    """/queue: a clinician's open queries, urgent first, then oldest first."""
    assert turn.person is not None
    queue = await queries.open_queries_for(turn.uow, turn.person)
    tz = turn.resources.timezone
    lines = [
        render(
            QUEUE_LINE,
            qref=q.ref,
            ref=f"C-{q.case_id}",
            state="not yet acknowledged" if q.status == "open" else "acknowledged",
            asked=q.created_at.astimezone(tz).strftime("%d %b %H:%M"),
        )
        for q in queue
    ]
    say_list(turn, QUEUE_HEADER, lines, empty=QUEUE_EMPTY)

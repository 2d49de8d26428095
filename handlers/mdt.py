"""The MDT meeting: /mdt_add (and the Discuss at MDT button), /mdt_remove, /mdt (the
agenda, with its PDF for admins) and /mdt_outcome (the outcome to the referrer and link
clinicians, the same day, as text and PDF)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button, Outgoing
from delivery.text import Html, render
from handlers import cases_texts, referral_texts, texts
from handlers import mdt_texts as MT
from handlers.base import (
    END,
    Conversation,
    Turn,
    active_in,
    choice_button,
    for_roles,
    message_to,
    run_turn,
    summary_buttons,
    summary_choice,
)
from handlers.shared import DISCUSS_AT_MDT, role_name, today
from services import cases, mdt
from services.mdt_agenda import agenda_pages
from services.mdt_pdf import OutcomeSummary, agenda_pdf, outcome_pdf
from services.patient_checks import check_free_text
from services.registration import Invalid
from storage.models import Case, MdtMeeting, Role
from storage.uow import UnitOfWork

QUESTION, CATEGORY, OUTCOME_TEXT, CONFIRM = "question", "category", "text", "confirm"
ADD_BUTTON = r"^mdt:add:\d+$"
PDF_BUTTON = r"^mdt:pdf:\d{4}-\d{2}-\d{2}$"
STAFF = (Role.CLINICIAN, Role.ADMIN)


def day_words(day: date) -> str:
    """`Monday 7 December 2026`."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def when_words(at: datetime, tz: ZoneInfo) -> str:
    """`Thursday 3 December 2026, 17:00`."""
    local = at.astimezone(tz)
    return f"{day_words(local.date())}, {local:%H:%M}"


def discuss_button(case: Case) -> Button:
    """The button that lists a case for the MDT (case card; query messages have it in
    shared.holder_buttons)."""
    return Button(DISCUSS_AT_MDT, data=f"mdt:add:{case.id}")


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- /mdt_add and Discuss at MDT ------------------------------------------------------

listing = Conversation("mdt_add", start_state=QUESTION, allowed=active_in(*STAFF))


async def ask_question(turn: Turn) -> None:
    """Ask the one-line question for the meeting."""
    turn.say(render(MT.ASK_QUESTION, ref=f"C-{turn.data['case_id']}"), case_id=turn.data["case_id"])


@listing.step(QUESTION, ask_question, text_hint=MT.QUESTION_HINT)
async def got_question(turn: Turn) -> str:
    """List the case with its question, and tell the referrer and link clinicians."""
    checked = check_free_text(turn.text or "", "question", 300)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    case = await turn.uow.cases.get(int(turn.data["case_id"]))
    if case is None or turn.person is None:
        turn.say(cases_texts.NOT_YOURS.format(ref=f"C-{turn.data['case_id']}"))
        return END
    wanted = date.fromisoformat(turn.data["date"]) if turn.data.get("date") else None
    tz = turn.resources.timezone
    result = await mdt.list_case(
        turn.uow, turn.person, case, str(checked.value), turn.now, tz, wanted
    )
    if isinstance(result, str):
        await _say_why_not(turn, case, result, wanted)
        return END
    when = day_words(result.meeting.day)
    if result.missed is not None:
        turn.say(
            render(
                MT.LISTED_AFTER_CUTOFF,
                ref=case.ref,
                missed=day_words(result.missed.day),
                cutoff=when_words(result.missed.cutoff_at, tz),
                when=when,
            ),
            case_id=case.id,
        )
    turn.say(
        render(MT.LISTED, ref=case.ref, when=when, question=str(checked.value)), case_id=case.id
    )
    for person in result.tell:
        turn.tell(person, render(MT.LISTED_FOR_OTHERS, ref=case.ref, when=when), case_id=case.id)
    presenter = await turn.uow.people.get(result.listing.presenting_id or 0)
    for person in result.late_for:
        late = render(
            MT.ADDED_AFTER_AGENDA,
            when=when,
            ref=case.ref,
            urgency=referral_texts.URGENCIES[case.urgency],
            question=str(checked.value),
            presenting=presenter.name if presenter else "—",
        )
        turn.tell(person, late, case_id=case.id)
    return END


async def _say_why_not(turn: Turn, case: Case, why: str, wanted: date | None) -> None:
    if why == "already":
        found = await turn.uow.mdt.active_listing(case.id)
        when = day_words(found[1].meeting_date) if found else "?"
        turn.say(render(MT.ALREADY, ref=case.ref, when=when), case_id=case.id)
    elif why == "closed":
        turn.say(render(MT.CLOSED, ref=case.ref), case_id=case.id)
    elif why == "not_a_meeting":
        turn.say(render(MT.NOT_A_MEETING, day=day_words(wanted) if wanted else "that day"))
    elif why == "no_meeting":
        turn.say(MT.NO_MEETING)
    elif why == "too_late":
        turn.say(MT.TOO_LATE)
    else:
        turn.say(cases_texts.NOT_YOURS.format(ref=case.ref))


async def _begin_listing(turn: Turn, case: Case | None, ref: str, wanted: str | None) -> None:
    """Check who may list the case, then ask the question for the meeting."""
    if case is None or not mdt.may_list(turn.person, case):
        turn.say(cases_texts.NOT_YOURS.format(ref=ref[:20]))
        return
    if case.status != "open":
        turn.say(render(MT.CLOSED, ref=case.ref), case_id=case.id)
        return
    if await turn.uow.mdt.active_listing(case.id) is not None:
        await _say_why_not(turn, case, "already", None)
        return
    day = date.fromisoformat(wanted) if wanted else None
    tz = turn.resources.timezone
    # Said before the question is asked: no meeting that day, or none ahead at all.
    choice = await mdt.choose_meeting(turn.uow, turn.now, tz, day, mdt.may_override(turn.person))
    if isinstance(choice, str):
        await _say_why_not(turn, case, choice, day)
        return
    await listing.begin(turn, {"case_id": case.id, "date": wanted})


@for_roles(*STAFF, refusal=texts.UNKNOWN_COMMAND)
async def mdt_add_command(turn: Turn) -> None:
    """/mdt_add C-n [YYYY-MM-DD]: list a case for the next MDT (or that date's)."""
    if len(turn.args) not in (1, 2):
        turn.say(MT.ADD_USAGE)
        return
    wanted = None
    if len(turn.args) == 2:
        day = _parse_day(turn.args[1])
        if day is None:
            turn.say(MT.ADD_USAGE)
            return
        wanted = day.isoformat()
    case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
    await _begin_listing(turn, case, turn.args[0], wanted)


async def discuss_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Discuss at MDT (case card, query message): ask the question for the meeting."""
    data = update.callback_query.data if update.callback_query else ""

    async def body(turn: Turn) -> None:
        case = await turn.uow.cases.get(int((data or "0").rsplit(":", 1)[1]))
        if case is None or not mdt.may_list(turn.person, case):
            turn.notice = cases_texts.NOT_YOURS.format(ref=f"C-{case.id if case else '?'}")
            return
        await _begin_listing(turn, case, case.ref, None)

    await run_turn(update, context, body)


# --- /mdt_remove ------------------------------------------------------------------------


@for_roles(*STAFF, refusal=texts.UNKNOWN_COMMAND)
async def mdt_remove_command(turn: Turn) -> None:
    """/mdt_remove C-n reason: take a case off the meeting it waits for."""
    if len(turn.args) < 2 or turn.person is None:
        turn.say(MT.REMOVE_USAGE)
        return
    reason = " ".join(turn.args[1:])[:300]
    case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
    if case is None:
        turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0][:20]))
        return
    result = await mdt.remove_listing(turn.uow, turn.person, case, reason, turn.now)
    if result == "not_listed":
        turn.say(render(MT.NOT_LISTED, ref=case.ref), case_id=case.id)
        return
    if isinstance(result, str):
        turn.say(cases_texts.NOT_YOURS.format(ref=case.ref))
        return
    when = day_words(result.meeting.meeting_date)
    turn.say(render(MT.REMOVED, ref=case.ref, when=when, reason=reason), case_id=case.id)
    for person in result.tell:
        turn.tell(
            person,
            render(MT.REMOVED_FOR_OTHERS, ref=case.ref, when=when, reason=reason),
            case_id=case.id,
        )


# --- /mdt: the agenda ----------------------------------------------------------------------


async def _meeting_asked(turn: Turn) -> MdtMeeting | date | None:
    """The meeting row of the date asked (default: the next meeting); the date alone when
    nothing was ever listed for it; None when no meeting is ahead."""
    if turn.args:
        day = _parse_day(turn.args[0])
        if day is None:
            return None
    else:
        ahead = await mdt.upcoming(turn.uow, turn.now, turn.resources.timezone)
        if not ahead:
            return None
        day = ahead[0].day
    return await mdt.meeting_of_day(turn.uow, day) or day


@for_roles(Role.CLINICIAN, Role.ADMIN, Role.LINK_CLINICIAN, refusal=texts.UNKNOWN_COMMAND)
async def mdt_command(turn: Turn) -> None:
    """/mdt [YYYY-MM-DD]: the agenda of the next MDT (or that date's)."""
    assert turn.person is not None
    found = await _meeting_asked(turn)
    if found is None:
        turn.say(MT.AGENDA_NONE_AHEAD if not turn.args else MT.AGENDA_USAGE)
        return
    if isinstance(found, date):
        turn.say(render(MT.AGENDA_EMPTY, when=day_words(found)))
        return
    lines = await agenda_lines(turn, found)
    when = day_words(found.meeting_date)
    if not lines:
        turn.say(render(MT.AGENDA_EMPTY, when=when))
        return
    header = render(MT.AGENDA_HEADER, when=when, count=_cases(len(lines)))
    buttons = None
    if turn.person.role == Role.ADMIN:
        buttons = [[Button(MT.AGENDA_PDF, data=f"mdt:pdf:{found.meeting_date.isoformat()}")]]
    turn.say(Html("\n\n".join([header, *lines])), buttons, protect=True)


def _cases(n: int) -> str:
    return "1 case" if n == 1 else f"{n} cases"


async def agenda_lines(turn: Turn, meeting: MdtMeeting) -> list[Html]:
    """The agenda as one line per case, as the person may see it."""
    assert turn.person is not None
    tz = turn.resources.timezone
    items = mdt.agenda_for(turn.person, await mdt.agenda(turn.uow, meeting, today(turn), tz))
    return [agenda_line(n, item) for n, item in enumerate(items, 1)]


def agenda_line(n: int, item: mdt.AgendaItem) -> Html:
    """One case of an agenda (never the NHS number: the list goes to link clinicians too)."""
    return render(
        MT.AGENDA_LINE,
        n=n,
        ref=item.case.ref,
        urgency=referral_texts.URGENCIES[item.case.urgency],
        tumour=referral_texts.TUMOUR_TYPES[item.case.tumour_type],
        site=item.case.site or "—",
        question=item.listing.question or "—",
        presenting=item.presenting.name if item.presenting else "—",
        files=item.files,
        days="1 day" if item.days_since_referral == 1 else f"{item.days_since_referral} days",
    )


async def agenda_pdf_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Agenda PDF (admins): the meeting's agenda, one page per case."""
    data = update.callback_query.data if update.callback_query else ""

    async def body(turn: Turn) -> None:
        if turn.person is None or turn.person.role != Role.ADMIN:
            turn.notice = MT.NOT_FOR_YOU
            return
        day = date.fromisoformat((data or "").rsplit(":", 1)[1])
        meeting = await mdt.meeting_of_day(turn.uow, day)
        if meeting is None:
            turn.say(render(MT.AGENDA_EMPTY, when=day_words(day)))
            return
        await send_agenda_pdf(turn, meeting)

    await run_turn(update, context, body)


async def send_agenda_pdf(turn: Turn, meeting: MdtMeeting) -> None:
    """The agenda PDF to the one asking (an admin)."""
    assert turn.person is not None
    pages = await agenda_pages(turn.uow, meeting, turn.resources.timezone, today(turn))
    when = day_words(meeting.meeting_date)
    pdf = await asyncio.to_thread(agenda_pdf, f"MDT {when}", meeting.meeting_date, pages)
    document = message_to(
        turn.person,
        render(MT.AGENDA_PDF_CAPTION, when=when),
        protect=True,
        document=(f"mdt-agenda-{meeting.meeting_date.isoformat()}.pdf", pdf),
    )
    if document is not None:
        turn.replies.append(document)


# --- /mdt_outcome -------------------------------------------------------------------------

outcome = Conversation("mdt_outcome", start_state=CATEGORY, allowed=active_in(*STAFF))


async def _listed_case(turn: Turn) -> tuple[Case, str] | None:
    case = await turn.uow.cases.get(int(turn.data["case_id"]))
    if case is None or turn.person is None:
        return None
    found = await mdt.listing_for_outcome(
        turn.uow, turn.person, case, turn.now, turn.resources.timezone
    )
    if isinstance(found, str):
        await _say_outcome_refusal(turn, case, found)
        return None
    return case, day_words(found[1].meeting_date)


async def ask_category(turn: Turn) -> None:
    """Offer the outcome categories."""
    rows = [[choice_button(words, f"o:{key}")] for key, words in mdt.OUTCOMES.items()]
    ref = f"C-{turn.data['case_id']}"
    turn.say(
        render(MT.ASK_OUTCOME, ref=ref, when=turn.data.get("when", "")),
        rows,
        case_id=turn.data["case_id"],
    )


@outcome.step(CATEGORY, ask_category, accepts_text=False)
async def got_category(turn: Turn) -> str:
    """Keep the category."""
    key = (turn.choice or "").removeprefix("o:")
    if key not in mdt.OUTCOMES:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["outcome"] = key
    return OUTCOME_TEXT


async def ask_text(turn: Turn) -> None:
    """Ask the outcome in words."""
    turn.say(
        render(MT.ASK_OUTCOME_TEXT, ref=f"C-{turn.data['case_id']}"), case_id=turn.data["case_id"]
    )


@outcome.step(OUTCOME_TEXT, ask_text, text_hint=MT.OUTCOME_TEXT_HINT)
async def got_text(turn: Turn) -> str:
    """Keep the words."""
    checked = check_free_text(turn.text or "", "outcome", 2000)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    turn.data["text"] = str(checked.value)
    return CONFIRM


async def ask_confirm(turn: Turn) -> None:
    """Show the outcome with Confirm / Edit / Cancel."""
    turn.say(
        render(
            MT.CONFIRM_OUTCOME,
            ref=f"C-{turn.data['case_id']}",
            outcome=mdt.OUTCOMES[turn.data["outcome"]],
            text=turn.data["text"],
        ),
        summary_buttons(),
        case_id=turn.data["case_id"],
    )


@outcome.step(CONFIRM, ask_confirm, accepts_text=False)
async def got_confirm(turn: Turn) -> str:
    """Record the outcome once, and send it to the referrer and link clinicians."""
    if (elsewhere := summary_choice(turn, CATEGORY)) is not None:
        return elsewhere  # Edit: the category and the words again
    case = await turn.uow.cases.get(int(turn.data["case_id"]))
    if case is None or turn.person is None:
        return END
    tz = turn.resources.timezone
    result = await mdt.record_outcome(
        turn.uow, turn.person, case, turn.data["outcome"], turn.data["text"], turn.now, tz
    )
    if isinstance(result, str):
        await _say_outcome_refusal(turn, case, result)
        return END
    await _send_outcome(turn, case, result)
    return END


async def _send_outcome(turn: Turn, case: Case, result: mdt.Decided) -> None:
    """The outcome as text and PDF, protected, to everyone `record_outcome` named."""
    assert turn.person is not None
    tz = turn.resources.timezone
    when = day_words(result.meeting.meeting_date)
    words = mdt.OUTCOMES[turn.data["outcome"]]
    who = role_name(turn.person, case)
    referrer = await turn.uow.people.get(case.referrer_id)
    summary = OutcomeSummary(
        case_ref=case.ref,
        meeting_date=result.meeting.meeting_date,
        outcome=words,
        text=turn.data["text"],
        recorded_by=who,
        recorded_at=turn.now,
        referrer=referrer.name or "" if referrer else "",
        timezone=tz,
    )
    pdf = await asyncio.to_thread(outcome_pdf, summary)
    text = render(
        MT.OUTCOME_FOR_REFERRER,
        ref=case.ref,
        when=when,
        outcome=words,
        text=turn.data["text"],
        who=who,
    )
    sent_to = []
    for person in result.tell:
        if turn.tell(person, text, case_id=case.id):
            sent_to.append(person.name or "")
        document = message_to(
            person,
            render(MT.OUTCOME_PDF_CAPTION, ref=case.ref, when=when),
            case_id=case.id,
            document=(f"mdt-outcome-{case.ref}-{result.meeting.meeting_date.isoformat()}.pdf", pdf),
        )
        if document is not None:
            turn.replies.append(document)
    turn.say(
        render(MT.OUTCOME_SENT, ref=case.ref, who=", ".join(sent_to) or "nobody yet"),
        case_id=case.id,
    )


async def _say_outcome_refusal(turn: Turn, case: Case, why: str) -> None:
    if why == "already":
        turn.say(render(MT.OUTCOME_ALREADY, ref=case.ref), case_id=case.id)
    elif why == "not_listed":
        turn.say(render(MT.NOT_LISTED, ref=case.ref), case_id=case.id)
    elif why == "not_yet":
        found = await turn.uow.mdt.active_listing(case.id)
        when = day_words(found[1].meeting_date) if found else "?"
        turn.say(render(MT.OUTCOME_NOT_YET, ref=case.ref, when=when), case_id=case.id)
    else:
        turn.say(cases_texts.NOT_YOURS.format(ref=case.ref))


@for_roles(*STAFF, refusal=texts.UNKNOWN_COMMAND)
async def mdt_outcome_command(turn: Turn) -> None:
    """/mdt_outcome C-n: record the outcome of a case listed at the MDT."""
    if len(turn.args) != 1:
        turn.say(MT.OUTCOME_USAGE)
        return
    case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
    if case is None:
        turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0][:20]))
        return
    turn.data = {"case_id": case.id}
    found = await _listed_case(turn)
    if found is None:
        return
    await outcome.begin(turn, {"case_id": case.id, "when": found[1]})


async def cancellation_notices(
    uow: UnitOfWork, rolled: Sequence[mdt.Rolled], cancelled: date
) -> list[Outgoing]:
    """After `referral-bot mdt cancel`: each moved case's referrer, link clinicians and
    presenter hear the new date (queued on the outbox; the running bot sends them)."""
    found = []
    for item in rolled:
        people = await mdt.referrer_and_links(uow, item.case)
        presenter = await uow.people.get(item.new.presenting_id or 0)
        words = render(
            MT.CANCELLED_MOVED,
            old=day_words(cancelled),
            ref=item.case.ref,
            when=day_words(item.meeting.day),
        )
        for person in [*people, *([presenter] if presenter else [])]:
            message = message_to(person, words, case_id=item.case.id)
            if message is not None:
                found.append(message)
    return found

"""/ask (a question about one of one's cases), the holder's buttons (acknowledge, reply,
pass to the deputy, resolve with an advice summary) and replies relayed through the
bot's own message mapping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Update
from telegram.ext import ContextTypes

from delivery.text import render
from handlers import attachments, cases_texts, queries_texts, referral_texts, texts
from handlers.base import (
    END,
    STAY,
    Conversation,
    Turn,
    has_role,
    message_to,
    run_turn,
)
from handlers.shared import (
    holder_buttons,
    offer_cases,
    picked_case,
    referrer_gate,
    role_name,
    today,
)
from services import attachments as attachment_rules
from services import cases, queries
from services.advice_pdf import (
    AdviceEntry,
    AdviceFile,
    AdviceSummary,
    advice_pdf,
    advice_text,
)
from services.patient_checks import check_free_text
from services.registration import Invalid
from storage.models import Case, Person, Query, Role

PICK_CASE, QUESTION, ANSWER = "pick_case", "question", "answer"


async def _still_referrer(turn: Turn) -> bool:
    """An active referrer, asking about a case of their own (once one is chosen)."""
    if not has_role(turn.person, [Role.REFERRER]) or turn.person is None:
        return False
    case_id = turn.data.get("case_id")
    if case_id is None:
        return True
    case = await turn.uow.cases.get(case_id)
    return case is not None and case.referrer_id == turn.person.id


async def _still_holds(turn: Turn) -> bool:
    """An active clinician still named clinician or deputy of the query's case."""
    found = await queries.query_with_case(turn.uow, turn.data.get("query_id", 0))
    return found is not None and cases.holds_case(turn.person, found[1])


asking = Conversation("ask", start_state=QUESTION, allowed=_still_referrer)
answering = Conversation("reply", start_state=ANSWER, allowed=_still_holds)


async def _open_cases(turn: Turn) -> list[Case]:
    assert turn.person is not None
    return [c for c in await cases.cases_of(turn.uow, turn.person) if c.status == "open"]


async def ask_pick_case(turn: Turn) -> None:
    """Offer the referrer's open cases."""
    offer_cases(turn, await _open_cases(turn), queries_texts.ASK_WHICH_CASE)


@asking.step(PICK_CASE, ask_pick_case, accepts_text=False)
async def got_case(turn: Turn) -> str:
    """Keep the chosen case."""
    case_id = picked_case(turn)
    if case_id is None:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["case_id"] = case_id
    return QUESTION


async def ask_question(turn: Turn) -> None:
    """Ask for the question's text."""
    turn.say(
        render(queries_texts.ASK_QUESTION, ref=f"C-{turn.data['case_id']}"),
        case_id=turn.data["case_id"],
    )


@asking.step(QUESTION, ask_question, text_hint="Please type your question.")
async def got_question(turn: Turn) -> str:
    """Route the question to the holder, copies to the link clinicians."""
    checked = check_free_text(turn.text or "", "question", 3000)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    case = await cases.visible_case(turn.uow, turn.person, f"C-{turn.data['case_id']}")
    if case is None or turn.person is None or case.referrer_id != turn.person.id:
        turn.say(cases_texts.NOT_YOURS.format(ref=f"C-{turn.data['case_id']}"))
        return END
    routed = await queries.ask(
        turn.uow, turn.person, case, str(checked.value), turn.now, today(turn)
    )
    await announce_query(turn, routed, str(checked.value))
    return END


async def announce_query(turn: Turn, routed: queries.Routed, text: str) -> None:
    query, case = routed.query, routed.case
    referrer = turn.person.name if turn.person else ""
    holder = routed.holder
    turn.say_about(
        render(
            queries_texts.QUERY_ROUTED,
            qref=query.ref,
            ref=case.ref,
            holder=holder.name if holder else "the service coordinator",
            why=queries_texts.HOLDER_AWAY if routed.to_deputy_because_away else "",
        ),
        query,
    )
    if holder is not None:
        for_holder = render(
            queries_texts.QUERY_FOR_HOLDER,
            qref=query.ref,
            ref=case.ref,
            urgency=referral_texts.URGENCIES[case.urgency],
            referrer=referrer,
            text=text,
        )
        turn.tell_about(holder, for_holder, query, holder_buttons(query))
    copy = render(
        queries_texts.QUERY_COPY, qref=query.ref, ref=case.ref, referrer=referrer, text=text
    )
    for link in routed.link_clinicians:
        turn.tell_about(link, copy, query)


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask [C-n]: a question about one of one's open cases."""

    async def body(turn: Turn) -> None:
        if not referrer_gate(turn):
            return
        assert turn.person is not None
        if turn.args:
            case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
            if case is None or case.referrer_id != turn.person.id:
                turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0]))
                return
            await asking.begin(turn, {"case_id": case.id})
            return
        if not await _open_cases(turn):
            turn.say(cases_texts.NO_OPEN_CASES)
            return
        turn.data = {}
        await asking.goto(turn, PICK_CASE)

    await run_turn(update, context, body)


# --- The holder's buttons -----------------------------------------------------------


async def _clinician_query(turn: Turn, raw_id: str) -> tuple[Query, Case] | None:
    """The query if the presser is a clinician of its case; otherwise says no."""
    found = await queries.query_with_case(turn.uow, int(raw_id)) if raw_id.isdigit() else None
    if found is None or not has_role(turn.person, [Role.CLINICIAN]):
        turn.notice = queries_texts.NOT_HOLDER
        return None
    query, case = found
    if not queries.clinician_side(turn.person, case):
        turn.notice = queries_texts.NOT_HOLDER
        return None
    return query, case


async def button_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Acknowledge / Reply / Pass to deputy / Resolve."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        found = await _clinician_query(turn, raw_id)
        if found is None:
            return
        query, case = found
        assert turn.person is not None
        referrer = await turn.uow.people.get(case.referrer_id)
        await _ACTIONS[action](_Press(turn, turn.person, query, case, referrer))

    await run_turn(update, context, body)


@dataclass(frozen=True)
class _Press:
    """A holder's button press on a query: who, which query and case, and its referrer."""

    turn: Turn
    me: Person
    query: Query
    case: Case
    referrer: Person | None


async def _acknowledge(press: _Press) -> None:
    turn, query = press.turn, press.query
    if not await queries.acknowledge(turn.uow, press.me, query, turn.now):
        turn.notice = f"{query.ref} is already {query.status}."
        return
    turn.notice = queries_texts.ACKNOWLEDGED_HOLDER.format(qref=query.ref)
    if press.referrer:
        seen = render(
            queries_texts.ACKNOWLEDGED_REFERRER,
            holder=press.me.name,
            qref=query.ref,
            ref=press.case.ref,
        )
        turn.tell_about(press.referrer, seen, query)


async def _reply(press: _Press) -> None:
    turn, query = press.turn, press.query
    if query.status == "resolved":
        closed = queries_texts.QUERY_CLOSED.format(qref=query.ref, ref=press.case.ref)
        turn.say_about(closed, query)
        return
    await answering.begin(turn, {"query_id": query.id})


async def _pass(press: _Press) -> None:
    turn, query, case = press.turn, press.query, press.case
    other = await queries.pass_to_deputy(turn.uow, press.me, query, case, turn.now)
    if other is None:
        turn.notice = queries_texts.NO_DEPUTY.format(qref=query.ref)
        return
    turn.say_about(render(queries_texts.PASSED_HOLDER, qref=query.ref, holder=other.name), query)
    head = render(queries_texts.PASSED_TO_YOU, qref=query.ref, ref=case.ref, by=press.me.name)
    text = await _question_text(turn, query)
    turn.tell_about(other, render("{head}\n\n{t}", head=head, t=text), query, holder_buttons(query))
    if press.referrer:
        passed = render(
            queries_texts.PASSED_REFERRER, qref=query.ref, ref=case.ref, holder=other.name
        )
        turn.tell_about(press.referrer, passed, query)


async def _resolve(press: _Press) -> None:
    turn, query = press.turn, press.query
    if not await queries.resolve(turn.uow, press.me, query, turn.now):
        turn.notice = f"{query.ref} is already resolved."
        return
    turn.say_about(render(queries_texts.RESOLVED_HOLDER, qref=query.ref), query)
    await _send_advice(turn, query, press.case, press.referrer)


_ACTIONS = {"ack": _acknowledge, "rep": _reply, "pass": _pass, "res": _resolve}


async def _question_text(turn: Turn, query: Query) -> str:
    messages = await queries.messages_of(turn.uow, query)
    return messages[0].body or "" if messages else ""


async def _send_advice(turn: Turn, query: Query, case: Case, referrer: Person | None) -> None:
    """The advice summary, as text and as a PDF, to the referrer and link clinicians."""
    names: dict[int, str] = {}
    entries: list[AdviceEntry] = []
    messages = await queries.messages_of(turn.uow, query)
    for message in messages[1:]:
        if message.author_id not in names:
            author = await turn.uow.people.get(message.author_id) if message.author_id else None
            names[message.author_id or 0] = role_name(author, case)
        entries.append(
            AdviceEntry(names[message.author_id or 0], message.created_at, message.body or "")
        )
    files = []
    for f in await attachment_rules.files_of_query(turn.uow, query):
        if f.uploaded_by_id not in names:
            uploader = await turn.uow.people.get(f.uploaded_by_id)
            names[f.uploaded_by_id] = role_name(uploader, case)
        files.append(
            AdviceFile(
                f.kind, f.size, names[f.uploaded_by_id], f.created_at, f.pages, f.width, f.height
            )
        )
    named = await turn.uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
    summary = AdviceSummary(
        case_ref=case.ref,
        query_ref=query.ref,
        referrer=referrer.name or "" if referrer else "",
        named_clinician=named.name or "" if named else "",
        question=messages[0].body or "" if messages else "",
        entries=entries,
        resolved_at=turn.now,
        timezone=turn.resources.timezone,
        files=files,
    )
    # Rendering takes a noticeable fraction of a second for long threads: off the loop.
    pdf = await asyncio.to_thread(advice_pdf, summary)
    text = advice_text(summary)
    links: list[Person] = []
    if cases.link_may_read(query.asked_by_id, case):
        links = await cases.link_clinicians_for(turn.uow, case.centre_id, case.tumour_type)
    for person in [p for p in [referrer, *links] if p is not None]:
        turn.tell_about(person, render("{t}", t=text), query)
        document = message_to(
            person,
            render(queries_texts.ADVICE_CAPTION, qref=query.ref, ref=case.ref),
            case_id=case.id,
            query_id=query.id,
            document=(f"advice-{case.ref}-{query.ref}.pdf", pdf),
        )
        if document is not None:
            turn.replies.append(document)


def _active_referrer_of(person: Person, case: Case) -> bool:
    return has_role(person, [Role.REFERRER]) and person.id == case.referrer_id


# --- Replies ------------------------------------------------------------------------


async def ask_answer(turn: Turn) -> None:
    """Ask the clinician for the answer text."""
    found = await queries.query_with_case(turn.uow, turn.data["query_id"])
    ref = found[1].ref if found else ""
    turn.say(
        queries_texts.ASK_REPLY.format(qref=f"Q-{turn.data['query_id']}", ref=ref),
        case_id=found[1].id if found else None,
        query_id=turn.data["query_id"],
    )


@answering.step(ANSWER, ask_answer, text_hint=queries_texts.ONLY_TEXT, accepts_files=True)
async def got_answer(turn: Turn) -> str:
    """Relay the typed answer; a file instead is added to the query and sent on."""
    if turn.text is None:
        if attachments.incoming_file(turn.update.effective_message) is None:
            return turn.again(queries_texts.ONLY_TEXT)
        stored = await attachments.file_as_answer(turn, turn.data["query_id"])
        return END if stored else STAY
    checked = check_free_text(turn.text or "", "answer", 3000)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    await relay_text(turn, turn.data["query_id"], str(checked.value))
    return END


async def relay_text(turn: Turn, query_id: int, text: str) -> None:
    """Send a reply to the other side of the query."""
    found = await queries.query_with_case(turn.uow, query_id)
    if found is None or turn.person is None:
        turn.say(texts.UNKNOWN_INPUT)
        return
    query, case = found
    if not (cases.holds_case(turn.person, case) or _active_referrer_of(turn.person, case)):
        # Checked here, not only when the message was first sent: the author may have
        # been suspended or taken off the case since.
        turn.say(cases_texts.NOT_YOURS.format(ref=case.ref))
        return
    result = await queries.relay(turn.uow, turn.person, query, case, text, turn.now)
    if result == "closed":
        turn.say_about(queries_texts.QUERY_CLOSED.format(qref=query.ref, ref=case.ref), query)
        return
    if isinstance(result, str):
        turn.say(cases_texts.NOT_YOURS.format(ref=case.ref))
        return
    if result.reopened:
        turn.say_about(queries_texts.QUERY_REOPENED.format(qref=query.ref), query)
    _pass_on(turn, result, query, case, text)
    who = ", ".join(p.name or "" for p in result.to) or "the service"
    turn.say_about(queries_texts.REPLY_SENT.format(who=who, qref=query.ref), query)


def _pass_on(turn: Turn, result: queries.Relayed, query: Query, case: Case, text: str) -> None:
    """The relayed message to the other side, and copies to the link clinicians."""
    author = role_name(turn.person, case)
    words = {"qref": query.ref, "ref": case.ref, "author": author, "text": text}
    for person in result.to:
        if result.from_clinician:
            turn.tell_about(person, render(queries_texts.ANSWER_FOR_REFERRER, **words), query)
        else:
            followup = render(queries_texts.FOLLOWUP_FOR_HOLDER, **words)
            turn.tell_about(person, followup, query, holder_buttons(query))
    copies = result.copies if cases.link_may_read(query.asked_by_id, case) else []
    for person in copies:
        turn.tell_about(person, render(queries_texts.ANSWER_COPY, **words), query)


async def telegram_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A Telegram reply to a message the bot sent about a query goes to the other side."""
    message = update.message
    assert message is not None and message.reply_to_message is not None
    replied_to = message.reply_to_message.message_id

    async def body(turn: Turn) -> None:
        mapping = await turn.uow.sent_messages.find(turn.chat_id, replied_to)
        if mapping is None or mapping.query_id is None or turn.person is None:
            turn.say(texts.UNKNOWN_INPUT)
            return
        if mapping.recipient_id != turn.person.id:
            turn.say(cases_texts.NOT_YOURS.format(ref=f"C-{mapping.case_id}"))
            return
        if not message.text:
            turn.say(queries_texts.ONLY_TEXT)
            return
        checked = check_free_text(message.text, "reply", 3000)
        if isinstance(checked, Invalid):
            turn.say(checked.problem)
            return
        await relay_text(turn, mapping.query_id, str(checked.value))

    await run_turn(update, context, body)

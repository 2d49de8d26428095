"""/ask, the holder's buttons, replies relayed through the bot's own message mapping,
resolving with an advice summary, /queue, /away, /back and escalation."""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from delivery.sender import Button
from delivery.text import Html, render
from handlers import cases_texts as T
from handlers import texts
from handlers.base import (
    END,
    Conversation,
    Resources,
    Turn,
    choice_button,
    for_roles,
    has_role,
    message_to,
    run_turn,
)
from handlers.cases import _referrer_gate, today
from services import cases as svc
from services import queries as qsvc
from services.advice_pdf import AdviceEntry, AdviceSummary, advice_pdf, advice_text
from services.patient_checks import check_free_text
from services.registration import Invalid
from storage.models import Case, Person, Query, Role

log = logging.getLogger(__name__)

PICK_CASE, QUESTION, ANSWER = "pick_case", "question", "answer"


async def _still_referrer(turn: Turn) -> bool:
    """An active referrer, asking about a case of their own (once one is chosen)."""
    if not has_role(turn.person, [Role.REFERRER]) or turn.person is None:
        return False
    case_id = turn.data.get("case_id")
    if case_id is None:
        return True
    case = await turn.uow.session.get(Case, case_id)
    return case is not None and case.referrer_id == turn.person.id


async def _still_holds(turn: Turn) -> bool:
    """An active clinician still named clinician or deputy of the query's case."""
    found = await qsvc.query_with_case(turn.uow, turn.data.get("query_id", 0))
    return found is not None and svc.holds_case(turn.person, found[1])


asking = Conversation("ask", start_state=QUESTION, allowed=_still_referrer)
answering = Conversation("reply", start_state=ANSWER, allowed=_still_holds)


def holder_buttons(query: Query) -> list[list[Button]]:
    """The holder's actions; the data is an opaque id checked against whoever presses."""
    return [
        [
            Button(T.ACKNOWLEDGE, data=f"q:ack:{query.id}"),
            Button(T.REPLY, data=f"q:rep:{query.id}"),
        ],
        [Button(T.PASS, data=f"q:pass:{query.id}"), Button(T.RESOLVE, data=f"q:res:{query.id}")],
    ]


async def ask_pick_case(turn: Turn) -> None:
    """Offer the referrer's open cases."""
    assert turn.person is not None
    cases = [c for c in await svc.cases_of(turn.uow, turn.person) if c.status == "open"]
    turn.data["choices"] = [c.id for c in cases[:20]]
    rows = [
        [choice_button(f"{c.ref} — {T.TUMOUR_TYPES[c.tumour_type]}", f"k:{i}")]
        for i, c in enumerate(cases[:20])
    ]
    turn.say(T.ASK_WHICH_CASE, rows, protect=True)  # the buttons list the cases


@asking.step(PICK_CASE, ask_pick_case, accepts_text=False)
async def got_case(turn: Turn) -> str:
    """Keep the chosen case."""
    index = (turn.choice or "").removeprefix("k:")
    choices = turn.data.get("choices", [])
    if not index.isdigit() or int(index) >= len(choices):
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["case_id"] = choices[int(index)]
    return QUESTION


async def ask_question(turn: Turn) -> None:
    """Ask for the question's text."""
    turn.say(render(T.ASK_QUESTION, ref=f"C-{turn.data['case_id']}"), case_id=turn.data["case_id"])


@asking.step(QUESTION, ask_question, text_hint="Please type your question.")
async def got_question(turn: Turn) -> str:
    """Route the question to the holder, copies to the link clinicians."""
    checked = check_free_text(turn.text or "", "question", 3000)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    case = await svc.visible_case(turn.uow, turn.person, f"C-{turn.data['case_id']}")
    if case is None or turn.person is None or case.referrer_id != turn.person.id:
        turn.say(T.NOT_YOURS.format(ref=f"C-{turn.data['case_id']}"))
        return END
    routed = await qsvc.ask(turn.uow, turn.person, case, str(checked.value), turn.now, today(turn))
    await announce_query(turn, routed, str(checked.value))
    return END


async def announce_query(turn: Turn, routed: qsvc.Routed, text: str) -> None:
    query, case = routed.query, routed.case
    referrer = turn.person.name if turn.person else ""
    holder = routed.holder
    turn.say(
        render(
            T.QUERY_ROUTED,
            qref=query.ref,
            ref=case.ref,
            holder=holder.name if holder else "the service coordinator",
            why=T.HOLDER_AWAY if routed.to_deputy_because_away else "",
        ),
        case_id=case.id,
        query_id=query.id,
    )
    if holder is not None:
        turn.tell(
            holder,
            render(
                T.QUERY_FOR_HOLDER,
                qref=query.ref,
                ref=case.ref,
                urgency=T.URGENCIES[case.urgency],
                referrer=referrer,
                text=text,
            ),
            holder_buttons(query),
            protect=True,
            case_id=case.id,
            query_id=query.id,
        )
    for link in routed.link_clinicians:
        turn.tell(
            link,
            render(T.QUERY_COPY, qref=query.ref, ref=case.ref, referrer=referrer, text=text),
            protect=True,
            case_id=case.id,
            query_id=query.id,
        )


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ask [C-n]: a question about one of one's open cases."""

    async def body(turn: Turn) -> None:
        if not _referrer_gate(turn):
            return
        assert turn.person is not None
        if turn.args:
            case = await svc.visible_case(turn.uow, turn.person, turn.args[0])
            if case is None or case.referrer_id != turn.person.id:
                turn.say(T.NOT_YOURS.format(ref=turn.args[0]))
                return
            await asking.begin(turn, {"case_id": case.id})
            return
        cases = [c for c in await svc.cases_of(turn.uow, turn.person) if c.status == "open"]
        if not cases:
            turn.say(T.NO_OPEN_CASES)
            return
        turn.data = {}
        await asking.goto(turn, PICK_CASE)

    await run_turn(update, context, body)


# --- The holder's buttons -----------------------------------------------------------


async def _clinician_query(turn: Turn, raw_id: str) -> tuple[Query, Case] | None:
    """The query if the presser is a clinician of its case; otherwise says no."""
    found = await qsvc.query_with_case(turn.uow, int(raw_id)) if raw_id.isdigit() else None
    if found is None or not has_role(turn.person, [Role.CLINICIAN]):
        turn.notice = T.NOT_HOLDER
        return None
    query, case = found
    if not qsvc.clinician_side(turn.person, case):
        turn.notice = T.NOT_HOLDER
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
        me = turn.person
        assert me is not None
        referrer = await turn.uow.people.get(case.referrer_id)
        if action == "ack":
            if await qsvc.acknowledge(turn.uow, me, query, turn.now):
                turn.notice = T.ACKNOWLEDGED_HOLDER.format(qref=query.ref)
                if referrer:
                    turn.tell(
                        referrer,
                        render(
                            T.ACKNOWLEDGED_REFERRER, holder=me.name, qref=query.ref, ref=case.ref
                        ),
                        case_id=case.id,
                        query_id=query.id,
                    )
            else:
                turn.notice = f"{query.ref} is already {query.status}."
        elif action == "rep":
            if query.status == "resolved":
                turn.say(
                    T.QUERY_CLOSED.format(qref=query.ref, ref=case.ref),
                    case_id=case.id,
                    query_id=query.id,
                )
                return
            await answering.begin(turn, {"query_id": query.id})
        elif action == "pass":
            other = await qsvc.pass_to_deputy(turn.uow, me, query, case, turn.now)
            if other is None:
                turn.notice = T.NO_DEPUTY.format(qref=query.ref)
                return
            turn.say(
                render(T.PASSED_HOLDER, qref=query.ref, holder=other.name),
                case_id=case.id,
                query_id=query.id,
            )
            text = await _question_text(turn, query)
            turn.tell(
                other,
                render(
                    "{head}\n\n{t}",
                    head=render(T.PASSED_TO_YOU, qref=query.ref, ref=case.ref, by=me.name),
                    t=text,
                ),
                holder_buttons(query),
                protect=True,
                case_id=case.id,
                query_id=query.id,
            )
            if referrer:
                turn.tell(
                    referrer,
                    render(T.PASSED_REFERRER, qref=query.ref, ref=case.ref, holder=other.name),
                    case_id=case.id,
                    query_id=query.id,
                )
        elif action == "res":
            if not await qsvc.resolve(turn.uow, me, query, turn.now):
                turn.notice = f"{query.ref} is already resolved."
                return
            turn.say(render(T.RESOLVED_HOLDER, qref=query.ref), case_id=case.id, query_id=query.id)
            await _send_advice(turn, query, case, referrer)

    await run_turn(update, context, body)


async def _question_text(turn: Turn, query: Query) -> str:
    messages = [m for m in await qsvc.thread(turn.uow, query.case_id) if m.query_id == query.id]
    return messages[0].body or "" if messages else ""


async def _send_advice(turn: Turn, query: Query, case: Case, referrer: Person | None) -> None:
    """The advice summary, as text and as a PDF, to the referrer and link clinicians."""
    names: dict[int, str] = {}
    entries: list[AdviceEntry] = []
    messages = [m for m in await qsvc.thread(turn.uow, case.id) if m.query_id == query.id]
    for message in messages[1:]:
        if message.author_id not in names:
            author = await turn.uow.people.get(message.author_id) if message.author_id else None
            names[message.author_id or 0] = _role_name(author, case)
        entries.append(
            AdviceEntry(names[message.author_id or 0], message.created_at, message.body or "")
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
    )
    # Rendering takes a noticeable fraction of a second for long threads: off the loop.
    pdf = await asyncio.to_thread(advice_pdf, summary)
    text = advice_text(summary)
    links: list[Person] = []
    if svc.link_may_read(query.asked_by_id, case):
        links = await svc.link_clinicians_for(turn.uow, case.centre_id, case.tumour_type)
    for person in [p for p in [referrer, *links] if p is not None]:
        turn.tell(person, render("{t}", t=text), case_id=case.id, query_id=query.id)
        document = message_to(
            person,
            render(T.ADVICE_CAPTION, qref=query.ref, ref=case.ref),
            case_id=case.id,
            query_id=query.id,
            document=(f"advice-{case.ref}-{query.ref}.pdf", pdf),
        )
        if document is not None:
            turn.replies.append(document)


def _active_referrer_of(person: Person, case: Case) -> bool:
    return has_role(person, [Role.REFERRER]) and person.id == case.referrer_id


def _role_name(person: Person | None, case: Case) -> str:
    if person is None:
        return "unknown"
    if person.id == case.named_clinician_id:
        return f"{person.name} (named clinician)"
    if person.id == case.deputy_id:
        return f"{person.name} (deputy)"
    if person.id == case.referrer_id:
        return f"{person.name} (referrer)"
    return person.name or ""


# --- Replies ------------------------------------------------------------------------


async def ask_answer(turn: Turn) -> None:
    """Ask the clinician for the answer text."""
    found = await qsvc.query_with_case(turn.uow, turn.data["query_id"])
    ref = found[1].ref if found else ""
    turn.say(
        T.ASK_REPLY.format(qref=f"Q-{turn.data['query_id']}", ref=ref),
        case_id=found[1].id if found else None,
        query_id=turn.data["query_id"],
    )


@answering.step(ANSWER, ask_answer, text_hint=T.ONLY_TEXT)
async def got_answer(turn: Turn) -> str:
    """Relay the typed answer."""
    checked = check_free_text(turn.text or "", "answer", 3000)
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    await relay_text(turn, turn.data["query_id"], str(checked.value))
    return END


async def relay_text(turn: Turn, query_id: int, text: str) -> None:
    """Send a reply to the other side of the query."""
    found = await qsvc.query_with_case(turn.uow, query_id)
    if found is None or turn.person is None:
        turn.say(texts.UNKNOWN_INPUT)
        return
    query, case = found
    if not (svc.holds_case(turn.person, case) or _active_referrer_of(turn.person, case)):
        # Checked here, not only when the message was first sent: the author may have
        # been suspended or taken off the case since.
        turn.say(T.NOT_YOURS.format(ref=case.ref))
        return
    result = await qsvc.relay(turn.uow, turn.person, query, case, text, turn.now)
    if result == "closed":
        turn.say(
            T.QUERY_CLOSED.format(qref=query.ref, ref=case.ref), case_id=case.id, query_id=query.id
        )
        return
    if isinstance(result, str):
        turn.say(T.NOT_YOURS.format(ref=case.ref))
        return
    if result.reopened:
        turn.say(T.QUERY_REOPENED.format(qref=query.ref), case_id=case.id, query_id=query.id)
    author = _role_name(turn.person, case)
    for person in result.to:
        if result.from_clinician:
            body = render(
                T.ANSWER_FOR_REFERRER, qref=query.ref, ref=case.ref, author=author, text=text
            )
            turn.tell(person, body, protect=True, case_id=case.id, query_id=query.id)
        else:
            body = render(
                T.FOLLOWUP_FOR_HOLDER, qref=query.ref, ref=case.ref, author=author, text=text
            )
            turn.tell(
                person,
                body,
                holder_buttons(query),
                protect=True,
                case_id=case.id,
                query_id=query.id,
            )
    copies = result.copies if svc.link_may_read(query.asked_by_id, case) else []
    for person in copies:
        turn.tell(
            person,
            render(T.ANSWER_COPY, qref=query.ref, ref=case.ref, author=author, text=text),
            protect=True,
            case_id=case.id,
            query_id=query.id,
        )
    who = ", ".join(p.name or "" for p in result.to) or "the service"
    turn.say(T.REPLY_SENT.format(who=who, qref=query.ref), case_id=case.id, query_id=query.id)


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
            turn.say(T.NOT_YOURS.format(ref=f"C-{mapping.case_id}"))
            return
        if not message.text:
            turn.say(T.ONLY_TEXT)
            return
        checked = check_free_text(message.text, "reply", 3000)
        if isinstance(checked, Invalid):
            turn.say(checked.problem)
            return
        await relay_text(turn, mapping.query_id, str(checked.value))

    await run_turn(update, context, body)


# --- Clinicians' lists and availability ---------------------------------------------


@for_roles(Role.CLINICIAN, refusal=T.FOR_CLINICIANS)
async def queue_command(turn: Turn) -> None:
    """/queue: a clinician's open queries, urgent first, then oldest first."""
    assert turn.person is not None
    queue = await qsvc.open_queries_for(turn.uow, turn.person)
    if not queue:
        turn.say(T.QUEUE_EMPTY)
        return
    tz = turn.resources.timezone
    lines = [
        render(
            T.QUEUE_LINE,
            qref=q.ref,
            ref=f"C-{q.case_id}",
            state="not yet acknowledged" if q.status == "open" else "acknowledged",
            asked=q.created_at.astimezone(tz).strftime("%d %b %H:%M"),
        )
        for q in queue
    ]
    turn.say(Html("\n".join([T.QUEUE_HEADER, "", *lines])), protect=True)


@for_roles(Role.CLINICIAN, refusal=T.FOR_CLINICIANS)
async def away_command(turn: Turn) -> None:
    """/away YYYY-MM-DD: new queries go to the deputy until then."""
    assert turn.person is not None
    if len(turn.args) != 1:
        turn.say(T.AWAY_USAGE)
        return
    try:
        until = date.fromisoformat(turn.args[0])
    except ValueError:
        until = None
    if until is None or until < today(turn):
        turn.say(T.AWAY_BAD_DATE)
        return
    turn.person.away_until = until
    await turn.uow.audit.record(turn.now, turn.person.ref, "clinician.away", until=str(until))
    turn.say(T.AWAY_SET.format(until=until.strftime("%d %B %Y")))


@for_roles(Role.CLINICIAN, refusal=T.FOR_CLINICIANS)
async def back_command(turn: Turn) -> None:
    """/back: available again."""
    assert turn.person is not None
    turn.person.away_until = None
    await turn.uow.audit.record(turn.now, turn.person.ref, "clinician.back")
    turn.say(T.BACK)


async def run_escalations(resources: Resources, sla: timedelta) -> int:
    """Scheduled: escalate unacknowledged queries, each step once (also after restarts)."""
    now: datetime = resources.clock.now()
    async with resources.db.uow() as uow:
        done = await qsvc.escalate_due(uow, now, sla)
        for item in done:
            query, case = item.query, item.case
            named = (
                await uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
            )
            deputy = await uow.people.get(case.deputy_id) if case.deputy_id else None
            hours = f"{item.sla.total_seconds() / 3600:g} hours"
            for person in item.to:
                if item.level == 1:
                    messages = [
                        m for m in await qsvc.thread(uow, case.id) if m.query_id == query.id
                    ]
                    body = render(
                        T.ESCALATED_DEPUTY,
                        qref=query.ref,
                        ref=case.ref,
                        urgency=T.URGENCIES[case.urgency],
                        sla=hours,
                        text=messages[0].body if messages else "",
                    )
                    message = message_to(
                        person, body, holder_buttons(query), case_id=case.id, query_id=query.id
                    )
                else:
                    body = render(
                        T.ESCALATED_ADMINS,
                        qref=query.ref,
                        ref=case.ref,
                        urgency=T.URGENCIES[case.urgency],
                        sla=hours,
                        named=named.name if named else "—",
                        deputy=deputy.name if deputy else "—",
                    )
                    message = message_to(person, body, case_id=case.id, query_id=query.id)
                if message is not None:
                    resources.sender.enqueue(uow, message, now)
            log.info("%s escalated to level %s", query.ref, item.level)
        await uow.commit()
    if done:
        resources.sender.wake()
    return len(done)


CONVERSATIONS = [asking, answering]


def handlers() -> list[tuple[int, BaseHandler]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("ask", ask_command, filters=private)),
        (0, CommandHandler("queue", queue_command, filters=private)),
        (0, CommandHandler("away", away_command, filters=private)),
        (0, CommandHandler("back", back_command, filters=private)),
        (0, CallbackQueryHandler(button_pressed, pattern=r"^q:(ack|rep|pass|res):\d+$")),
        # New messages only: an edited reply is not relayed a second time (it would also
        # arrive without update.message); the fallback says edits are not read.
        (0, MessageHandler(private & filters.UpdateType.MESSAGE & filters.REPLY, telegram_reply)),
    ]

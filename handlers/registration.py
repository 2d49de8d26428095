"""/register (eight questions, then the admins' Approve / Reject) and /contact (one's own
card, each field changed through the same questions).

One conversation carries both a new registration and a change from /contact: its data
says which (`mode`) and, for a change, which field; every answer goes through the same
validation either way.
"""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button
from delivery.text import Html, render
from handlers import registration_texts, texts
from handlers.base import (
    END,
    Conversation,
    Turn,
    active_in,
    choice_button,
    edit_choice,
    has_role,
    run_turn,
    summary_buttons,
    summary_choice,
)
from handlers.shared import card_warning, decision_buttons, referrer_gate, render_card
from services.registration import (
    FIELDS,
    AlreadyDecided,
    AlreadyKnown,
    Checked,
    Decided,
    Invalid,
    card_from_answers,
    change_contact,
    check_email,
    check_phone,
    check_text,
    decide_registration,
    load_card,
    submit_registration,
)
from storage.models import PersonStatus, Role

FULL_NAME, JOB_TITLE, CENTRE, CENTRE_OTHER = "full_name", "job_title", "centre", "centre_other"
PHONE, MOBILE, SECRETARY, EMAIL, FAX = "phone", "mobile", "secretary", "email", "fax"
SUMMARY, CHOOSE_FIELD, REASON = "summary", "choose_field", "reason"
ORDER = [FULL_NAME, JOB_TITLE, CENTRE, PHONE, MOBILE, SECRETARY, EMAIL, FAX]
MAX_REASON = 500


async def _may_go_on(turn: Turn) -> bool:
    """A new registration is open to anyone (confirming checks they are still unknown);
    a change from /contact needs a referrer who is still active."""
    return turn.data.get("mode") != "contact" or has_role(turn.person, [Role.REFERRER])


registration = Conversation("register", start_state=FULL_NAME, allowed=_may_go_on)
rejection = Conversation("reject_registration", start_state=REASON, allowed=active_in(Role.ADMIN))


def _answers(turn: Turn) -> dict[str, str | None]:
    answers: dict[str, str | None] = turn.data.setdefault("answers", {})
    return answers


async def _after(turn: Turn, state: str) -> str:
    """Where an accepted answer leads: the next question, the summary, or (contact) done."""
    if turn.data.get("mode") == "contact":
        assert turn.person is not None
        await change_contact(turn.uow, turn.person, state, _answers(turn), turn.now)
        turn.say(
            render(
                registration_texts.CONTACT_CHANGED,
                field=registration_texts.FIELD_LABELS[state].lower(),
            )
        )
        await _show_contact_card(turn)
        return END
    if turn.data.get("editing"):
        return SUMMARY
    return ORDER[ORDER.index(state) + 1] if state != FAX else SUMMARY


async def _accept(turn: Turn, state: str, checked: Checked, key: str | None = None) -> str:
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    _answers(turn)[key or state] = checked.value
    return await _after(turn, state)


def _named(what: str) -> Callable[[str], Checked]:
    return lambda text: check_text(text, what)


def _mobile(text: str) -> Checked:
    return check_phone(text, mobile=True)


def _optional(text: str) -> Checked:
    return check_phone(text, optional=True)


def _text_step(state: str, question: str, hint: str, check: Callable[[str], Checked]) -> None:
    """A typed answer, checked by `check`, kept under `state` in the answers."""

    async def ask(turn: Turn) -> None:
        turn.say(render(question))

    async def answer(turn: Turn) -> str:
        return await _accept(turn, state, check(turn.text or ""))

    registration.step(state, ask, text_hint=hint)(answer)


# The typed questions: state, question, hint when something else is sent, check.
TEXT_STEPS: list[tuple[str, str, str, Callable[[str], Checked]]] = [
    # The name is kept exactly as typed (any script, up to 120 characters).
    (FULL_NAME, registration_texts.ASK_FULL_NAME, "Please type your full name.", _named("name")),
    (
        JOB_TITLE,
        registration_texts.ASK_JOB_TITLE,
        "Please type your job title or grade.",
        _named("job title"),
    ),
    (PHONE, registration_texts.ASK_PHONE, "Please type your phone number.", check_phone),
    (MOBILE, registration_texts.ASK_MOBILE, "Please type your mobile number.", _mobile),
    (SECRETARY, registration_texts.ASK_SECRETARY, "Please type the number, or none.", _optional),
    (EMAIL, registration_texts.ASK_EMAIL, "Please type your email address.", check_email),
    (FAX, registration_texts.ASK_FAX, "Please type the fax number, or none.", _optional),
]
for _state, _question, _hint, _check in TEXT_STEPS:
    _text_step(_state, _question, _hint, _check)


async def ask_centre(turn: Turn) -> None:
    """Offer a button per directory centre, and Other."""
    centres = await turn.uow.centres.all()
    # Buttons carry a position, not the id: ids can be long, and the list is kept here.
    turn.data["centre_choices"] = [c.id for c in centres]
    rows = [[choice_button(c.name[:60], f"c:{i}")] for i, c in enumerate(centres)]
    rows.append([choice_button(registration_texts.OTHER_CENTRE, "c:other")])
    turn.say(render(registration_texts.ASK_CENTRE), rows)


@registration.step(CENTRE, ask_centre, accepts_text=False)
async def got_centre(turn: Turn) -> str:
    """A directory centre, or Other (then its name)."""
    choice = turn.choice or ""
    choices = turn.data.get("centre_choices", [])
    if choice == "c:other":
        return CENTRE_OTHER
    index = choice.removeprefix("c:")
    if not index.isdigit() or int(index) >= len(choices):
        return turn.again(texts.PLEASE_USE_BUTTONS)
    answers = _answers(turn)
    answers["centre_id"], answers["centre_other"] = choices[int(index)], None
    return await _after(turn, CENTRE)


async def ask_centre_other(turn: Turn) -> None:
    """Ask the name of a centre not in the directory."""
    turn.say(registration_texts.ASK_CENTRE_OTHER)


@registration.step(CENTRE_OTHER, ask_centre_other, text_hint="Please type the centre's name.")
async def got_centre_other(turn: Turn) -> str:
    """Keep the free-text centre."""
    checked = check_text(turn.text or "", "centre name")
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    answers = _answers(turn)
    answers["centre_id"], answers["centre_other"] = None, checked.value
    return await _after(turn, CENTRE)


async def ask_summary(turn: Turn) -> None:
    """Show every answer with Confirm / Edit / Cancel."""
    turn.data["editing"] = False
    card = await card_from_answers(turn.uow, _answers(turn))
    turn.say(
        render(registration_texts.SUMMARY, card=render_card(card), warning=card_warning(card)),
        summary_buttons(),
    )


@registration.step(SUMMARY, ask_summary, accepts_text=False)
async def got_summary(turn: Turn) -> str:
    """Confirm creates a pending referrer and tells the admins; Edit; Cancel."""
    if (elsewhere := summary_choice(turn, CHOOSE_FIELD)) is not None:
        return elsewhere
    result = await submit_registration(turn.uow, turn.user_id, _answers(turn), turn.now)
    if isinstance(result, AlreadyKnown):
        turn.say(_already_registered(result.person.role, result.person.status))
        return END
    turn.say(registration_texts.SUBMITTED)
    turn.reset_menu(turn.chat_id, result.person)  # pending: /register is no longer theirs
    card = await load_card(turn.uow, result.person)
    assert card is not None
    for admin in result.admins:
        turn.tell(
            admin,
            render(
                registration_texts.ADMIN_CARD,
                ref=result.person.id,
                card=render_card(card),
                warning=card_warning(card),
                when=turn.now.astimezone(turn.resources.timezone).strftime("%d %b %Y %H:%M"),
            ),
            decision_buttons(result.person.id),
        )
    return END


async def ask_field(turn: Turn) -> None:
    """Offer each field as a button."""
    rows = [
        [
            choice_button(registration_texts.FIELD_LABELS[a], f"f:{a}"),
            choice_button(registration_texts.FIELD_LABELS[b], f"f:{b}"),
        ]
        for a, b in zip(FIELDS[::2], FIELDS[1::2], strict=True)
    ]
    rows.append([choice_button(registration_texts.BACK, "f:back")])
    turn.say(registration_texts.CHOOSE_FIELD, rows)


@registration.step(CHOOSE_FIELD, ask_field, accepts_text=False)
async def got_field(turn: Turn) -> str:
    """Re-ask the chosen field, then come back to the summary."""
    return edit_choice(turn, FIELDS, SUMMARY)


def _already_registered(role: str, status: str) -> str | Html:
    if role != Role.REFERRER:
        return render(registration_texts.ALREADY_REGISTERED["other"], role=texts.ROLE_NAMES[role])
    return registration_texts.ALREADY_REGISTERED.get(
        status, registration_texts.ALREADY_REGISTERED["active"]
    )


async def register(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/register: start the eight questions, unless already registered."""

    async def body(turn: Turn) -> None:
        if turn.person is not None:
            turn.say(_already_registered(turn.person.role, turn.person.status))
            return
        await registration.begin(turn, {"mode": "register", "answers": {}})

    await run_turn(update, context, body)


# --- Admins: Approve / Reject -------------------------------------------------------


async def decision_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin pressed Approve or Reject on a registration card."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        admin = turn.person
        if not has_role(admin, [Role.ADMIN]) or not raw_id.isdigit():
            turn.notice = registration_texts.FOR_ADMINS
            return
        assert admin is not None
        referrer = await turn.uow.people.get(int(raw_id))
        if referrer is None or referrer.role != Role.REFERRER:
            turn.notice = registration_texts.NO_SUCH_REFERRER.format(ref=raw_id)
            return
        if referrer.status != PersonStatus.PENDING:
            await _report_already_decided(turn, int(raw_id))
            return
        if action == "r":
            await rejection.begin(turn, {"referrer_id": referrer.id})
            return
        result = await decide_registration(turn.uow, admin, referrer.id, True, turn.now)
        if isinstance(result, AlreadyDecided):
            await _report_already_decided(turn, referrer.id)
        elif isinstance(result, Decided):
            turn.say(render(registration_texts.YOU_APPROVED, ref=referrer.id, name=referrer.name))
            turn.tell(referrer, render(registration_texts.REFERRER_APPROVED))
            turn.reset_menu(referrer.telegram_user_id, referrer)

    await run_turn(update, context, body)


async def _report_already_decided(turn: Turn, referrer_id: int) -> None:
    person = await turn.uow.people.get(referrer_id)
    details = await turn.uow.people.referrer_details(referrer_id)
    by = (
        await turn.uow.people.get(details.decided_by_id)
        if details and details.decided_by_id
        else None
    )
    outcome = registration_texts.STATUS_NAMES.get(person.status if person else "", "decided")
    who = by.name if by else "another administrator"
    if by is not None and turn.person is not None and by.id == turn.person.id:
        who = "you"
    turn.notice = registration_texts.ALREADY_DECIDED.format(outcome=outcome, who=who)
    turn.say(turn.notice)


async def ask_reason(turn: Turn) -> None:
    """Ask the admin why the registration is rejected."""
    referrer = await turn.uow.people.get(turn.data["referrer_id"])
    name = referrer.name if referrer else ""
    turn.say(
        render(registration_texts.ASK_REJECTION_REASON, ref=turn.data["referrer_id"], name=name)
    )


@rejection.step(REASON, ask_reason, text_hint="Please type the reason.")
async def got_reason(turn: Turn) -> str:
    """Reject with this reason (unless another admin decided meanwhile)."""
    reason = (turn.text or "").strip()
    if not reason or len(reason) > MAX_REASON:
        return turn.again(registration_texts.REASON_REQUIRED)
    assert turn.person is not None
    result = await decide_registration(
        turn.uow, turn.person, turn.data["referrer_id"], False, turn.now, reason
    )
    if isinstance(result, AlreadyDecided):
        await _report_already_decided(turn, turn.data["referrer_id"])
    elif isinstance(result, Decided):
        referrer = result.referrer
        turn.say(render(registration_texts.YOU_REJECTED, ref=referrer.id, name=referrer.name))
        turn.tell(referrer, render(registration_texts.REFERRER_REJECTED, reason=reason))
        turn.reset_menu(referrer.telegram_user_id, referrer)
    return END


# --- /contact and /referrer ---------------------------------------------------------


async def _show_contact_card(turn: Turn) -> None:
    assert turn.person is not None
    card = await load_card(turn.uow, turn.person)
    assert card is not None
    rows = [
        [
            Button(registration_texts.FIELD_LABELS[a], data=f"ct:{a}"),
            Button(registration_texts.FIELD_LABELS[b], data=f"ct:{b}"),
        ]
        for a, b in zip(FIELDS[::2], FIELDS[1::2], strict=True)
    ]
    turn.say(
        render(registration_texts.CONTACT_CARD, card=render_card(card), warning=card_warning(card)),
        rows,
    )


async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/contact: one's own card with a button per field."""

    async def body(turn: Turn) -> None:
        if referrer_gate(turn):
            await _show_contact_card(turn)

    await run_turn(update, context, body)


async def contact_field_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A field button on one's own card: ask that question again."""
    field = (update.callback_query.data or "").removeprefix("ct:")  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not referrer_gate(turn) or field not in FIELDS:
            return
        turn.data = {"mode": "contact", "answers": {}}
        await registration.goto(turn, field)

    await run_turn(update, context, body)

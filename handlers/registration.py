"""/register, the admins' Approve / Reject, /contact and /referrer.

One conversation carries both a new registration and a change from /contact: its data
says which (`mode`) and, for a change, which field; every answer goes through the same
validation either way.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from delivery.sender import Button
from delivery.text import Html, render
from handlers import registration_texts as T
from handlers import texts
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
from handlers.menus import NO_ROLE_COMMANDS, ROLE_COMMANDS
from services import registration as reg
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

NO_ROLE_COMMANDS.append(("register", "Register as a referring clinician"))
ROLE_COMMANDS[Role.REFERRER].append(("contact", "Your contact details"))
ROLE_COMMANDS[Role.ADMIN].append(("referrer", "View a referrer: /referrer <number>"))


def _answers(turn: Turn) -> dict[str, str | None]:
    answers: dict[str, str | None] = turn.data.setdefault("answers", {})
    return answers


async def _after(turn: Turn, state: str) -> str:
    """Where an accepted answer leads: the next question, the summary, or (contact) done."""
    if turn.data.get("mode") == "contact":
        assert turn.person is not None
        await reg.change_contact(turn.uow, turn.person, state, _answers(turn), turn.now)
        turn.say(render(T.CONTACT_CHANGED, field=T.FIELD_LABELS[state].lower()))
        await _show_contact_card(turn)
        return END
    if turn.data.get("editing"):
        return SUMMARY
    return ORDER[ORDER.index(state) + 1] if state != FAX else SUMMARY


async def _accept(turn: Turn, state: str, checked: reg.Checked, key: str | None = None) -> str:
    if isinstance(checked, reg.Invalid):
        return turn.again(checked.problem)
    _answers(turn)[key or state] = checked.value
    return await _after(turn, state)


async def ask_full_name(turn: Turn) -> None:
    """Ask the full name."""
    turn.say(render(T.ASK_FULL_NAME))


@registration.step(FULL_NAME, ask_full_name, text_hint="Please type your full name.")
async def got_full_name(turn: Turn) -> str:
    """Keep the name exactly as typed (any script, up to 120 characters)."""
    return await _accept(turn, FULL_NAME, reg.check_text(turn.text or "", "name"))


async def ask_job_title(turn: Turn) -> None:
    """Ask the job title or grade."""
    turn.say(render(T.ASK_JOB_TITLE))


@registration.step(JOB_TITLE, ask_job_title, text_hint="Please type your job title or grade.")
async def got_job_title(turn: Turn) -> str:
    """Keep the job title."""
    return await _accept(turn, JOB_TITLE, reg.check_text(turn.text or "", "job title"))


async def ask_centre(turn: Turn) -> None:
    """Offer a button per directory centre, and Other."""
    centres = await turn.uow.centres.all()
    # Buttons carry a position, not the id: ids can be long, and the list is kept here.
    turn.data["centre_choices"] = [c.id for c in centres]
    rows = [[choice_button(c.name[:60], f"c:{i}")] for i, c in enumerate(centres)]
    rows.append([choice_button(T.OTHER_CENTRE, "c:other")])
    turn.say(render(T.ASK_CENTRE), rows)


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
    turn.say(T.ASK_CENTRE_OTHER)


@registration.step(CENTRE_OTHER, ask_centre_other, text_hint="Please type the centre's name.")
async def got_centre_other(turn: Turn) -> str:
    """Keep the free-text centre."""
    checked = reg.check_text(turn.text or "", "centre name")
    if isinstance(checked, reg.Invalid):
        return turn.again(checked.problem)
    answers = _answers(turn)
    answers["centre_id"], answers["centre_other"] = None, checked.value
    return await _after(turn, CENTRE)


async def ask_phone(turn: Turn) -> None:
    """Ask the direct phone number."""
    turn.say(render(T.ASK_PHONE))


@registration.step(PHONE, ask_phone, text_hint="Please type your phone number.")
async def got_phone(turn: Turn) -> str:
    """A valid phone number."""
    return await _accept(turn, PHONE, reg.check_phone(turn.text or ""))


async def ask_mobile(turn: Turn) -> None:
    """Ask the mobile number."""
    turn.say(render(T.ASK_MOBILE))


@registration.step(MOBILE, ask_mobile, text_hint="Please type your mobile number.")
async def got_mobile(turn: Turn) -> str:
    """A valid mobile number."""
    return await _accept(turn, MOBILE, reg.check_phone(turn.text or "", mobile=True))


async def ask_secretary(turn: Turn) -> None:
    """Ask the secretary's phone number."""
    turn.say(render(T.ASK_SECRETARY))


@registration.step(SECRETARY, ask_secretary, text_hint="Please type the number, or none.")
async def got_secretary(turn: Turn) -> str:
    """A valid number, or none."""
    return await _accept(turn, SECRETARY, reg.check_phone(turn.text or "", optional=True))


async def ask_email(turn: Turn) -> None:
    """Ask the email address."""
    turn.say(render(T.ASK_EMAIL))


@registration.step(EMAIL, ask_email, text_hint="Please type your email address.")
async def got_email(turn: Turn) -> str:
    """A valid email address, normalised."""
    return await _accept(turn, EMAIL, reg.check_email(turn.text or ""))


async def ask_fax(turn: Turn) -> None:
    """Ask the fax number."""
    turn.say(render(T.ASK_FAX))


@registration.step(FAX, ask_fax, text_hint="Please type the fax number, or none.")
async def got_fax(turn: Turn) -> str:
    """A valid number, or none."""
    return await _accept(turn, FAX, reg.check_phone(turn.text or "", optional=True))


def render_card(card: reg.ContactCard) -> Html:
    """The contact card, every value escaped."""
    return render(
        T.CARD,
        full_name=card.full_name,
        job_title=card.job_title,
        centre=card.centre,
        phone=reg.show_phone(card.phone),
        mobile=reg.show_phone(card.mobile),
        secretary=reg.show_phone(card.secretary),
        email=card.email,
        fax=reg.show_phone(card.fax),
    )


def _warning(card: reg.ContactCard) -> Html:
    return render(T.MISSING_WARNING) if card.missing else Html("")


async def ask_summary(turn: Turn) -> None:
    """Show every answer with Confirm / Edit / Cancel."""
    turn.data["editing"] = False
    card = await reg.card_from_answers(turn.uow, _answers(turn))
    turn.say(
        render(T.SUMMARY, card=render_card(card), warning=_warning(card)),
        summary_buttons(),
    )


@registration.step(SUMMARY, ask_summary, accepts_text=False)
async def got_summary(turn: Turn) -> str:
    """Confirm creates a pending referrer and tells the admins; Edit; Cancel."""
    if (elsewhere := summary_choice(turn, CHOOSE_FIELD)) is not None:
        return elsewhere
    result = await reg.submit_registration(turn.uow, turn.user_id, _answers(turn), turn.now)
    if isinstance(result, reg.AlreadyKnown):
        turn.say(_already_registered(result.person.role, result.person.status))
        return END
    turn.say(T.SUBMITTED)
    turn.reset_menu(turn.chat_id, result.person)  # pending: /register is no longer theirs
    card = await reg.load_card(turn.uow, result.person)
    assert card is not None
    for admin in result.admins:
        turn.tell(
            admin,
            render(
                T.ADMIN_CARD,
                ref=result.person.id,
                card=render_card(card),
                warning=_warning(card),
                when=turn.now.astimezone(turn.resources.timezone).strftime("%d %b %Y %H:%M"),
            ),
            [
                [
                    Button(T.APPROVE, data=f"reg:a:{result.person.id}"),
                    Button(T.REJECT, data=f"reg:r:{result.person.id}"),
                ]
            ],
        )
    return END


async def ask_field(turn: Turn) -> None:
    """Offer each field as a button."""
    rows = [
        [choice_button(T.FIELD_LABELS[a], f"f:{a}"), choice_button(T.FIELD_LABELS[b], f"f:{b}")]
        for a, b in zip(reg.FIELDS[::2], reg.FIELDS[1::2], strict=True)
    ]
    rows.append([choice_button(T.BACK, "f:back")])
    turn.say(T.CHOOSE_FIELD, rows)


@registration.step(CHOOSE_FIELD, ask_field, accepts_text=False)
async def got_field(turn: Turn) -> str:
    """Re-ask the chosen field, then come back to the summary."""
    return edit_choice(turn, reg.FIELDS, SUMMARY)


def _already_registered(role: str, status: str) -> str | Html:
    if role != Role.REFERRER:
        return render(T.ALREADY_REGISTERED["other"], role=texts.ROLE_NAMES[role])
    return T.ALREADY_REGISTERED.get(status, T.ALREADY_REGISTERED["active"])


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
            turn.notice = T.FOR_ADMINS
            return
        assert admin is not None
        referrer = await turn.uow.people.get(int(raw_id))
        if referrer is None or referrer.role != Role.REFERRER:
            turn.notice = T.NO_SUCH_REFERRER.format(ref=raw_id)
            return
        if referrer.status != PersonStatus.PENDING:
            await _report_already_decided(turn, int(raw_id))
            return
        if action == "r":
            await rejection.begin(turn, {"referrer_id": referrer.id})
            return
        result = await reg.decide_registration(turn.uow, admin, referrer.id, True, turn.now)
        if isinstance(result, reg.AlreadyDecided):
            await _report_already_decided(turn, referrer.id)
        elif isinstance(result, reg.Decided):
            turn.say(render(T.YOU_APPROVED, ref=referrer.id, name=referrer.name))
            turn.tell(referrer, render(T.REFERRER_APPROVED))
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
    outcome = T.STATUS_NAMES.get(person.status if person else "", "decided")
    who = by.name if by else "another administrator"
    if by is not None and turn.person is not None and by.id == turn.person.id:
        who = "you"
    turn.notice = T.ALREADY_DECIDED.format(outcome=outcome, who=who)
    turn.say(turn.notice)


async def ask_reason(turn: Turn) -> None:
    """Ask the admin why the registration is rejected."""
    referrer = await turn.uow.people.get(turn.data["referrer_id"])
    name = referrer.name if referrer else ""
    turn.say(render(T.ASK_REJECTION_REASON, ref=turn.data["referrer_id"], name=name))


@rejection.step(REASON, ask_reason, text_hint="Please type the reason.")
async def got_reason(turn: Turn) -> str:
    """Reject with this reason (unless another admin decided meanwhile)."""
    reason = (turn.text or "").strip()
    if not reason or len(reason) > MAX_REASON:
        return turn.again(T.REASON_REQUIRED)
    assert turn.person is not None
    result = await reg.decide_registration(
        turn.uow, turn.person, turn.data["referrer_id"], False, turn.now, reason
    )
    if isinstance(result, reg.AlreadyDecided):
        await _report_already_decided(turn, turn.data["referrer_id"])
    elif isinstance(result, reg.Decided):
        referrer = result.referrer
        turn.say(render(T.YOU_REJECTED, ref=referrer.id, name=referrer.name))
        turn.tell(referrer, render(T.REFERRER_REJECTED, reason=reason))
        turn.reset_menu(referrer.telegram_user_id, referrer)
    return END


# --- /contact and /referrer ---------------------------------------------------------


async def _show_contact_card(turn: Turn) -> None:
    assert turn.person is not None
    card = await reg.load_card(turn.uow, turn.person)
    assert card is not None
    rows = [
        [Button(T.FIELD_LABELS[a], data=f"ct:{a}"), Button(T.FIELD_LABELS[b], data=f"ct:{b}")]
        for a, b in zip(reg.FIELDS[::2], reg.FIELDS[1::2], strict=True)
    ]
    turn.say(render(T.CONTACT_CARD, card=render_card(card), warning=_warning(card)), rows)


def _referrer_gate(turn: Turn) -> bool:
    """True for an approved referrer; otherwise says why not."""
    person = turn.person
    if person is None or person.role != Role.REFERRER:
        turn.notice = T.NOT_A_REFERRER
        turn.say(T.NOT_A_REFERRER)
        return False
    if person.status != PersonStatus.ACTIVE:
        message = (
            T.AWAITING_APPROVAL
            if person.status == PersonStatus.PENDING
            else T.ALREADY_REGISTERED.get(person.status, T.NOT_A_REFERRER)
        )
        turn.notice = message
        turn.say(message)
        return False
    return True


async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/contact: one's own card with a button per field."""

    async def body(turn: Turn) -> None:
        if _referrer_gate(turn):
            await _show_contact_card(turn)

    await run_turn(update, context, body)


async def contact_field_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A field button on one's own card: ask that question again."""
    field = (update.callback_query.data or "").removeprefix("ct:")  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not _referrer_gate(turn) or field not in reg.FIELDS:
            return
        turn.data = {"mode": "contact", "answers": {}}
        await registration.goto(turn, field)

    await run_turn(update, context, body)


async def referrer_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/referrer <number> (admins): a referrer's card, with Suspend or Reinstate."""

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]):
            turn.say(T.FOR_ADMINS)
            return
        if len(turn.args) != 1 or not turn.args[0].removeprefix("R-").isdigit():
            turn.say(T.REFERRER_USAGE)
            return
        await _show_referrer(turn, int(turn.args[0].removeprefix("R-")))

    await run_turn(update, context, body)


async def _show_referrer(turn: Turn, referrer_id: int) -> None:
    referrer = await turn.uow.people.get(referrer_id)
    card = await reg.load_card(turn.uow, referrer) if referrer else None
    if referrer is None or referrer.role != Role.REFERRER or card is None:
        turn.say(render(T.NO_SUCH_REFERRER, ref=referrer_id))
        return
    assert turn.person is not None
    await turn.uow.audit.record(turn.now, turn.person.ref, "referrer.viewed", referrer.ref)
    buttons = None
    if referrer.status == PersonStatus.ACTIVE:
        buttons = [[Button(T.SUSPEND, data=f"rf:s:{referrer.id}")]]
    elif referrer.status == PersonStatus.SUSPENDED:
        buttons = [[Button(T.REINSTATE, data=f"rf:r:{referrer.id}")]]
    turn.say(
        render(
            T.REFERRER_VIEW,
            ref=referrer.id,
            status=T.STATUS_NAMES.get(referrer.status, referrer.status),
            card=render_card(card),
        ),
        buttons,
    )


async def suspension_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Suspend or Reinstate on a referrer's card (admins)."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]) or not raw_id.isdigit():
            turn.notice = T.FOR_ADMINS
            return
        assert turn.person is not None
        referrer = await turn.uow.people.get(int(raw_id))
        if referrer is None or referrer.role != Role.REFERRER:
            turn.notice = T.NO_SUCH_REFERRER.format(ref=raw_id)
            return
        suspend = action == "s"
        if await reg.set_suspended(turn.uow, turn.person, referrer, suspend, turn.now):
            turn.say(render(T.SUSPENDED if suspend else T.REINSTATED, ref=referrer.id))
            turn.tell(referrer, render(T.YOU_ARE_SUSPENDED if suspend else T.YOU_ARE_REINSTATED))
            turn.reset_menu(referrer.telegram_user_id, referrer)
        else:
            status = T.STATUS_NAMES.get(referrer.status, referrer.status)
            turn.notice = T.NOTHING_CHANGED.format(ref=referrer.id, status=status)
            turn.say(turn.notice)

    await run_turn(update, context, body)


CONVERSATIONS = [registration, rejection]


def handlers() -> list[tuple[int, BaseHandler]]:
    """This feature's handlers, for group 0."""
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("register", register, filters=private)),
        (0, CommandHandler("contact", contact, filters=private)),
        (0, CommandHandler("referrer", referrer_command, filters=private)),
        (0, CallbackQueryHandler(decision_pressed, pattern=r"^reg:[ar]:\d+$")),
        (0, CallbackQueryHandler(contact_field_pressed, pattern=r"^ct:[a-z_]+$")),
        (0, CallbackQueryHandler(suspension_pressed, pattern=r"^rf:[sr]:\d+$")),
    ]

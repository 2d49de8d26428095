"""Patients: /invite_patient and the consent it opens (/start with the invitation),
answers to appointment reminders (attend, or cannot attend and why), and /stop."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from delivery.text import render
from handlers import texts
from handlers.appointments import describe, staff_case
from handlers.base import (
    END,
    Conversation,
    Turn,
    active_in,
    choice_button,
    has_role,
    run_turn,
)
from handlers.shared import holder_buttons, today
from services import appointments, queries
from services.invites import invite_link
from storage.models import Role

CONSENT, REASON = "consent", "reason"


async def _not_yet_enrolled(turn: Turn) -> bool:
    """Consent is given from an account not bound to anyone."""
    return turn.person is None


consent = Conversation("consent", start_state=CONSENT, allowed=_not_yet_enrolled)
cannot_attend = Conversation("cannot_attend", start_state=REASON, allowed=active_in(Role.PATIENT))

CONSENT_TEXT = (
    "<b>Sarcoma service appointment reminders</b>\n\n"
    "Your care team has invited you to receive reminders of your appointments here.\n\n"
    "<b>What the bot sends you:</b> reminders before each appointment (date, time, place), "
    "with buttons to say whether you can attend, and notice of any change.\n"
    "<b>What it stores:</b> your Telegram user number, your answers, and which case you "
    "belong to — encrypted, and seen only by your care team.\n"
    "<b>How to stop:</b> send /stop at any time; nothing more will be sent.\n\n"
    "Do you agree?"
)
AGREED = (
    "Thank you. You will receive appointment reminders here. /appointments lists your "
    "appointments; /stop ends all messages. Service phone: {phone}"
)
DECLINED = "Understood: nothing will be sent to you. Your care team has been told."
PATIENT_JOINED = "The patient of case {ref} agreed to receive appointment reminders."
PATIENT_DECLINED = "The patient of case {ref} declined appointment reminders."
INVITE_MADE = "Give this one-time link to the patient of {ref} (valid 14 days, single use):\n{link}"


# --- Enrolment ----------------------------------------------------------------------


async def invite_patient(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite_patient C-n: a one-time link for the patient."""

    async def body(turn: Turn) -> None:
        case = await staff_case(turn, turn.args[0] if turn.args else "")
        if case is None or turn.person is None:
            return
        token = await appointments.create_patient_invite(turn.uow, case, turn.person, turn.now)
        link = invite_link(turn.resources.bot_username or "bot", token)
        turn.say(render(INVITE_MADE, ref=case.ref, link=link), case_id=case.id)

    await run_turn(update, context, body)


async def patient_start(turn: Turn, token: str) -> bool:
    """A /start token that is a patient invitation opens the consent question."""
    found = await appointments.patient_invite(turn.uow, token, turn.now)
    if isinstance(found, str):
        return False
    if turn.person is not None:
        turn.say(texts.INVITE_REFUSED["already_bound"])
        return True
    await consent.begin(turn, {"invite_id": found.id, "case_id": found.case_id})
    return True


async def ask_consent(turn: Turn) -> None:
    """What the bot will send and store, and how to stop."""
    turn.say(
        render(CONSENT_TEXT),
        [[choice_button("I agree", "yes"), choice_button("No thanks", "no")]],
        protect=True,  # to a patient of the service, before the bot knows them as one
    )


@consent.step(CONSENT, ask_consent, accepts_text=False)
async def got_consent(turn: Turn) -> str:
    """Record consent or refusal; tell the named clinician."""
    if turn.choice not in ("yes", "no"):
        return turn.again(texts.PLEASE_USE_BUTTONS)
    s = turn.resources
    result = await appointments.record_consent(
        turn.uow,
        turn.data["invite_id"],
        turn.user_id,
        turn.choice == "yes",
        turn.now,
        s.timezone,
        s.reminder_offsets,
        s.quiet_hours,
    )
    if isinstance(result, str):
        turn.say(texts.INVITE_REFUSED.get(result, texts.INVITE_REFUSED["used"]))
        return END
    case = await turn.uow.cases.get(turn.data["case_id"])
    named = (
        await turn.uow.people.get(case.named_clinician_id)
        if case and case.named_clinician_id
        else None
    )
    ref = f"C-{turn.data['case_id']}"
    case_id = turn.data["case_id"]
    if result is None:
        turn.say(DECLINED, protect=True)
        if named:
            turn.tell(named, render(PATIENT_DECLINED, ref=ref), case_id=case_id)
        return END
    turn.person = result
    turn.say(render(AGREED, phone=s.service_phone))
    turn.reset_menu(turn.chat_id, result)
    if named:
        turn.tell(named, render(PATIENT_JOINED, ref=ref), case_id=case_id)
    return END


# --- Patients: reminders, answers, /stop --------------------------------------------


async def reminder_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """I will attend / I can't attend on one's own reminder."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.PATIENT]) or turn.person is None:
            turn.notice = "That reminder is not yours."
            return
        reminder = await appointments.answer_reminder(
            turn.uow, turn.person, int(raw_id), action == "y", turn.now
        )
        if reminder is None:
            turn.notice = "That reminder is not yours."
            return
        appointment = await turn.uow.appointments.get(reminder.appointment_id or 0)
        what = describe(appointment, turn.resources) if appointment else "appointment"
        if action == "y":
            await appointments.note_attending(turn.uow, turn.person, reminder, what, turn.now)
            turn.say("Thank you: we have noted that you will attend.")
            return
        await cannot_attend.begin(turn, {"reminder_id": reminder.id, "what": what})

    await run_turn(update, context, body)


async def ask_reason(turn: Turn) -> None:
    """Why the patient cannot attend."""
    turn.say("Sorry to hear that. Please tell us briefly why, so your clinician can help.")


@cannot_attend.step(REASON, ask_reason, text_hint="Please type the reason as text.")
async def got_reason(turn: Turn) -> str:
    """Route the reason as a query on the case to the named clinician."""
    reason = (turn.text or "").strip()
    if not reason or len(reason) > 1000:
        return turn.again("Please type the reason (up to 1000 characters).")
    assert turn.person is not None
    case = await turn.uow.cases.get(turn.person.case_id or 0)
    if case is None:
        return END
    text = f"Patient cannot attend {turn.data['what']}. Reason: {reason}"
    routed = await queries.ask(turn.uow, turn.person, case, text, turn.now, today(turn))
    if routed.holder is not None:
        for_holder = render(
            "❗ <b>{q}</b> on case <b>{ref}</b> from the patient:\n\n{t}",
            q=routed.query.ref,
            ref=case.ref,
            t=text,
        )
        turn.tell_about(routed.holder, for_holder, routed.query, holder_buttons(routed.query))
    turn.say(
        f"Thank you. Your clinician has been told. Service phone: {turn.resources.service_phone}"
    )
    return END


async def stop_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stop (patients): nothing more is sent; the clinician is told."""

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.PATIENT]) or turn.person is None:
            turn.say("/stop is for patients receiving reminders.")
            return
        patient = turn.person
        await appointments.stop_patient(turn.uow, patient, turn.now)
        case = await turn.uow.cases.get(patient.case_id or 0)
        named = (
            await turn.uow.people.get(case.named_clinician_id)
            if case and case.named_clinician_id
            else None
        )
        if named is not None and case is not None:
            turn.tell(
                named,
                render(
                    "The patient of case {ref} sent /stop: no more reminders will be sent to them.",
                    ref=case.ref,
                ),
                case_id=case.id,
            )
        turn.say("Done: you will receive nothing more from this bot.")
        turn.reset_menu(turn.chat_id, None)  # a stranger to the bot from now on

    await run_turn(update, context, body)

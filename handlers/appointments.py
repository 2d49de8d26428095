"""Patients and appointments: /invite_patient and consent, /appointment, /appointments,
moving and cancelling, reminders and the patient's answers, /stop and /followup."""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, filters

from delivery.sender import Button, Outgoing
from delivery.text import Html, render
from handlers import texts
from handlers.base import (
    END,
    Conversation,
    Resources,
    Turn,
    active_in,
    choice_button,
    edit_choice,
    has_role,
    message_to,
    run_turn,
    summary_buttons,
    summary_choice,
)
from handlers.cases import today
from handlers.common import START_HOOKS
from handlers.menus import ROLE_COMMANDS
from services import appointments as svc
from services import cases as case_svc
from services import queries as qsvc
from services.ics import appointment_ics
from services.invites import invite_link
from storage.models import Appointment, Case, Person, Role

log = logging.getLogger(__name__)

KIND, WHEN, LOCATION, CONFIRM, CONSENT, REASON, MOVE_WHEN = (
    "kind",
    "when",
    "location",
    "confirm",
    "consent",
    "reason",
    "move_when",
)
CHOOSE = "choose_field"


async def _still_manages_case(turn: Turn) -> bool:
    """Booking: still an active admin, or an active clinician holding the case."""
    case = await turn.uow.session.get(Case, turn.data.get("case_id", 0))
    return case is not None and case_svc.may_manage(turn.person, case)


async def _still_manages_appointment(turn: Turn) -> bool:
    """Moving: the same, for the appointment's case."""
    appointment = await turn.uow.session.get(Appointment, turn.data.get("appointment_id", 0))
    case = await turn.uow.session.get(Case, appointment.case_id) if appointment else None
    return case is not None and case_svc.may_manage(turn.person, case)


async def _not_yet_enrolled(turn: Turn) -> bool:
    """Consent is given from an account not bound to anyone."""
    return turn.person is None


booking = Conversation("appointment", start_state=KIND, allowed=_still_manages_case)
consent = Conversation("consent", start_state=CONSENT, allowed=_not_yet_enrolled)
cannot_attend = Conversation("cannot_attend", start_state=REASON, allowed=active_in(Role.PATIENT))
moving = Conversation("move_appointment", start_state=MOVE_WHEN, allowed=_still_manages_appointment)

ROLE_COMMANDS[Role.PATIENT] += [
    ("appointments", "Your appointments"),
    ("stop", "Stop all messages from this bot"),
]
for _role in (Role.CLINICIAN, Role.ADMIN):
    ROLE_COMMANDS[_role] += [
        ("appointment", "Book an appointment: /appointment C-12"),
        ("appointments", "A case's appointments: /appointments C-12"),
        ("invite_patient", "Invite a patient: /invite_patient C-12"),
    ]
ROLE_COMMANDS[Role.CLINICIAN].append(("followup", "Remind me: /followup C-12 14 note"))

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
NOT_ALLOWED = "Only the named clinician, the deputy or an administrator can do that for {ref}."


def reminder_text(appointment: Appointment, resources: Resources) -> Html:
    local = appointment.starts_at.astimezone(resources.timezone)
    return render(
        "⏰ <b>Appointment reminder</b>\n{kind}\n{when}\n{where}\n\nService phone: {phone}",
        kind=svc.KINDS.get(appointment.kind, appointment.kind),
        when=local.strftime("%A %d %B %Y at %H:%M"),
        where=appointment.location or "",
        phone=resources.service_phone,
    )


def describe(appointment: Appointment, resources: Resources) -> str:
    local = appointment.starts_at.astimezone(resources.timezone)
    return (
        f"{svc.KINDS.get(appointment.kind, appointment.kind)}, "
        f"{local.strftime('%a %d %b %Y %H:%M')}, {appointment.location}"
    )


def ics_for(appointment: Appointment, resources: Resources, now: datetime) -> tuple[str, bytes]:
    from datetime import timedelta

    data = appointment_ics(
        uid=f"{appointment.uid}@sarcoma-referral-bot",
        starts_at=appointment.starts_at,
        duration=timedelta(hours=1),
        summary=f"Sarcoma service: {svc.KINDS.get(appointment.kind, appointment.kind)}",
        location=appointment.location or "",
        description=f"Service phone: {resources.service_phone}",
        tz=resources.timezone,
        now=now,
        sequence=int((appointment.updated_at or appointment.created_at).timestamp()) % 100000,
        cancelled=appointment.status == "cancelled",
    )
    return (f"appointment-{appointment.id}.ics", data)


async def _staff_case(turn: Turn, ref: str) -> Case | None:
    """The case if the user is its named clinician, deputy, or an admin."""
    case = await case_svc.visible_case(turn.uow, turn.person, ref)
    if case is None or turn.person is None:
        turn.say(f"There is no case {ref or 'C-?'} that you can see.")
        return None
    if not case_svc.may_manage(turn.person, case):
        turn.say(NOT_ALLOWED.format(ref=case.ref), case_id=case.id)
        return None
    return case


# --- Enrolment ----------------------------------------------------------------------


async def invite_patient(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/invite_patient C-n: a one-time link for the patient."""

    async def body(turn: Turn) -> None:
        case = await _staff_case(turn, turn.args[0] if turn.args else "")
        if case is None or turn.person is None:
            return
        token = await svc.create_patient_invite(turn.uow, case, turn.person, turn.now)
        link = invite_link(turn.resources.bot_username or "bot", token)
        turn.say(render(INVITE_MADE, ref=case.ref, link=link), case_id=case.id)

    await run_turn(update, context, body)


async def patient_start(turn: Turn, token: str) -> bool:
    """A /start token that is a patient invitation opens the consent question."""
    found = await svc.patient_invite(turn.uow, token, turn.now)
    if isinstance(found, str):
        return False
    if turn.person is not None:
        turn.say(texts.INVITE_REFUSED["already_bound"])
        return True
    await consent.begin(turn, {"invite_id": found.id, "case_id": found.case_id})
    return True


START_HOOKS.append(patient_start)


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
    result = await svc.record_consent(
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
    case = await turn.uow.session.get(Case, turn.data["case_id"])
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


# --- Booking ------------------------------------------------------------------------


async def appointment_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/appointment C-n: kind, date and time, location, confirm."""

    async def body(turn: Turn) -> None:
        case = await _staff_case(turn, turn.args[0] if turn.args else "")
        if case is not None:
            await booking.begin(turn, {"case_id": case.id})

    await run_turn(update, context, body)


async def ask_kind(turn: Turn) -> None:
    """Which kind of appointment."""
    turn.say(
        f"Appointment for C-{turn.data['case_id']}: which kind?",
        [[choice_button(label, f"k:{key}")] for key, label in svc.KINDS.items()],
        case_id=turn.data["case_id"],
    )


@booking.step(KIND, ask_kind, accepts_text=False)
async def got_kind(turn: Turn) -> str:
    """Keep the kind."""
    key = (turn.choice or "").removeprefix("k:")
    if key not in svc.KINDS:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["kind"] = key
    return CONFIRM if turn.data.get("editing") else WHEN


async def ask_when(turn: Turn) -> None:
    """Date and time, or the next one-stop clinic."""
    found = case_svc.next_clinic(await turn.uow.clinics.all(), turn.now, turn.resources.timezone)
    buttons = None
    if found is not None:
        turn.data["next_clinic"] = found[0].strftime("%Y-%m-%d %H:%M")
        buttons = [[choice_button(f"Next one-stop clinic: {turn.data['next_clinic']}", "next")]]
    turn.say("Date and time? Type YYYY-MM-DD HH:MM (UK time).", buttons)


@booking.step(WHEN, ask_when, offers_buttons=True)
async def got_when(turn: Turn) -> str:
    """A future date and time in the service time zone."""
    text = turn.data.get("next_clinic") if turn.choice == "next" else turn.text
    when = svc.parse_local(text or "", turn.resources.timezone)
    if when is None:
        return turn.again(
            "Please type the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-07 09:30."
        )
    if when <= turn.now:
        return turn.again("That time has passed. Please give a time in the future.")
    turn.data["starts_at"] = when.isoformat()
    return CONFIRM if turn.data.get("editing") else LOCATION


async def ask_field(turn: Turn) -> None:
    """Which detail to change."""
    turn.say(
        "Which detail do you want to change?",
        [
            [choice_button("Kind", f"f:{KIND}"), choice_button("Date and time", f"f:{WHEN}")],
            [choice_button("Location", f"f:{LOCATION}"), choice_button("Back", "f:back")],
        ],
    )


@booking.step(CHOOSE, ask_field, accepts_text=False)
async def got_field(turn: Turn) -> str:
    """Re-ask one detail, then back to the summary."""
    return edit_choice(turn, (KIND, WHEN, LOCATION), CONFIRM)


async def ask_location(turn: Turn) -> None:
    """Location, defaulting by kind."""
    default = svc.DEFAULT_LOCATIONS[turn.data["kind"]]
    turn.say("Location? Type it, or use the usual one.", [[choice_button(default, "default")]])


@booking.step(LOCATION, ask_location, offers_buttons=True)
async def got_location(turn: Turn) -> str:
    """Keep the location."""
    if turn.choice == "default":
        turn.data["location"] = svc.DEFAULT_LOCATIONS[turn.data["kind"]]
    else:
        text = (turn.text or "").strip()
        if not text or len(text) > 200:
            return turn.again("Please type the location (up to 200 characters).")
        turn.data["location"] = text
    return CONFIRM


async def ask_confirm(turn: Turn) -> None:
    """The appointment with Confirm / Edit / Cancel."""
    turn.data["editing"] = False
    local = datetime.fromisoformat(turn.data["starts_at"]).astimezone(turn.resources.timezone)
    turn.say(
        render(
            "<b>Please check the appointment for C-{case}</b>\n{kind}\n{when}\n{where}",
            case=turn.data["case_id"],
            kind=svc.KINDS[turn.data["kind"]],
            when=local.strftime("%A %d %B %Y at %H:%M"),
            where=turn.data["location"],
        ),
        summary_buttons(),
        case_id=turn.data["case_id"],
    )


@booking.step(CONFIRM, ask_confirm, accepts_text=False)
async def got_confirm(turn: Turn) -> str:
    """Book it: reminders for the patient, the .ics to patient and referrer."""
    if (elsewhere := summary_choice(turn, CHOOSE)) is not None:
        return elsewhere
    case = await _staff_case(turn, f"C-{turn.data['case_id']}")
    if case is None or turn.person is None:
        return END
    s = turn.resources
    appointment, patient = await svc.book(
        turn.uow,
        case,
        turn.person,
        turn.data["kind"],
        datetime.fromisoformat(turn.data["starts_at"]),
        turn.data["location"],
        turn.now,
        s.timezone,
        s.reminder_offsets,
        s.quiet_hours,
    )
    await turn.uow.flush()
    turn.say(render("Booked: {d}", d=describe(appointment, s)), case_id=case.id)
    await _send_ics(turn, appointment, case, patient, "New appointment")
    return END


async def _send_ics(
    turn: Turn, appointment: Appointment, case: Case, patient: Person | None, heading: str
) -> None:
    referrer = await turn.uow.people.get(case.referrer_id)
    for person in [p for p in (patient, referrer) if p is not None]:
        message = message_to(
            person,
            render(
                "{h} ({ref}): {d}", h=heading, ref=case.ref, d=describe(appointment, turn.resources)
            ),
            case_id=case.id,
            document=ics_for(appointment, turn.resources, turn.now),
        )
        if message is not None:
            turn.replies.append(message)


# --- Lists, moving, cancelling ------------------------------------------------------


async def appointments_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/appointments (patients: their own) or /appointments C-n (staff, with buttons)."""

    async def body(turn: Turn) -> None:
        person = turn.person
        if has_role(person, [Role.PATIENT]):
            assert person is not None
            items = await svc.upcoming(turn.uow, person.case_id or 0, turn.now)
            lines = [describe(a, turn.resources) for a in items] or ["No upcoming appointments."]
            turn.say(
                "\n".join(
                    ["Your appointments:", *lines, f"Service phone: {turn.resources.service_phone}"]
                )
            )
            return
        case = await _staff_case(turn, turn.args[0] if turn.args else "")
        if case is None:
            return
        items = await svc.upcoming(turn.uow, case.id, turn.now)
        if not items:
            turn.say(f"{case.ref} has no upcoming appointments.", case_id=case.id)
        for a in items:
            turn.say(
                describe(a, turn.resources),
                [[Button("Move", data=f"ap:m:{a.id}"), Button("Cancel", data=f"ap:c:{a.id}")]],
                case_id=case.id,
            )

    await run_turn(update, context, body)


async def appointment_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Move or Cancel on an appointment (its case's clinicians and admins)."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        appointment = await turn.uow.session.get(Appointment, int(raw_id))
        case = await turn.uow.session.get(Case, appointment.case_id) if appointment else None
        if appointment is None or case is None or not case_svc.may_manage(turn.person, case):
            turn.notice = "That appointment is not one you can change."
            return
        if appointment.status != "scheduled":
            turn.notice = "That appointment is already cancelled."
            return
        if action == "m":
            await moving.begin(turn, {"appointment_id": appointment.id})
            return
        assert turn.person is not None
        patient = await svc.cancel(turn.uow, appointment, turn.person, turn.now)
        turn.say(render("Cancelled: {d}", d=describe(appointment, turn.resources)), case_id=case.id)
        await _send_ics(turn, appointment, case, patient, "Appointment cancelled")

    await run_turn(update, context, body)


async def ask_move_when(turn: Turn) -> None:
    """The new date and time."""
    turn.say("New date and time? Type YYYY-MM-DD HH:MM (UK time).")


@moving.step(MOVE_WHEN, ask_move_when)
async def got_move_when(turn: Turn) -> str:
    """Move the appointment and its reminders; tell patient and referrer."""
    when = svc.parse_local(turn.text or "", turn.resources.timezone)
    if when is None:
        return turn.again("Please type the date and time as YYYY-MM-DD HH:MM.")
    if when <= turn.now:
        return turn.again("That time has passed. Please give a time in the future.")
    appointment = await turn.uow.session.get(Appointment, turn.data["appointment_id"])
    case = await turn.uow.session.get(Case, appointment.case_id) if appointment else None
    if appointment is None or case is None or not case_svc.may_manage(turn.person, case):
        turn.say(texts.NO_LONGER_ALLOWED)
        return END
    assert turn.person is not None
    if appointment.status != "scheduled":  # cancelled by someone else meanwhile
        turn.say(
            "That appointment has been cancelled meanwhile: nothing was moved.", case_id=case.id
        )
        return END
    s = turn.resources
    patient = await svc.move(
        turn.uow,
        appointment,
        turn.person,
        when,
        turn.now,
        s.timezone,
        s.reminder_offsets,
        s.quiet_hours,
    )
    turn.say(render("Moved: {d}", d=describe(appointment, s)), case_id=case.id)
    await _send_ics(turn, appointment, case, patient, "Appointment moved")
    return END


# --- Patients: reminders, answers, /stop --------------------------------------------


async def reminder_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """I will attend / I can't attend on one's own reminder."""
    _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.PATIENT]) or turn.person is None:
            turn.notice = "That reminder is not yours."
            return
        reminder = await svc.answer_reminder(
            turn.uow, turn.person, int(raw_id), action == "y", turn.now
        )
        if reminder is None:
            turn.notice = "That reminder is not yours."
            return
        from storage.models import ThreadMessage

        appointment = await turn.uow.session.get(Appointment, reminder.appointment_id)
        what = describe(appointment, turn.resources) if appointment else "appointment"
        if action == "y":
            turn.uow.session.add(
                ThreadMessage(
                    case_id=reminder.case_id,
                    author_id=turn.person.id,
                    body=f"Patient will attend: {what}",
                    created_at=turn.now,
                )
            )
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
    case = await turn.uow.session.get(Case, turn.person.case_id or 0)
    if case is None:
        return END
    text = f"Patient cannot attend {turn.data['what']}. Reason: {reason}"
    routed = await qsvc.ask(turn.uow, turn.person, case, text, turn.now, today(turn))
    if routed.holder is not None:
        from handlers.queries import holder_buttons

        turn.tell(
            routed.holder,
            render(
                "❗ <b>{q}</b> on case <b>{ref}</b> from the patient:\n\n{t}",
                q=routed.query.ref,
                ref=case.ref,
                t=text,
            ),
            holder_buttons(routed.query),
            protect=True,
            case_id=case.id,
            query_id=routed.query.id,
        )
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
        await svc.stop_patient(turn.uow, patient, turn.now)
        case = await turn.uow.session.get(Case, patient.case_id or 0)
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


async def followup_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/followup C-n <days> <note>: a reminder to the named clinician on that day."""

    async def body(turn: Turn) -> None:
        if len(turn.args) < 3 or not turn.args[1].isdigit() or not 0 < int(turn.args[1]) <= 3650:
            turn.say("Usage: /followup C-12 14 check MRI result")
            return
        case = await _staff_case(turn, turn.args[0])
        if case is None or case.named_clinician_id is None or turn.person is None:
            return
        from storage.models import Reminder

        note = (turn.text or "").split(maxsplit=3)[3]
        if len(note) > 1000:
            # Cutting it would lose the end of a clinical note without anyone noticing.
            turn.say(
                f"That note is {len(note)} characters; the limit is 1000. Nothing was set: "
                "please send it again, shorter."
            )
            return
        due = svc.followup_due(today(turn), int(turn.args[1]), turn.resources.timezone)
        turn.uow.session.add(
            Reminder(
                kind="followup",
                case_id=case.id,
                recipient_id=case.named_clinician_id,
                due_at=due,
                status="pending",
                note=note,
                created_at=turn.now,
            )
        )
        await turn.uow.audit.record(turn.now, turn.person.ref, "followup.set", case.ref)
        local = due.astimezone(turn.resources.timezone)
        turn.say(
            f"Follow-up reminder for {case.ref} set for {local:%A %d %B %Y %H:%M}.",
            case_id=case.id,
        )

    await run_turn(update, context, body)


async def dispatch_reminders(resources: Resources) -> int:
    """Scheduled: queue due reminders in the same transaction that marks them."""
    now = resources.clock.now()
    async with resources.db.uow() as uow:
        claimed = await svc.claim_due(uow, now)
        for item in claimed:
            message = _reminder_message(item, resources)
            if item.missed and item.case is not None and item.case.named_clinician_id:
                named = await uow.people.get(item.case.named_clinician_id)
                if named:
                    message = message_to(
                        named,
                        render(
                            "A reminder for case {ref} could not be sent in time (the bot "
                            "was down) and was marked missed.",
                            ref=item.case.ref,
                        ),
                        case_id=item.case.id,
                    )
            if message is not None:
                resources.sender.enqueue(uow, message, now)
        await uow.commit()
    if claimed:
        resources.sender.wake()
    return len(claimed)


def _reminder_message(item: svc.DueReminder, resources: Resources) -> Outgoing | None:
    if item.missed or item.reminder.status != "sent" or item.recipient is None:
        return None
    if item.reminder.kind == "followup":
        return message_to(
            item.recipient,
            render(
                "📌 Follow-up reminder for case C-{c}: {n}",
                c=item.reminder.case_id,
                n=item.reminder.note or "",
            ),
            case_id=item.reminder.case_id,
        )
    if item.appointment is None:
        return None
    return message_to(
        item.recipient,
        reminder_text(item.appointment, resources),
        [
            [
                Button("I will attend", data=f"rm:y:{item.reminder.id}"),
                Button("I can't attend", data=f"rm:n:{item.reminder.id}"),
            ]
        ],
        case_id=item.reminder.case_id,
    )


CONVERSATIONS = [booking, consent, cannot_attend, moving]


def handlers() -> list[tuple[int, BaseHandler]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("invite_patient", invite_patient, filters=private)),
        (0, CommandHandler("appointment", appointment_command, filters=private)),
        (0, CommandHandler("appointments", appointments_command, filters=private)),
        (0, CommandHandler("stop", stop_command, filters=private)),
        (0, CommandHandler("followup", followup_command, filters=private)),
        (0, CallbackQueryHandler(appointment_pressed, pattern=r"^ap:[mc]:\d+$")),
        (0, CallbackQueryHandler(reminder_pressed, pattern=r"^rm:[yn]:\d+$")),
    ]

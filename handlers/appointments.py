"""/appointment (book: kind, date and time, location, confirm), /appointments (a case's,
with Move and Cancel; a patient's own), moving and cancelling, each with its .ics."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button
from delivery.text import Html, render
from handlers import cases_texts, texts
from handlers.base import (
    END,
    Conversation,
    Resources,
    Turn,
    choice_button,
    edit_choice,
    has_role,
    message_to,
    run_turn,
    summary_buttons,
    summary_choice,
)
from services import appointments, cases
from services.ics import appointment_ics
from storage.models import Appointment, Case, Person, Role

log = logging.getLogger(__name__)

KIND, WHEN, LOCATION, CONFIRM, MOVE_WHEN = "kind", "when", "location", "confirm", "move_when"
CHOOSE = "choose_field"


async def _appointment_and_case(
    turn: Turn, appointment_id: int
) -> tuple[Appointment | None, Case | None]:
    appointment = await turn.uow.appointments.get(appointment_id)
    case = await turn.uow.cases.get(appointment.case_id) if appointment else None
    return appointment, case


async def _still_manages_case(turn: Turn) -> bool:
    """Booking: still an active admin, or an active clinician holding the case."""
    case = await turn.uow.cases.get(turn.data.get("case_id", 0))
    return case is not None and cases.may_manage(turn.person, case)


async def _still_manages_appointment(turn: Turn) -> bool:
    """Moving: the same, for the appointment's case."""
    _, case = await _appointment_and_case(turn, turn.data.get("appointment_id", 0))
    return case is not None and cases.may_manage(turn.person, case)


booking = Conversation("appointment", start_state=KIND, allowed=_still_manages_case)
moving = Conversation("move_appointment", start_state=MOVE_WHEN, allowed=_still_manages_appointment)

NOT_ALLOWED = "Only the named clinician, the deputy or an administrator can do that for {ref}."


def reminder_text(appointment: Appointment, resources: Resources) -> Html:
    local = appointment.starts_at.astimezone(resources.timezone)
    return render(
        "⏰ <b>Appointment reminder</b>\n{kind}\n{when}\n{where}\n\nService phone: {phone}",
        kind=appointments.KINDS.get(appointment.kind, appointment.kind),
        when=local.strftime("%A %d %B %Y at %H:%M"),
        where=appointment.location or "",
        phone=resources.service_phone,
    )


def describe(appointment: Appointment, resources: Resources) -> str:
    local = appointment.starts_at.astimezone(resources.timezone)
    return (
        f"{appointments.KINDS.get(appointment.kind, appointment.kind)}, "
        f"{local.strftime('%a %d %b %Y %H:%M')}, {appointment.location}"
    )


def ics_for(appointment: Appointment, resources: Resources, now: datetime) -> tuple[str, bytes]:
    data = appointment_ics(
        uid=f"{appointment.uid}@sarcoma-referral-bot",
        starts_at=appointment.starts_at,
        duration=timedelta(hours=1),
        summary=f"Sarcoma service: {appointments.KINDS.get(appointment.kind, appointment.kind)}",
        location=appointment.location or "",
        description=f"Service phone: {resources.service_phone}",
        tz=resources.timezone,
        now=now,
        sequence=int((appointment.updated_at or appointment.created_at).timestamp()) % 100000,
        cancelled=appointment.status == "cancelled",
    )
    return (f"appointment-{appointment.id}.ics", data)


async def staff_case(turn: Turn, ref: str) -> Case | None:
    """The case if the user is its named clinician, deputy, or an admin."""
    case = await cases.visible_case(turn.uow, turn.person, ref)
    if case is None or turn.person is None:
        turn.say(cases_texts.NOT_YOURS.format(ref=ref or "C-?"))
        return None
    if not cases.may_manage(turn.person, case):
        turn.say(NOT_ALLOWED.format(ref=case.ref), case_id=case.id)
        return None
    return case


# --- Booking ------------------------------------------------------------------------


async def appointment_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/appointment C-n: kind, date and time, location, confirm."""

    async def body(turn: Turn) -> None:
        case = await staff_case(turn, turn.args[0] if turn.args else "")
        if case is not None:
            await booking.begin(turn, {"case_id": case.id})

    await run_turn(update, context, body)


async def ask_kind(turn: Turn) -> None:
    """Which kind of appointment."""
    turn.say(
        f"Appointment for C-{turn.data['case_id']}: which kind?",
        [[choice_button(label, f"k:{key}")] for key, label in appointments.KINDS.items()],
        case_id=turn.data["case_id"],
    )


@booking.step(KIND, ask_kind, accepts_text=False)
async def got_kind(turn: Turn) -> str:
    """Keep the kind."""
    key = (turn.choice or "").removeprefix("k:")
    if key not in appointments.KINDS:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data["kind"] = key
    return CONFIRM if turn.data.get("editing") else WHEN


async def ask_when(turn: Turn) -> None:
    """Date and time, or the next one-stop clinic."""
    found = cases.next_clinic(await turn.uow.clinics.all(), turn.now, turn.resources.timezone)
    buttons = None
    if found is not None:
        turn.data["next_clinic"] = found[0].strftime("%Y-%m-%d %H:%M")
        buttons = [[choice_button(f"Next one-stop clinic: {turn.data['next_clinic']}", "next")]]
    turn.say("Date and time? Type YYYY-MM-DD HH:MM (UK time).", buttons)


@booking.step(WHEN, ask_when, offers_buttons=True)
async def got_when(turn: Turn) -> str:
    """A future date and time in the service time zone."""
    text = turn.data.get("next_clinic") if turn.choice == "next" else turn.text
    when = appointments.parse_local(text or "", turn.resources.timezone)
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
    default = appointments.DEFAULT_LOCATIONS[turn.data["kind"]]
    turn.say("Location? Type it, or use the usual one.", [[choice_button(default, "default")]])


@booking.step(LOCATION, ask_location, offers_buttons=True)
async def got_location(turn: Turn) -> str:
    """Keep the location."""
    if turn.choice == "default":
        turn.data["location"] = appointments.DEFAULT_LOCATIONS[turn.data["kind"]]
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
            kind=appointments.KINDS[turn.data["kind"]],
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
    case = await staff_case(turn, f"C-{turn.data['case_id']}")
    if case is None or turn.person is None:
        return END
    s = turn.resources
    appointment, patient = await appointments.book(
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
            items = await appointments.upcoming(turn.uow, person.case_id or 0, turn.now)
            lines = [describe(a, turn.resources) for a in items] or ["No upcoming appointments."]
            turn.say(
                "\n".join(
                    ["Your appointments:", *lines, f"Service phone: {turn.resources.service_phone}"]
                )
            )
            return
        case = await staff_case(turn, turn.args[0] if turn.args else "")
        if case is None:
            return
        items = await appointments.upcoming(turn.uow, case.id, turn.now)
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
        appointment, case = await _appointment_and_case(turn, int(raw_id))
        if appointment is None or case is None or not cases.may_manage(turn.person, case):
            turn.notice = "That appointment is not one you can change."
            return
        if appointment.status != "scheduled":
            turn.notice = "That appointment is already cancelled."
            return
        if action == "m":
            await moving.begin(turn, {"appointment_id": appointment.id})
            return
        assert turn.person is not None
        patient = await appointments.cancel(turn.uow, appointment, turn.person, turn.now)
        turn.say(render("Cancelled: {d}", d=describe(appointment, turn.resources)), case_id=case.id)
        await _send_ics(turn, appointment, case, patient, "Appointment cancelled")

    await run_turn(update, context, body)


async def ask_move_when(turn: Turn) -> None:
    """The new date and time."""
    turn.say("New date and time? Type YYYY-MM-DD HH:MM (UK time).")


@moving.step(MOVE_WHEN, ask_move_when)
async def got_move_when(turn: Turn) -> str:
    """Move the appointment and its reminders; tell patient and referrer."""
    when = appointments.parse_local(turn.text or "", turn.resources.timezone)
    if when is None:
        return turn.again("Please type the date and time as YYYY-MM-DD HH:MM.")
    if when <= turn.now:
        return turn.again("That time has passed. Please give a time in the future.")
    appointment, case = await _appointment_and_case(turn, turn.data["appointment_id"])
    if appointment is None or case is None or not cases.may_manage(turn.person, case):
        turn.say(texts.NO_LONGER_ALLOWED)
        return END
    assert turn.person is not None
    if appointment.status != "scheduled":  # cancelled by someone else meanwhile
        turn.say(
            "That appointment has been cancelled meanwhile: nothing was moved.", case_id=case.id
        )
        return END
    s = turn.resources
    patient = await appointments.move(
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

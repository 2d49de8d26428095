"""Patients, appointments and reminders: enrolment with consent, scheduling reminders as
database rows, and the dispatcher that hands due reminders to the outbox."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.invites import INVITE_LIFETIME, hash_token
from services.reminder_times import reminder_times
from storage.models import (
    Appointment,
    Case,
    Invite,
    Person,
    PersonStatus,
    Reminder,
    Role,
)
from storage.uow import UnitOfWork

KINDS = {
    "one_stop": "One-stop clinic",
    "follow_up_noc": "Follow-up at NOC",
    "oncology_follow_up": "Oncology follow-up",
    "joint_follow_up": "Joint follow-up at base hospital",
}
DEFAULT_LOCATIONS = {
    "one_stop": "Nuffield Orthopaedic Centre, Oxford",
    "follow_up_noc": "Nuffield Orthopaedic Centre, Oxford",
    "oncology_follow_up": "Oxford Cancer and Haematology Centre, Churchill Hospital",
    "joint_follow_up": "The referring (base) hospital",
}
LATE_LIMIT = timedelta(hours=6)
FOLLOWUP_AT = time(9, 0)


def parse_local(text: str, tz: ZoneInfo) -> datetime | None:
    """`YYYY-MM-DD HH:MM` in the service time zone, as aware UTC."""
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        return None
    return local.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


async def patient_of(uow: UnitOfWork, case_id: int) -> Person | None:
    """The enrolled (consenting, not stopped) patient of a case."""
    return await uow.appointments.patient_of(case_id)


async def create_patient_invite(uow: UnitOfWork, case: Case, by: Person, now: datetime) -> str:
    """A one-time link for the patient of this case; only the hash is stored."""
    token = secrets.token_urlsafe(24)
    uow.invites.add(
        Invite(
            token_hash=hash_token(token),
            role=Role.PATIENT,
            case_id=case.id,
            created_by=by.ref,
            created_at=now,
            expires_at=now + INVITE_LIFETIME,
        )
    )
    await uow.audit.record(now, by.ref, "invite.created", case.ref, role="patient")
    return token


async def patient_invite(uow: UnitOfWork, token: str, now: datetime) -> Invite | str:
    """A usable patient invite, or why not (unknown / used / expired)."""
    invite = await uow.invites.by_hash(hash_token(token))
    if invite is None or invite.role != Role.PATIENT or invite.case_id is None:
        return "unknown"
    if invite.used_at is not None:
        return "used"
    if invite.expires_at <= now:
        return "expired"
    return invite


async def record_consent(
    uow: UnitOfWork,
    invite_id: int,
    telegram_user_id: int,
    agreed: bool,
    now: datetime,
    tz: ZoneInfo,
    offsets: Sequence[timedelta],
    quiet: tuple[time, time] | None,
) -> Person | str | None:
    """Consent creates the patient (and their reminders); refusal is recorded too."""
    invite = await uow.invites.get(invite_id)
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        return "used"
    if await uow.people.by_telegram_id(telegram_user_id) is not None:
        return "already_bound"
    invite.used_at, invite.used_by_telegram_id = now, telegram_user_id
    case_ref = f"C-{invite.case_id}"
    if not agreed:
        # Named by the invitation, not the Telegram account: the audit log is append-only,
        # and an account number there could never be erased.
        await uow.audit.record(now, f"invite:{invite.id}", "consent.refused", case_ref)
        return None
    patient = Person(
        role=Role.PATIENT,
        status=PersonStatus.ACTIVE,
        telegram_user_id=telegram_user_id,
        case_id=invite.case_id,
        name=f"Patient of {case_ref}",
        created_at=now,
    )
    uow.people.add(patient)
    await uow.flush()
    await uow.audit.record(now, patient.ref, "consent.given", case_ref)
    for appointment in await upcoming(uow, invite.case_id or 0, now):
        await schedule_reminders(uow, appointment, patient, now, tz, offsets, quiet)
    return patient


async def upcoming(uow: UnitOfWork, case_id: int, now: datetime) -> Sequence[Appointment]:
    """A case's scheduled appointments after `now`, soonest first."""
    return await uow.appointments.upcoming(case_id, now)


async def schedule_reminders(
    uow: UnitOfWork,
    appointment: Appointment,
    patient: Person,
    now: datetime,
    tz: ZoneInfo,
    offsets: Sequence[timedelta],
    quiet: tuple[time, time] | None,
) -> int:
    """One pending row per reminder time; APScheduler never holds them in memory."""
    times = reminder_times(appointment.starts_at, offsets, quiet, tz, now)
    for due in times:
        uow.appointments.add_reminder(
            Reminder(
                kind="appointment",
                appointment_id=appointment.id,
                case_id=appointment.case_id,
                recipient_id=patient.id,
                due_at=due,
                status="pending",
                created_at=now,
            )
        )
    return len(times)


async def cancel_reminders(uow: UnitOfWork, appointment_id: int) -> int:
    return await uow.appointments.cancel_reminders_of_appointment(appointment_id)


async def book(
    uow: UnitOfWork,
    case: Case,
    by: Person,
    kind: str,
    starts_at: datetime,
    location: str,
    now: datetime,
    tz: ZoneInfo,
    offsets: Sequence[timedelta],
    quiet: tuple[time, time] | None,
) -> tuple[Appointment, Person | None]:
    """Create the appointment and its patient's reminders."""
    appointment = Appointment(
        case_id=case.id,
        kind=kind,
        starts_at=starts_at,
        location=location,
        status="scheduled",
        created_by_id=by.id,
        created_at=now,
    )
    uow.appointments.add(appointment)
    await uow.flush()
    await uow.audit.record(
        now, by.ref, "appointment.created", case.ref, appointment=appointment.id, kind=kind
    )
    patient = await patient_of(uow, case.id)
    if patient is not None:
        await schedule_reminders(uow, appointment, patient, now, tz, offsets, quiet)
    return appointment, patient


async def move(
    uow: UnitOfWork,
    appointment: Appointment,
    by: Person,
    starts_at: datetime,
    now: datetime,
    tz: ZoneInfo,
    offsets: Sequence[timedelta],
    quiet: tuple[time, time] | None,
) -> Person | None:
    """Move an appointment: its pending reminders are replaced."""
    await cancel_reminders(uow, appointment.id)
    appointment.starts_at, appointment.updated_at = starts_at, now
    await uow.audit.record(
        now, by.ref, "appointment.moved", f"C-{appointment.case_id}", appointment=appointment.id
    )
    patient = await patient_of(uow, appointment.case_id)
    if patient is not None:
        await schedule_reminders(uow, appointment, patient, now, tz, offsets, quiet)
    return patient


async def cancel(
    uow: UnitOfWork, appointment: Appointment, by: Person, now: datetime
) -> Person | None:
    """Cancel an appointment and its pending reminders."""
    await cancel_reminders(uow, appointment.id)
    appointment.status, appointment.updated_at = "cancelled", now
    await uow.audit.record(
        now, by.ref, "appointment.cancelled", f"C-{appointment.case_id}", appointment=appointment.id
    )
    return await patient_of(uow, appointment.case_id)


async def stop_patient(uow: UnitOfWork, patient: Person, now: datetime) -> int:
    """/stop: nothing more is sent; pending reminders are cancelled and the Telegram
    account is unbound, so the bot holds no way to reach them (a new invite can re-enrol)."""
    from services.erasure import unbind

    cancelled = await uow.appointments.cancel_reminders_to(patient.id)
    patient.status = PersonStatus.STOPPED
    await unbind(uow, patient, now)
    await uow.audit.record(
        now, patient.ref, "patient.stopped", f"C-{patient.case_id}", unbound=True
    )
    return cancelled


def followup_due(today: date, days: int, tz: ZoneInfo) -> datetime:
    """09:00 service time, `days` days from today, as UTC."""
    local = datetime.combine(today + timedelta(days=days), FOLLOWUP_AT, tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class DueReminder:
    """A reminder claimed for sending (or found too late)."""

    reminder: Reminder
    appointment: Appointment | None
    case: Case | None
    recipient: Person | None
    missed: bool


async def claim_due(uow: UnitOfWork, now: datetime, limit: int = 500) -> list[DueReminder]:
    """Take due reminders; each is marked in this transaction, so it is handled once.

    The caller writes the outbox rows in the same transaction: committed together, a
    reminder is either still pending or has its message queued, whatever dies when.
    """
    claimed: list[DueReminder] = []
    for reminder in await uow.appointments.due_reminders(now, limit):
        appointment = (
            await uow.appointments.get(reminder.appointment_id) if reminder.appointment_id else None
        )
        case = await uow.cases.get(reminder.case_id) if reminder.case_id else None
        recipient = await uow.people.get(reminder.recipient_id)
        missed = now - reminder.due_at >= LATE_LIMIT
        if missed:
            reminder.status = "missed"
            await uow.audit.record(now, "system", "reminder.missed", f"reminder:{reminder.id}")
        elif (
            recipient is None or recipient.status != PersonStatus.ACTIVE or not recipient.reachable
        ):
            reminder.status = "skipped"
        else:
            reminder.status, reminder.sent_at = "sent", now
            await uow.audit.record(now, "system", "reminder.sent", f"reminder:{reminder.id}")
        claimed.append(DueReminder(reminder, appointment, case, recipient, missed))
    return claimed


async def answer_reminder(
    uow: UnitOfWork, patient: Person, reminder_id: int, attending: bool, now: datetime
) -> Reminder | None:
    """Record the patient's answer to their own reminder."""
    reminder = await uow.appointments.reminder(reminder_id)
    if reminder is None or reminder.recipient_id != patient.id or reminder.kind != "appointment":
        return None
    reminder.response = "attending" if attending else "cannot_attend"
    await uow.audit.record(
        now, patient.ref, "reminder.answered", f"reminder:{reminder.id}", response=reminder.response
    )
    return reminder


async def note_attending(
    uow: UnitOfWork, patient: Person, reminder: Reminder, what: str, now: datetime
) -> None:
    """The patient said they will attend: a line in the case's thread."""
    uow.queries.add_message(reminder.case_id, patient.id, f"Patient will attend: {what}", now)


async def set_followup(
    uow: UnitOfWork, case: Case, by: Person, due: datetime, note: str, now: datetime
) -> Reminder:
    """A follow-up reminder to the case's named clinician at `due` (/followup)."""
    reminder = Reminder(
        kind="followup",
        case_id=case.id,
        recipient_id=case.named_clinician_id,
        due_at=due,
        status="pending",
        note=note,
        created_at=now,
    )
    uow.appointments.add_reminder(reminder)
    await uow.audit.record(now, by.ref, "followup.set", case.ref)
    return reminder

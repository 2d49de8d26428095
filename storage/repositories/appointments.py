"""Appointments, the reminders that go with them (appointment and follow-up), the
patient they are for, and the thread notes they leave (a patient's answer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update

from storage.models import (
    Appointment,
    Person,
    PersonStatus,
    Reminder,
    Role,
)
from storage.repositories._base import _Repository, rowcount


class AppointmentRepository(_Repository):
    """Appointments, their reminders, their patient and the thread notes they leave."""

    async def get(self, appointment_id: int) -> Appointment | None:
        return await self.session.get(Appointment, appointment_id)

    def add(self, appointment: Appointment) -> None:
        self.session.add(appointment)

    async def upcoming(self, case_id: int, now: datetime) -> Sequence[Appointment]:
        """A case's scheduled appointments after `now`, soonest first."""
        return (
            await self.session.scalars(
                select(Appointment)
                .where(
                    Appointment.case_id == case_id,
                    Appointment.status == "scheduled",
                    Appointment.starts_at > now,
                )
                .order_by(Appointment.starts_at)
            )
        ).all()

    async def patient_of(self, case_id: int) -> Person | None:
        """The enrolled (consenting, not stopped) patient of a case."""
        return await self.session.scalar(
            select(Person).where(
                Person.role == Role.PATIENT,
                Person.case_id == case_id,
                Person.status == PersonStatus.ACTIVE,
            )
        )

    # --- Reminders --------------------------------------------------------------------

    async def reminder(self, reminder_id: int) -> Reminder | None:
        return await self.session.get(Reminder, reminder_id)

    def add_reminder(self, reminder: Reminder) -> None:
        self.session.add(reminder)

    async def cancel_reminders_of_appointment(self, appointment_id: int) -> int:
        """Cancel an appointment's pending reminders; how many."""
        return await self._cancel_pending(Reminder.appointment_id == appointment_id)

    async def cancel_reminders_to(self, recipient_id: int) -> int:
        """Cancel every pending reminder to one person; how many."""
        return await self._cancel_pending(Reminder.recipient_id == recipient_id)

    async def _cancel_pending(self, which: ColumnElement[bool]) -> int:
        result = await self.session.execute(
            update(Reminder).where(which, Reminder.status == "pending").values(status="cancelled")
        )
        return rowcount(result)

    async def due_reminders(self, now: datetime, limit: int) -> Sequence[Reminder]:
        """Pending reminders due by `now`, oldest first; locked against other processes
        on PostgreSQL (SKIP LOCKED), so each is claimed once."""
        statement = (
            select(Reminder)
            .where(Reminder.status == "pending", Reminder.due_at <= now)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(limit)
        )
        if self._postgres():
            statement = statement.with_for_update(skip_locked=True)
        return (await self.session.scalars(statement)).all()

    # --- Thread notes -------------------------------------------------------------------

    # --- Retention and erasure -----------------------------------------------------

    async def clear_appointment_locations(self, case_ids: Sequence[int]) -> int:
        """Blank the locations of these cases' appointments; returns how many had one."""
        return rowcount(
            await self.session.execute(
                update(Appointment)
                .where(Appointment.case_id.in_(case_ids), Appointment.location_enc.is_not(None))
                .values(location_enc=None)
            )
        )

    async def clear_reminder_notes(self, case_ids: Sequence[int]) -> int:
        """Blank the follow-up notes of these cases' reminders; returns how many had one."""
        return rowcount(
            await self.session.execute(
                update(Reminder)
                .where(Reminder.case_id.in_(case_ids), Reminder.note_enc.is_not(None))
                .values(note_enc=None)
            )
        )

    async def pending_reminders_to(self, person_id: int) -> int:
        """How many reminders are still due to this person (`cancel_reminders_to`
        cancels them)."""
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Reminder)
                .where(Reminder.recipient_id == person_id, Reminder.status == "pending")
            )
            or 0
        )

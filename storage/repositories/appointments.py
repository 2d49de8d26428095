"""Appointments and the reminders that go with them."""

from __future__ import annotations

from storage.models import Appointment
from storage.repositories._base import _Repository


class AppointmentRepository(_Repository):
    """Appointments and the reminders that go with them."""

    async def get(self, appointment_id: int) -> Appointment | None:
        return await self.session.get(Appointment, appointment_id)

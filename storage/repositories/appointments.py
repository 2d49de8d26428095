"""Appointments and the reminders that go with them."""

from __future__ import annotations

from storage.repositories._base import _Repository


class AppointmentRepository(_Repository):
    """Appointments and the reminders that go with them."""

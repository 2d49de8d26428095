"""Every audit event the SPEC lists is written when the real bot does the thing, and no
entry carries personal data."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import select

from handlers.jobs import dispatch_reminders
from services.retention import purge
from storage.audit import verify_chain
from storage.crypto import Keyring
from storage.models import AuditEntry
from storage.rotation import record_rotation, rotate_keys
from storage.uow import Database
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import PATIENT, _book_one_stop
from tests.journeys.test_cases import JONES, NHS, _directory, _refer
from tests.journeys.test_registration import ADMIN_A, NAME, REFERRER, _summary, press, say

# The SPEC's list (Security: "Append-only audit log of every ..."), each with the
# action names that record it.
REQUIRED: dict[str, set[str]] = {
    "registration": {"registration.submitted"},
    "approval": {"registration.approved"},
    "allocation": {"case.created", "case.allocated"},
    "routed message": {"query.asked", "message.routed"},
    "view of a case": {"case.viewed"},
    "change of contact details": {"contact.changed"},
    "appointment": {"appointment.created", "appointment.moved", "appointment.cancelled"},
    "reminder": {"reminder.sent", "reminder.answered"},
    "consent": {"consent.given"},
    "erasure": {"patient.erased"},
    "key rotation": {"keys.rotated"},
    "retention": {"retention.purged", "case.closed"},
}


async def test_every_listed_audit_event_is_written(bot: Harness) -> None:
    h = bot
    h.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    await _directory(h)
    user, admin, jones = h.fake.user(REFERRER), h.fake.user(ADMIN_A), h.fake.user(JONES)
    # Registration and approval.
    await _summary(h, user)
    await press(h, user, "Confirm")
    await press(h, admin, "Approve")
    # Contact change.
    await say(h, user, "/contact")
    await press(h, user, "Mobile")
    await say(h, user, "07911 123459")
    # Case, allocation, routed query and reply, case view.
    await _refer(h, user)
    await say(h, user, "/ask C-1")
    await say(h, user, "Routed question")
    await h.handled(jones.reply_to(jones.last().message_id, "Routed answer"))
    await say(h, user, "/case C-1")
    # Consent, appointment (booked, moved, cancelled), reminders and the answer.
    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(h, jones, "/invite_patient C-1"))
    assert token
    patient = h.fake.user(PATIENT)
    await say(h, patient, f"/start {token.group(1)}")
    await press(h, patient, "I agree")
    await _book_one_stop(h)
    await say(h, jones, "/appointments C-1")
    await press(h, jones, "Move")
    await say(h, jones, "2026-12-10 14:30")
    await _book_one_stop(h)
    h.clock.set(datetime(2026, 12, 3, 14, 31, tzinfo=UTC))
    resources = h.runtime.resources  # type: ignore[union-attr]
    assert await dispatch_reminders(resources) >= 1
    await h.runtime.drained()  # type: ignore[union-attr]
    await press(h, patient, "I will attend")
    await say(h, jones, "/appointments C-1")
    await press(h, jones, "Cancel")
    # Erasure.
    await say(h, admin, "/erase_patient C-1")
    await press(h, admin, "Erase")
    # Resolve, close and purge.
    await h.handled(
        jones.press("Resolve", next(m for m in jones.messages() if "Q-1" in m.plain).message_id)
    )
    await say(h, jones, "/close C-1")
    await press(h, jones, "Close case")
    await purge(h.db, h.clock.now(), h.settings.retention)
    # Key rotation, on the same database with a new first key.
    new_keys = Keyring((secrets.token_bytes(32), *h.db.keyring.keys), h.db.keyring.index_key)
    await h.stop()
    rotated = Database(h.settings.DATABASE_URL, new_keys, **h.engine_kwargs)
    try:
        result = await rotate_keys(rotated)
        assert result.values_reencrypted > 0
        await record_rotation(rotated, result, h.clock.now(), "cli")
        async with rotated.uow() as uow:
            entries = (await uow._session.scalars(select(AuditEntry))).all()
            count, problem = await verify_chain(uow._session, new_keys)
    finally:
        await rotated.dispose()
    assert problem is None and count == len(entries)

    written = {e.action for e in entries}
    missing = {what: names - written for what, names in REQUIRED.items() if names - written}
    assert not missing, f"audit events not written: {missing}"
    # References and codes only: no names, numbers or texts in any entry.
    digits = NHS.replace(" ", "")
    for entry in entries:
        blob = f"{entry.actor} {entry.subject} {entry.details}"
        for secret in (NAME, "O'Brien", digits, "07911", "Routed question", "Left thigh"):
            assert secret not in blob, (entry.action, blob)

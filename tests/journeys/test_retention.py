"""Retention and erasure through the real Application: /close, the purge (bodies gone,
counts and audit chain intact, idempotent), /erase_patient and /stop."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from handlers.jobs import dispatch_reminders
from handlers.texts import ERASURE
from services.retention import purge
from storage.audit import verify_chain
from storage.models import (
    Appointment,
    AuditEntry,
    Base,
    Case,
    InboundUpdate,
    OutboxMessage,
    Person,
    PersonStatus,
    Query,
    Reminder,
    ThreadMessage,
)
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import PATIENT, _book_one_stop, _case_with_patient
from tests.journeys.test_cases import ADMIN_A, BONE_ONLY, JONES, PATEL, _refer
from tests.journeys.test_registration import REFERRER, press, say

EIGHT_YEARS = timedelta(days=2922)


async def _counts(h: Harness) -> dict[str, object]:
    """What a report counts: rows by status (the purge must not change any of it)."""
    async with h.db.uow() as uow:
        s = uow._session
        return {
            "cases": (
                await s.execute(select(Case.status, func.count()).group_by(Case.status))
            ).all(),
            "queries": (
                await s.execute(select(Query.status, func.count()).group_by(Query.status))
            ).all(),
            "thread": await s.scalar(select(func.count()).select_from(ThreadMessage)),
            "reminders": (
                await s.execute(select(Reminder.status, func.count()).group_by(Reminder.status))
            ).all(),
            "outbox": await s.scalar(select(func.count()).select_from(OutboxMessage)),
        }


async def _asked_and_resolved(h: Harness) -> None:
    user, jones = h.fake.user(REFERRER), h.fake.user(JONES)
    await say(h, user, "/ask C-1")
    await say(h, user, "Secret question about the left thigh")
    await h.handled(jones.reply_to(jones.last().message_id, "Secret answer: refer now"))
    await press(h, jones, "Resolve")


async def test_close_then_purge_removes_bodies_and_keeps_counts_and_audit(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    user, jones = bot.fake.user(REFERRER), bot.fake.user(JONES)
    await _refer(bot, user, nhs="943 476 5927")  # C-2 stays open: the purge leaves it alone
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Secret question about the left thigh")

    # /close: only the case's clinicians and admins; not while a query is open.
    assert "Only the service's clinicians" in await say(bot, user, "/close C-1")
    other_clinician = bot.fake.user(BONE_ONLY)  # a clinician, but not of this case
    assert "There is no case C-1" in await say(bot, other_clinician, "/close C-1")
    await say(bot, jones, "/close C-1")
    assert "unresolved queries (Q-1)" in await press(bot, jones, "Close case")
    question = [m for m in jones.messages() if "Secret question" in m.plain][-1]
    await bot.handled(jones.reply_to(question.message_id, "Secret answer: refer now"))
    await bot.handled(jones.press("Resolve", question.message_id))
    await say(bot, jones, "/close C-1")
    assert "C-1 is closed" in await press(bot, jones, "Close case")
    assert "has been closed" in user.last().plain
    assert "already closed" in await say(bot, jones, "/close C-1")

    closed = bot.clock.now()
    # Not yet: one day short of the retention period, nothing of the case goes.
    early = await purge(bot.db, bot.clock.now() + EIGHT_YEARS - timedelta(days=1), EIGHT_YEARS)
    assert early.cases == 0 and early.thread_messages == 0
    assert early.outbox_payloads > 0 and early.inbound_updates > 0  # old delivery copies
    resources = bot.runtime.resources  # type: ignore[union-attr]
    bot.clock.advance(timedelta(days=30))
    await dispatch_reminders(resources)  # long past: marked missed, as they would have been
    await bot.runtime.drained()  # type: ignore[union-attr]
    before = await _counts(bot)
    bot.clock.set(closed + EIGHT_YEARS + timedelta(days=1))
    result = await purge(bot.db, resources.clock.now(), bot.settings.retention)
    assert result is not None
    assert result.cases == 1 and result.thread_messages == 2 and result.patients == 1
    assert result.appointments == 1

    async with bot.db.uow() as uow:
        s = uow._session
        c1, c2 = await s.get(Case, 1), await s.get(Case, 2)
        assert c1 is not None and c2 is not None
        assert c1.purged_at is not None and c1.status == "closed"
        assert (c1.nhs_number, c1.date_of_birth, c1.site, c1.summary) == (None,) * 4
        assert c1.nhs_number_index is None
        assert c2.purged_at is None and c2.site == "Left thigh"  # open case untouched
        bodies = (
            await s.execute(
                select(ThreadMessage.case_id, ThreadMessage.body_enc, ThreadMessage.purged_at)
            )
        ).all()
        assert bodies and all(b is None and p is not None for c, b, p in bodies if c == 1)
        # Copies of texts kept only for delivery are gone (older than 30 days).
        assert not await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "sent", OutboxMessage.payload_enc.is_not(None))
        )
        assert await s.scalar(select(func.count()).select_from(InboundUpdate)) == 1
        patient = await s.scalar(select(Person).where(Person.case_id == 1))
        assert patient is not None and patient.telegram_user_id is None
        assert patient.status == PersonStatus.ERASED and patient.name is None
        assert await verify_chain(s, bot.db.keyring) == (
            await s.scalar(select(func.count()).select_from(AuditEntry)),
            None,
        )
        entry = await s.scalar(
            select(AuditEntry).where(AuditEntry.action == "retention.purged").limit(1).offset(1)
        )
        assert entry is not None and '"cases":1' in entry.details
        assert "Secret" not in entry.details
    after = await _counts(bot)
    assert after == before  # a report over cases, queries and reminders counts the same

    # What the referrer sees now: references and timestamps, no text.
    view = await say(bot, user, "/case C-1")
    assert "C-1" in view and "Q-1" in view and "retention period ended" in view
    assert "Secret" not in view and "943 476 5919" not in view and "Left thigh" not in view
    assert "Left thigh" in await say(bot, user, "/case C-2")

    again = await purge(bot.db, bot.clock.now(), EIGHT_YEARS)
    # Idempotent: nothing of the case is touched twice (only newer delivery copies go).
    assert (again.cases, again.thread_messages, again.patients, again.appointments) == (0,) * 4
    async with bot.db.uow() as uow:
        runs = await uow._session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "retention.purged")
        )
        assert runs == 3  # one entry per run, with counts
        count, problem = await verify_chain(uow._session, bot.db.keyring)
        assert problem is None and count > 0


async def test_a_case_with_an_open_query_is_never_purged(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _asked_and_resolved(bot)
    jones, user = bot.fake.user(JONES), bot.fake.user(REFERRER)
    await say(bot, jones, "/close C-1")
    await press(bot, jones, "Close case")
    # A question asked on the closed case keeps it whole until someone resolves it.
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Late question after closing")
    later = bot.clock.now() + EIGHT_YEARS + timedelta(days=30)
    assert (await purge(bot.db, later, EIGHT_YEARS)).cases == 0
    assert "Late question after closing" in await say(bot, user, "/case C-1")


async def test_erase_patient_removes_the_binding_and_keeps_the_case(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    admin, jones, patient = (bot.fake.user(t) for t in (ADMIN_A, JONES, PATIENT))
    assert "Only an administrator" in await say(bot, jones, "/erase_patient C-1")
    assert "Usage" in await say(bot, admin, "/erase_patient")
    assert "no case C-77" in await say(bot, admin, "/erase_patient C-77")
    assert "Erase the patient of C-1" in await say(bot, admin, "/erase_patient C-1")
    # The confirm button checks the role again: a copy pressed by someone else does nothing.
    await bot.handled(jones.press_data("er:y:1", jones.last().message_id))
    assert jones.callback_answers()[-1] == "Only an administrator can erase a patient's details."
    assert "Nothing was erased" in await press(bot, admin, "Keep")
    await say(bot, admin, "/erase_patient C-1")
    done = await press(bot, admin, "Erase")
    assert "no longer linked" in done and "2 pending reminder(s) cancelled" in done
    assert "removed the patient of case C-1" in jones.last().plain

    async with bot.db.uow() as uow:
        s = uow._session
        person = await s.scalar(select(Person).where(Person.case_id == 1))
        assert person is not None and person.telegram_user_id is None
        assert (person.name, person.phone, person.email) == (None, None, None)
        assert person.status == PersonStatus.ERASED
        assert not await s.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.status == "pending")
        )
        case = await s.get(Case, 1)
        assert case is not None and case.status == "open" and case.site == "Left thigh"
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.action == "patient.erased"))
        assert entry is not None and entry.subject == "C-1" and entry.actor.startswith("person:")
        assert (await verify_chain(s, bot.db.keyring))[1] is None

    # The Telegram user is now a stranger: no appointments, no case, a new-user greeting.
    assert "referring clinicians" in await say(bot, patient, "/start")
    assert "for patients receiving reminders" in await say(bot, patient, "/stop")
    assert "One-stop" not in await say(bot, patient, "/appointments")
    assert "There is no case C-1" in await say(bot, patient, "/case C-1")
    assert "nothing to erase" in await say(bot, admin, "/erase_patient C-1")
    # The clinical record is still whole for the clinicians.
    assert "Left thigh" in await say(bot, jones, "/case C-1")


async def test_stop_unbinds_and_a_new_invitation_can_enrol_again(bot: Harness) -> None:
    await _case_with_patient(bot)
    patient, jones = bot.fake.user(PATIENT), bot.fake.user(JONES)
    assert "nothing more" in await say(bot, patient, "/stop")
    async with bot.db.uow() as uow:
        person = await uow._session.scalar(select(Person).where(Person.case_id == 1))
        assert person is not None and person.telegram_user_id is None
        assert person.status == PersonStatus.STOPPED
    assert "referring clinicians" in await say(bot, patient, "/start")
    token = re.search(r"start=([A-Za-z0-9_-]+)", await say(bot, jones, "/invite_patient C-1"))
    assert token
    await say(bot, patient, f"/start {token.group(1)}")
    assert "You will receive appointment reminders" in await press(bot, patient, "I agree")


async def test_purge_leaves_recent_delivery_copies(bot: Harness) -> None:
    bot.clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    user = bot.fake.user(PATEL)
    await say(bot, user, "/help")
    result = await purge(bot.db, bot.clock.now() + timedelta(days=29), EIGHT_YEARS)
    assert result.outbox_payloads == 0 and result.inbound_updates == 0
    result = await purge(bot.db, bot.clock.now() + timedelta(days=31), EIGHT_YEARS)
    assert result.outbox_payloads >= 1


async def test_erasure_removes_exactly_what_privacy_says_and_keeps_the_health_record(
    bot: Harness,
) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    patient, admin, jones = (bot.fake.user(t) for t in (PATIENT, ADMIN_A, JONES))
    resources = bot.runtime.resources  # type: ignore[union-attr]
    # The patient answers both reminders, and leaves a "can't attend" reason half-typed.
    bot.clock.set(datetime(2026, 11, 29, 9, 0, 30, tzinfo=UTC))
    await dispatch_reminders(resources)
    await bot.runtime.drained()  # type: ignore[union-attr]
    await press(bot, patient, "I will attend")
    bot.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    await dispatch_reminders(resources)
    await bot.runtime.drained()  # type: ignore[union-attr]
    await press(bot, patient, "I can't attend")
    await say(bot, patient, "My car broke down")
    await press(bot, patient, "I can't attend")  # a conversation in progress
    # A later appointment: its reminders are pending.
    await say(bot, jones, "/appointment C-1")
    await press(bot, jones, "Oncology follow-up")
    await say(bot, jones, "2027-01-20 10:00")
    await press(bot, jones, "Oxford Cancer and Haematology Centre, Churchill Hospital")
    await press(bot, jones, "Confirm")
    privacy = " ".join((await say(bot, patient, "/privacy")).split())
    assert " ".join(ERASURE.split()) in privacy

    await say(bot, admin, "/erase_patient C-1")
    await press(bot, admin, "Erase")
    await bot.runtime.drained()  # type: ignore[union-attr]

    async with bot.db.uow() as uow:
        s = uow._session
        # "everything that links the bot to their Telegram account": no column of any
        # table holds the account number any more...
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if column.type.python_type is int:
                    found = await s.scalar(
                        select(func.count()).select_from(table).where(column == PATIENT)
                    )
                    assert not found, f"{table.name}.{column.name} still holds the account"
        assert not await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.actor.contains(str(PATIENT)) | AuditEntry.details.contains(str(PATIENT))
            )
        )
        # ...nor any stored copy of a message to or from them.
        for update in (await s.scalars(select(InboundUpdate))).all():
            assert str(PATIENT) not in (update.payload or "")
        person = await s.scalar(select(Person).where(Person.case_id == 1))
        assert person is not None and person.status == PersonStatus.ERASED
        assert (person.telegram_user_id, person.name, person.phone, person.email) == (None,) * 4
        copies = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_id == person.id))
        ).all()
        assert copies and all(c.payload is None for c in copies)  # rows stay, counted
        assert not await s.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.recipient_id == person.id, Reminder.status == "pending")
        )
        # "The health record is kept": the case, its thread with the patient's answers,
        # its appointments, and the audit trail naming the patient by reference only.
        case = await s.get(Case, 1)
        assert case is not None and case.purged_at is None
        assert (case.nhs_number, case.date_of_birth) == ("9434765919", "1970-05-04")
        assert case.site == "Left thigh" and case.summary and "Biopsy?" in case.summary
        thread = [m.body or "" for m in (await s.scalars(select(ThreadMessage))).all()]
        assert any("Patient will attend" in b for b in thread)
        assert any("My car broke down" in b for b in thread)
        appointments = (await s.scalars(select(Appointment))).all()
        assert len(appointments) == 2 and all(a.location for a in appointments)
        erased = await s.scalar(select(AuditEntry).where(AuditEntry.action == "patient.erased"))
        assert erased is not None and person.ref in erased.details
        assert (await verify_chain(s, bot.db.keyring))[1] is None

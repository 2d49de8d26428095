"""Patients, appointments and reminders through the real Application, with a
controllable clock."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from handlers.jobs import dispatch_reminders
from services import appointments as svc
from storage.crypto import Keyring
from storage.models import Reminder
from storage.uow import Database
from tests.journeys.conftest import Harness
from tests.journeys.test_cases import JONES, _directory, _refer, _referrer
from tests.journeys.test_registration import REFERRER, press, say

PATIENT = 9_300_001
OTHER_PATIENT = 9_300_002
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # Wednesday; next one-stop: Mon 30 Nov 09:00


async def _case_with_patient(h: Harness, patient_tg: int = PATIENT) -> None:
    h.clock.set(START)
    await _directory(h)
    await _referrer(h)
    await _refer(h, h.fake.user(REFERRER))
    jones = h.fake.user(JONES)
    reply = await say(h, jones, "/invite_patient C-1")
    token = re.search(r"start=([A-Za-z0-9_-]+)", reply)
    assert token, reply
    patient = h.fake.user(patient_tg)
    consent = await say(h, patient, f"/start {token.group(1)}")
    assert "What the bot sends you" in consent and "/stop" in consent
    assert "You will receive appointment reminders" in await press(h, patient, "I agree")
    assert "agreed to receive appointment reminders" in jones.last().plain
    again = h.fake.user(OTHER_PATIENT)
    assert "already been used" in await say(h, again, f"/start {token.group(1)}")


async def _book_one_stop(h: Harness, edit: bool = False) -> None:
    jones = h.fake.user(JONES)
    await say(h, jones, "/appointment C-1")
    await press(h, jones, "One-stop clinic")
    await press(h, jones, "Next one-stop clinic: 2026-11-30 09:00")
    await press(h, jones, "Nuffield Orthopaedic Centre, Oxford")
    summary = jones.last().plain
    assert "Monday 30 November 2026 at 09:00" in summary
    if edit:
        await press(h, jones, "Edit")
        await press(h, jones, "Location")
        assert "Lecture theatre, NOC" in await say(h, jones, "Lecture theatre, NOC")
        await press(h, jones, "Edit")
        await press(h, jones, "Date and time")
        await say(h, jones, "2026-11-01 09:00")
        assert "That time has passed" in jones.texts()[-2]
        assert "Tuesday 01 December 2026 at 10:15" in await say(h, jones, "2026-12-01 10:15")
        await press(h, jones, "Edit")
        await press(h, jones, "Location")
        await press(h, jones, "Nuffield Orthopaedic Centre, Oxford")
        await press(h, jones, "Edit")
        await press(h, jones, "Date and time")
        await press(h, jones, "Next one-stop clinic: 2026-11-30 09:00")
    assert "Booked" in await press(h, jones, "Confirm")


async def _due(h: Harness) -> list[datetime]:
    async with h.db.uow() as uow:
        rows = (
            await uow._session.scalars(
                select(Reminder).where(Reminder.status == "pending").order_by(Reminder.due_at)
            )
        ).all()
    return [r.due_at for r in rows]


async def test_enrol_book_remind_and_answer(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    await bot.runtime.drained()  # type: ignore[union-attr]
    patient = bot.fake.user(PATIENT)
    ics = patient.messages()[-1]
    assert ics.document is not None and b"BEGIN:VCALENDAR" in ics.document.content
    assert bot.fake.user(REFERRER).messages()[-1].document is not None
    # 7 days before is already past; 1 day before (Sun 09:00) and 2 hours before (07:00,
    # inside quiet hours 21:00-08:00, so moved to 08:00).
    assert await _due(bot) == [
        datetime(2026, 11, 29, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
    ]
    resources = bot.runtime.resources  # type: ignore[union-attr]
    assert await dispatch_reminders(resources) == 0
    bot.clock.set(datetime(2026, 11, 29, 9, 0, 30, tzinfo=UTC))
    assert await dispatch_reminders(resources) == 1
    assert await dispatch_reminders(resources) == 0  # never twice
    await bot.runtime.drained()  # type: ignore[union-attr]
    reminder = patient.last()
    assert (
        "One-stop clinic" in reminder.plain and "Monday 30 November 2026 at 09:00" in reminder.plain
    )
    assert patient.buttons() == ["I will attend", "I can't attend"]
    assert "noted that you will attend" in await press(bot, patient, "I will attend")
    bot.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    assert await dispatch_reminders(resources) == 1
    await bot.runtime.drained()  # type: ignore[union-attr]
    await press(bot, patient, "I can't attend")
    await say(bot, patient, "My car broke down & the bus <is> cancelled")
    jones = bot.fake.user(JONES)
    assert (
        "Patient cannot attend" in jones.last().plain
        and "the bus <is> cancelled" in jones.last().plain
    )
    view = await say(bot, bot.fake.user(REFERRER), "/case C-1")
    assert "Patient will attend" in view and "Patient cannot attend" in view
    # The patient sees only their own appointments, and no case.
    mine = await say(bot, patient, "/appointments")
    assert "One-stop clinic" in mine and "01865 738000" in mine
    assert "There is no case C-1" in await say(bot, patient, "/case C-1")
    # Someone else pressing a copy of the patient's reminder button learns nothing.
    other = bot.fake.user(OTHER_PATIENT)
    await say(bot, other, "/start")
    await bot.handled(other.press_data("rm:y:1", other.last().message_id))
    assert other.callback_answers()[-1] == "That reminder is not yours."
    assert "One-stop" not in await say(bot, other, "/appointments")


async def test_move_cancel_and_stop(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot, edit=True)
    jones = bot.fake.user(JONES)
    await say(bot, jones, "/appointments C-1")
    await press(bot, jones, "Move")
    await say(bot, jones, "2026-12-10 14:30")
    assert "Moved" in jones.texts()[-1] or "Moved" in jones.texts()[-2]
    assert await _due(bot) == [
        datetime(2026, 12, 3, 14, 30, tzinfo=UTC),
        datetime(2026, 12, 9, 14, 30, tzinfo=UTC),
        datetime(2026, 12, 10, 12, 30, tzinfo=UTC),
    ]
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "Appointment moved" in bot.fake.user(PATIENT).messages()[-1].plain
    await say(bot, jones, "/appointments C-1")
    await press(bot, jones, "Cancel")
    assert await _due(bot) == []
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert b"STATUS:CANCELLED" in bot.fake.user(PATIENT).messages()[-1].document.content  # type: ignore[union-attr]

    await _book_one_stop(bot)
    patient = bot.fake.user(PATIENT)
    assert "nothing more" in await say(bot, patient, "/stop")
    assert "sent /stop" in jones.last().plain
    assert await _due(bot) == []
    bot.clock.set(datetime(2026, 11, 30, 8, 30, tzinfo=UTC))
    before = len(patient.messages())
    await dispatch_reminders(bot.runtime.resources)  # type: ignore[union-attr]
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(patient.messages()) == before


async def test_late_reminders_after_downtime(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    await bot.stop()
    bot.clock.set(datetime(2026, 11, 29, 14, 59, tzinfo=UTC))  # 5h59m late: still sent
    await bot.start()
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "Appointment reminder" in bot.fake.user(PATIENT).last().plain
    await bot.stop()
    bot.clock.set(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # the 08:00 one: 6h late
    await bot.start()
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "marked missed" in bot.fake.user(JONES).last().plain
    async with bot.db.uow() as uow:
        statuses = (await uow._session.scalars(select(Reminder.status).order_by(Reminder.id))).all()
    assert statuses == ["sent", "missed"]


async def test_two_dispatchers_send_each_of_1000_reminders_once(
    database_url: dict, keyring: Keyring
) -> None:
    if not database_url["url"].startswith("postgresql"):
        pytest.skip("SQLite is single-process by design")
    dbs = [
        Database(database_url["url"], keyring, **database_url["engine_kwargs"]) for _ in range(2)
    ]
    await dbs[0].migrate()
    now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    async with dbs[0].uow() as uow:
        from storage.models import Person, Role

        patient = Person(role=Role.PATIENT, name="p", telegram_user_id=1, created_at=now)
        uow.people.add(patient)
        await uow.flush()
        for n in range(1000):
            uow._session.add(
                Reminder(
                    kind="followup",
                    recipient_id=patient.id,
                    status="pending",
                    due_at=now - timedelta(minutes=n % 60),
                    created_at=now,
                )
            )
        await uow.commit()

    async def worker(db: Database) -> int:
        handled = 0
        while True:
            async with db.uow() as uow:
                claimed = await svc.claim_due(uow, now, limit=50)
                await uow.commit()
            if not claimed:
                return handled
            handled += len(claimed)

    counts = await asyncio.gather(*(worker(db) for db in dbs))
    assert sum(counts) == 1000, counts  # claimed once each, across both
    async with dbs[0].uow() as uow:
        sent = await uow._session.scalar(
            select(func.count()).select_from(Reminder).where(Reminder.status == "sent")
        )
    assert sent == 1000
    for db in dbs:
        await db.dispose()


async def test_reminder_claimed_before_a_crash_is_sent_after_restart(bot: Harness) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    await bot.runtime.drained()  # type: ignore[union-attr]
    await bot.runtime.dispatcher.stop()  # type: ignore[union-attr]  # the sender dies first
    bot.clock.set(datetime(2026, 11, 29, 9, 1, tzinfo=UTC))
    assert await dispatch_reminders(bot.runtime.resources) == 1  # type: ignore[union-attr]
    patient = bot.fake.user(PATIENT)
    assert "Appointment reminder" not in patient.last().plain
    await bot.restart()
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert sum("Appointment reminder" in t for t in patient.texts()) == 1


async def test_blocked_patient_gets_nothing_more_and_the_clinician_is_told_once(
    bot: Harness,
) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    await bot.runtime.drained()  # type: ignore[union-attr]
    bot.fake.block(PATIENT)
    resources = bot.runtime.resources  # type: ignore[union-attr]
    bot.clock.set(datetime(2026, 11, 29, 9, 1, tzinfo=UTC))
    await dispatch_reminders(resources)
    await bot.runtime.drained()  # type: ignore[union-attr]
    bot.clock.set(datetime(2026, 11, 30, 8, 1, tzinfo=UTC))
    await dispatch_reminders(resources)
    await bot.runtime.drained()  # type: ignore[union-attr]
    notices = [t for t in bot.fake.user(JONES).texts() if "cannot be reached" in t]
    assert len(notices) == 1
    calls = [
        c
        for c in bot.fake.calls_to("sendMessage") + bot.fake.calls_to("sendDocument")
        if str(c.params.get("chat_id")) == str(PATIENT) and c.status == 403
    ]
    assert len(calls) == 1


async def test_followup_reminds_the_named_clinician_at_nine(bot: Harness) -> None:
    await _case_with_patient(bot)
    jones = bot.fake.user(JONES)
    assert "Usage" in await say(bot, jones, "/followup C-1 soon")
    too_long = await say(bot, jones, "/followup C-1 3 " + "x" * 1001)
    assert "limit is 1000" in too_long and "Nothing was set" in too_long
    set_ = await say(bot, jones, "/followup C-1 3 check the MRI & <biopsy> result")
    assert "Saturday 28 November 2026 09:00" in set_
    resources = bot.runtime.resources  # type: ignore[union-attr]
    bot.clock.set(datetime(2026, 11, 28, 8, 59, tzinfo=UTC))
    assert await dispatch_reminders(resources) == 0
    bot.clock.set(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    assert await dispatch_reminders(resources) == 1
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "check the MRI & <biopsy> result" in jones.last().plain
    assert "Only the named clinician" in await say(
        bot, bot.fake.user(REFERRER), "/followup C-1 3 nope"
    )

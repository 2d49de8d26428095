"""Authorisation is checked again on every step that writes, through the real
Application: someone suspended, or taken off the case, half-way through a conversation
or holding an earlier button, cannot finish what they began."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from storage.models import Appointment, Case, PersonStatus, Query, ThreadMessage
from tests.journeys.conftest import Harness
from tests.journeys.test_appointments import PATIENT, _book_one_stop, _case_with_patient
from tests.journeys.test_cases import JONES, PATEL, _directory, _refer, _referrer
from tests.journeys.test_registration import (
    ADMIN_A,
    ADMIN_B,
    REFERRER,
    _setup,
    _summary,
    press,
    say,
)

NO_LONGER = "You can no longer do this"
BOOKED_AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _set_status(h: Harness, tg: int, status: PersonStatus) -> None:
    """What an admin or a directory change does between two updates of the user."""
    async with h.db.uow() as uow:
        person = await uow.people.by_telegram_id(tg)
        assert person is not None
        person.status = status
        await uow.commit()


async def _appointment_time(h: Harness) -> datetime:
    async with h.db.uow() as uow:
        appointment = await uow._session.get(Appointment, 1)
        assert appointment is not None
        return appointment.starts_at


async def test_an_admin_suspended_while_typing_a_rejection_reason_rejects_nothing(
    bot: Harness,
) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    admin = bot.fake.user(ADMIN_A)
    assert "Type the reason" in await press(bot, admin, "Reject")
    await _set_status(bot, ADMIN_A, PersonStatus.SUSPENDED)
    refused = await say(bot, admin, "Not known to the service")
    assert NO_LONGER in refused
    assert "not approved" not in user.last().plain
    async with bot.db.uow() as uow:
        referrer = await uow.people.by_telegram_id(REFERRER)
        assert referrer is not None and referrer.status == PersonStatus.PENDING
    # The conversation is over: the next text is not taken as a reason either.
    await say(bot, admin, "Not known to the service")
    assert "not approved" not in user.last().plain
    # Another (active) admin can still decide.
    await press(bot, bot.fake.user(ADMIN_B), "Approve")
    assert "approved" in user.last().plain


async def test_a_clinician_taken_off_the_case_while_moving_an_appointment_moves_nothing(
    bot: Harness,
) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    jones, admin, patient = (bot.fake.user(t) for t in (JONES, ADMIN_A, PATIENT))
    await say(bot, jones, "/appointments C-1")
    await press(bot, jones, "Move")
    assert "Dr Bea Bone" in await say(bot, admin, "/allocate C-1 dr-patel dr-bone")
    before = len(patient.messages())
    assert NO_LONGER in await say(bot, jones, "2026-12-10 14:30")
    assert await _appointment_time(bot) == BOOKED_AT
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(patient.messages()) == before  # no "Appointment moved"


async def test_a_clinician_suspended_while_moving_or_holding_buttons_changes_nothing(
    bot: Harness,
) -> None:
    await _case_with_patient(bot)
    await _book_one_stop(bot)
    jones = bot.fake.user(JONES)
    await say(bot, jones, "/appointments C-1")
    listed = jones.last().message_id
    await press(bot, jones, "Move")
    await say(bot, jones, "/close C-1")
    close = jones.last().message_id
    await _set_status(bot, JONES, PersonStatus.SUSPENDED)
    # The typed step of a conversation begun before the suspension...
    await bot.handled(jones.send_text("2026-12-10 14:30"))
    assert await _appointment_time(bot) == BOOKED_AT
    # ...and buttons sent before it.
    await bot.handled(jones.press("Cancel", listed))
    assert jones.callback_answers()[-1] == "That appointment is not one you can change."
    await bot.handled(jones.press("Close case", close))
    assert jones.callback_answers()[-1] == "That case is not one you can close."
    async with bot.db.uow() as uow:
        appointment = await uow._session.get(Appointment, 1)
        case = await uow._session.get(Case, 1)
        assert appointment is not None and appointment.status == "scheduled"
        assert case is not None and case.status == "open"


async def test_suspended_people_cannot_answer_or_reply_on_a_query(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user, jones = bot.fake.user(REFERRER), bot.fake.user(JONES)
    await _refer(bot, user)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Should we biopsy?")
    question = jones.last()
    await bot.handled(jones.reply_to(question.message_id, "No: refer first."))
    answer = user.last()
    assert "No: refer first." in answer.plain

    # A clinician suspended between pressing Reply and typing the answer.
    await press(bot, jones, "Reply")
    await _set_status(bot, JONES, PersonStatus.SUSPENDED)
    assert NO_LONGER in await say(bot, jones, "Actually, biopsy is fine.")
    # ...or answering by Telegram reply to the routed question.
    await bot.handled(jones.reply_to(question.message_id, "Actually, biopsy is fine."))
    assert "biopsy is fine" not in user.last().plain

    # A suspended referrer's Telegram reply to an answer is not relayed either.
    await _set_status(bot, REFERRER, PersonStatus.SUSPENDED)
    patel_before = len(bot.fake.user(PATEL).messages())
    await bot.handled(user.reply_to(answer.message_id, "Thanks, one more thing"))
    assert "There is no case C-1" in user.last().plain
    async with bot.db.uow() as uow:
        bodies = (await uow._session.scalars(select(ThreadMessage))).all()
        assert [m.body for m in bodies] == ["Should we biopsy?", "No: refer first."]
        query = await uow._session.get(Query, 1)
        assert query is not None and query.status == "acknowledged"
    assert len(bot.fake.user(PATEL).messages()) == patel_before


async def test_every_conversation_says_who_may_go_on(bot: Harness) -> None:
    """A conversation added later without a check of who may continue it fails here."""
    conversations = bot.runtime.resources.conversations  # type: ignore[union-attr]
    assert len(conversations) >= 8
    unguarded = [name for name, c in conversations.items() if c.allowed is None]
    assert unguarded == []

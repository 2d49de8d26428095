"""Referrer registration, approval, /contact and /referrer through the real Application."""

from __future__ import annotations

from datetime import timedelta

from handlers.jobs import expire_conversations
from storage.models import Centre, Person, PersonStatus, Role
from tests.fakes import FakeUser
from tests.journeys.conftest import Harness

ADMIN_A, ADMIN_B, REFERRER = 9_000_001, 9_000_002, 9_000_100
NAME = "Dr Seán O'Brien & <Partner>"
GOOD = {
    "full_name": NAME,
    "job_title": "Consultant Orthopaedic Surgeon",
    "phone": "0118 322 5111",
    "mobile": "07911 123456",
    "secretary": "0118 322 5112",
    "email": "Sean.OBrien@NHS.net",
    "fax": "none",
}
QUESTIONS = {
    "full_name": "Registration 1/8",
    "job_title": "Registration 2/8",
    "centre": "Registration 3/8",
    "phone": "Registration 4/8",
    "mobile": "Registration 5/8",
    "secretary": "Registration 6/8",
    "email": "Registration 7/8",
    "fax": "Registration 8/8",
}


async def _setup(h: Harness) -> None:
    async with h.db.uow() as uow:
        uow.centres.add(Centre(id="rbh", name="Royal Berkshire Hospital", created_at=h.clock.now()))
        uow.centres.add(Centre(id="gwh", name="Great Western Hospital", created_at=h.clock.now()))
        for tg, name in [(ADMIN_A, "Sam Lee"), (ADMIN_B, "Priya Shah")]:
            uow.people.add(
                Person(role=Role.ADMIN, name=name, telegram_user_id=tg, created_at=h.clock.now())
            )
        await uow.commit()


async def say(h: Harness, user: FakeUser, text: str) -> str:
    await h.handled(user.send_text(text))
    return user.last().plain


async def press(h: Harness, user: FakeUser, label: str) -> str:
    await h.handled(user.press(label))
    return user.last().plain


async def _answer_up_to(h: Harness, user: FakeUser, last: str, answers: dict[str, str]) -> None:
    await say(h, user, "/register")
    for field in QUESTIONS:
        if field == "centre":
            await press(h, user, "Royal Berkshire Hospital")
        else:
            await say(h, user, answers[field])
        if field == last:
            return


async def _summary(h: Harness, user: FakeUser, answers: dict[str, str] = GOOD) -> str:
    await _answer_up_to(h, user, "fax", answers)
    return user.last().plain


async def _referrer(h: Harness) -> Person:
    async with h.db.uow() as uow:
        person = await uow.people.by_telegram_id(REFERRER)
        assert person is not None
        return person


async def test_full_registration_keeps_every_detail_intact(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    summary = await _summary(bot, user)
    assert NAME in summary and "Royal Berkshire Hospital" in summary
    assert "0118 322 5111" in summary and "07911 123456" in summary
    assert "sean.obrien@nhs.net" in summary.lower() and "Fax: none" in summary
    assert "asks every referrer" in summary  # fax is missing: the warning
    assert user.buttons() == ["Confirm", "Edit", "Cancel"]

    assert "sent to the service's administrators" in await press(bot, user, "Confirm")
    for admin_tg in (ADMIN_A, ADMIN_B):
        admin = bot.fake.user(admin_tg)
        card = admin.last()
        assert NAME in card.plain and "Consultant Orthopaedic Surgeon" in card.plain
        assert admin.buttons() == ["Approve", "Reject"]

    async with bot.db.uow() as uow:
        person = await uow.people.by_telegram_id(REFERRER)
        assert person is not None and person.name == NAME
        assert person.status == PersonStatus.PENDING and person.centre_id == "rbh"
        assert person.phone == "+441183225111" and person.email == "Sean.OBrien@nhs.net"
        details = await uow.people.referrer_details(person.id)
        assert details is not None
        assert (details.mobile, details.secretary_phone, details.fax) == (
            "+447911123456",
            "+441183225112",
            None,
        )
        assert [p.id for p in await uow.people.by_phone("0118 322 5111")] == [person.id]


async def _rejects(
    h: Harness,
    user: FakeUser,
    answer: str | None,
    problem: str,
    question: str,
    media: str | None = None,
) -> None:
    if media == "sticker":
        await h.handled(user.send_sticker())
    elif media == "photo":
        await h.handled(user.send_photo())
    else:
        assert answer is not None
        await h.handled(user.send_text(answer))
    error, again = user.texts()[-2:]
    assert problem in error, error
    assert question in again, again


async def test_each_invalid_answer_gets_its_message_and_the_same_question(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await say(bot, user, "/register")
    q = QUESTIONS["full_name"]
    await _rejects(bot, user, "x" * 5000, "at most 120", q)
    await _rejects(bot, user, None, "Please type your full name", q, media="sticker")
    await _rejects(bot, user, None, "Please type your full name", q, media="photo")
    await say(bot, user, "محمد الأحمد")  # any script
    await _rejects(bot, user, None, "job title", QUESTIONS["job_title"], media="photo")
    await say(bot, user, "Registrar")
    await _rejects(bot, user, "Royal Berkshire", "choose one of the buttons", QUESTIONS["centre"])
    await press(bot, user, "Other")
    await say(bot, user, "Frimley Park Hospital")
    q = QUESTIONS["phone"]
    await _rejects(bot, user, "12345", "not a valid phone number", q)
    await _rejects(bot, user, "hello", "not a phone number", q)
    await _rejects(bot, user, "none", "required", q)
    await say(bot, user, "+33 1 42 68 53 00")  # international numbers are fine
    q = QUESTIONS["mobile"]
    await _rejects(bot, user, "01865 738000", "not a mobile number", q)
    await _rejects(bot, user, "none", "required", q)
    await _rejects(bot, user, None, "mobile", q, media="sticker")
    await say(bot, user, "07911 123456")
    await _rejects(bot, user, "0118", "not a valid phone number", QUESTIONS["secretary"])
    await say(bot, user, "none")
    q = QUESTIONS["email"]
    await _rejects(bot, user, "not-an-email", "not a valid email", q)
    await _rejects(bot, user, "none", "required", q)
    await say(bot, user, "registrar@frimley.nhs.uk")
    await _rejects(bot, user, "fax me", "not a phone number", QUESTIONS["fax"])
    summary = await say(bot, user, "none")
    assert "محمد الأحمد" in summary and "Frimley Park Hospital" in summary
    assert "+33 1 42 68 53 00" in summary and "Secretary: none" in summary


async def test_edit_every_field_from_the_summary(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    changes = {
        "Full name": "Dr Aoife Ní Bhriain",
        "Job title": "Specialty Doctor",
        "Phone": "01865 738000",
        "Mobile": "07911 123457",
        "Secretary": "none",
        "Email": "aoife@nhs.net",
        "Fax": "0118 322 5999",
    }
    for label, value in changes.items():
        await press(bot, user, "Edit")
        await press(bot, user, label)
        summary = await say(bot, user, value)
        assert "Please check your details" in summary
    await press(bot, user, "Edit")
    await press(bot, user, "Centre")
    await press(bot, user, "Great Western Hospital")
    summary = user.last().plain
    assert "Great Western Hospital" in summary and "Dr Aoife Ní Bhriain" in summary
    assert "07911 123457" in summary and "Fax: 0118 322 5999" in summary
    await press(bot, user, "Edit")
    summary = await press(bot, user, "Back to summary")
    assert "Specialty Doctor" in summary
    await press(bot, user, "Confirm")
    person = await _referrer(bot)
    async with bot.db.uow() as uow:
        details = await uow.people.referrer_details(person.id)
        assert details is not None
        assert (person.name, person.centre_id, person.email) == (
            "Dr Aoife Ní Bhriain",
            "gwh",
            "aoife@nhs.net",
        )
        assert (details.job_title, details.mobile, details.secretary_phone, details.fax) == (
            "Specialty Doctor",
            "+447911123457",
            None,
            "+441183225999",
        )


async def test_cancel_from_the_summary_and_midway_saves_nothing(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    assert await press(bot, user, "Cancel") == "Cancelled. Nothing was saved."
    await _answer_up_to(bot, user, "mobile", GOOD)
    assert await say(bot, user, "/cancel") == "Cancelled. Nothing was saved."
    assert await say(bot, user, "0118 322 5112") == (
        "I did not understand that. /help lists what you can do."
    )
    async with bot.db.uow() as uow:
        assert await uow.people.by_telegram_id(REFERRER) is None
    assert not bot.fake.user(ADMIN_A).messages()


async def test_idle_timeout_running_and_while_stopped(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _answer_up_to(bot, user, "job_title", GOOD)
    bot.clock.advance(timedelta(minutes=29))
    assert await expire_conversations(bot.runtime.resources) == 0  # type: ignore[union-attr]
    bot.clock.advance(timedelta(minutes=2))
    assert await expire_conversations(bot.runtime.resources) == 1  # type: ignore[union-attr]
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "closed after 30 minutes" in user.last().plain

    await _answer_up_to(bot, user, "phone", GOOD)
    await bot.stop()
    bot.clock.advance(timedelta(hours=3))
    await bot.start()
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "closed after 30 minutes" in user.last().plain
    assert "did not understand" in await say(bot, user, "07911 123456")


async def test_restart_after_the_fourth_answer_resumes_at_the_fifth(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _answer_up_to(bot, user, "phone", GOOD)
    assert QUESTIONS["mobile"] in user.last().plain
    await bot.restart()
    assert QUESTIONS["secretary"] in await say(bot, user, GOOD["mobile"])
    await say(bot, user, GOOD["secretary"])
    await say(bot, user, GOOD["email"])
    summary = await say(bot, user, GOOD["fax"])
    assert NAME in summary and "0118 322 5111" in summary and "Royal Berkshire" in summary


async def test_approval_and_commands_before_and_after(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    assert "awaiting approval" in await say(bot, user, "/contact")
    assert "awaiting approval" in await say(bot, user, "/register")

    admin_a, admin_b = bot.fake.user(ADMIN_A), bot.fake.user(ADMIN_B)
    assert "You approved" in await press(bot, admin_a, "Approve")
    assert "approved" in user.last().plain and "/contact" in user.last().plain
    # The second admin's card was already decided: told who, nothing happens twice.
    await press(bot, admin_b, "Approve")
    assert admin_b.callback_answers()[-1] == "Already approved by Sam Lee."
    assert sum("has been approved" in t for t in user.texts()) == 1

    card = await say(bot, user, "/contact")
    assert "Your contact details" in card and NAME in card
    assert "Mobile" in user.buttons()
    async with bot.db.uow() as uow:
        from sqlalchemy import select

        from storage.models import AuditEntry

        actions = (await uow._session.scalars(select(AuditEntry.action))).all()
    assert actions.count("registration.approved") == 1


async def test_rejection_with_a_reason_and_a_race_between_admins(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    admin_a, admin_b = bot.fake.user(ADMIN_A), bot.fake.user(ADMIN_B)
    assert "Why is referrer" in await press(bot, admin_a, "Reject")
    # Meanwhile the other admin approves.
    assert "You approved" in await press(bot, admin_b, "Approve")
    assert "Already approved by Priya Shah" in await say(bot, admin_a, "Not a clinician")
    assert not any("not approved" in t for t in user.texts())
    assert (await _referrer(bot)).status == PersonStatus.ACTIVE


async def test_rejected_referrer_receives_the_reason_exactly(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    admin = bot.fake.user(ADMIN_A)
    await press(bot, admin, "Reject")
    reason = "Please register with your <NHS> email & direct line"
    assert "You rejected" in await say(bot, admin, reason)
    assert user.last().plain.endswith(f"Reason: {reason}")
    assert "not approved" in await say(bot, user, "/contact")
    await press(bot, bot.fake.user(ADMIN_B), "Approve")
    assert bot.fake.user(ADMIN_B).callback_answers()[-1] == "Already rejected by Sam Lee."


async def _approved(h: Harness) -> FakeUser:
    await _setup(h)
    user = h.fake.user(REFERRER)
    await _summary(h, user)
    await press(h, user, "Confirm")
    await press(h, h.fake.user(ADMIN_A), "Approve")
    return user


async def test_contact_change_is_validated_saved_audited_and_seen_by_admins(bot: Harness) -> None:
    user = await _approved(bot)
    await say(bot, user, "/contact")
    assert QUESTIONS["mobile"] in await press(bot, user, "Mobile")
    await _rejects(bot, user, "01865 738000", "not a mobile number", QUESTIONS["mobile"])
    await say(bot, user, "07911 123458")
    changed, card = user.texts()[-2:]
    assert "Saved" in changed and "07911 123458" in card
    await say(bot, user, "/contact")
    await press(bot, user, "Fax")
    await say(bot, user, "0118 322 5999")
    person = await _referrer(bot)
    view = await say(bot, bot.fake.user(ADMIN_A), f"/referrer {person.id}")
    assert "07911 123458" in view and "0118 322 5999" in view and "approved" in view
    async with bot.db.uow() as uow:
        from sqlalchemy import select

        from storage.models import AuditEntry

        rows = (
            await uow._session.scalars(
                select(AuditEntry).where(AuditEntry.action == "contact.changed")
            )
        ).all()
    assert [r.details for r in rows] == ['{"field":"mobile"}', '{"field":"fax"}']
    assert all("07911 123458" not in r.details for r in rows)


async def test_admin_suspends_and_reinstates_a_referrer(bot: Harness) -> None:
    user = await _approved(bot)
    person = await _referrer(bot)
    admin = bot.fake.user(ADMIN_A)
    assert "You approved" in admin.texts()[-1]
    await say(bot, admin, f"/referrer {person.id}")
    assert "Suspended" in (await press(bot, admin, "Suspend")).replace("suspended", "Suspended")
    assert "suspended" in user.last().plain
    assert "suspended" in await say(bot, user, "/contact")
    await say(bot, admin, f"/referrer {person.id}")
    await press(bot, admin, "Reinstate")
    assert "Your contact details" in await say(bot, user, "/contact")
    assert "There is no referrer 999" in await say(bot, admin, "/referrer 999")
    assert "Usage" in await say(bot, admin, "/referrer someone")
    assert "for administrators" in await say(bot, user, f"/referrer {person.id}")


async def test_buttons_of_others_are_refused(bot: Harness) -> None:
    await _setup(bot)
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    person = await _referrer(bot)
    intruder = bot.fake.user(9_000_999)
    await say(bot, intruder, "/start")
    await bot.handled(intruder.press_data(f"reg:a:{person.id}", intruder.last().message_id))
    assert intruder.callback_answers()[-1] == "This command is for administrators of the service."
    assert (await _referrer(bot)).status == PersonStatus.PENDING

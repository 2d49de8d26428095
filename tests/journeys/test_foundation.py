"""Foundation journeys through the real Application and the HTTP Bot API fake:
/start and invitations, groups, help and menus, conversations that survive restarts."""

from __future__ import annotations

from datetime import timedelta

from telegram.ext import CommandHandler

from handlers.base import END, Conversation, Turn, run_turn
from services.invites import create_staff_invite
from storage.models import Person, Role
from tests.journeys.conftest import Harness

ADMIN_TG = 5_000_001
CLINICIAN_TG = 5_000_002
STRANGER_TG = 5_000_003


async def _directory(h: Harness) -> dict[str, int]:
    async with h.db.uow() as uow:
        ids = {}
        for directory_id, role, name in [
            ("coord-sam", Role.ADMIN, "Sam O'Neil & <Co>"),
            ("dr-jones", Role.CLINICIAN, "Dr Alice Jones"),
        ]:
            person = Person(
                directory_id=directory_id, role=role, name=name, created_at=h.clock.now()
            )
            uow.people.add(person)
            await uow.flush()
            ids[directory_id] = person.id
        await uow.commit()
    return ids


async def _invite(h: Harness, role: str, directory_id: str) -> str:
    async with h.db.uow() as uow:
        token = await create_staff_invite(uow, role, directory_id, h.clock.now())
        await uow.commit()
    return token


async def test_start_explains_the_bot_to_a_new_user(bot: Harness) -> None:
    user = bot.fake.user(STRANGER_TG, first_name="Pat")
    await bot.handled(user.send_text("/start"))
    text = user.last().plain
    assert "referring clinicians" in text and "/register" in text and "/privacy" in text


async def test_invite_binds_the_account_and_greets_by_role(bot: Harness) -> None:
    await _directory(bot)
    token = await _invite(bot, "admin", "coord-sam")
    admin = bot.fake.user(ADMIN_TG, first_name="Sam", username="samlee")
    await bot.handled(admin.send_text(f"/start {token}"))
    assert "Sam O'Neil & <Co>" in admin.last().plain  # escaped on the wire, intact on screen
    assert "administrator" in admin.last().plain
    async with bot.db.uow() as uow:
        person = await uow.people.by_telegram_id(ADMIN_TG)
        assert person is not None and person.directory_id == "coord-sam"
    # Identity is the numeric id: a changed @username changes nothing.
    renamed = bot.fake.user(ADMIN_TG, first_name="Sam", username="someone_else")
    await bot.handled(renamed.send_text("/start"))
    assert "Welcome back" in renamed.last().plain and "administrator" in renamed.last().plain
    # The role's command menu was set for this chat.
    await bot.fake.wait_for(
        lambda: any(
            (
                c.method == "setMyCommands"
                and '"chat_id": 5000001' in str(c.params).replace("'", '"')
            )
            or (c.method == "setMyCommands" and str(ADMIN_TG) in str(c.params))
            for c in bot.fake.calls
        )
    )


async def test_used_expired_and_unknown_invites_are_refused(bot: Harness) -> None:
    await _directory(bot)
    token = await _invite(bot, "clinician", "dr-jones")
    clinician = bot.fake.user(CLINICIAN_TG)
    await bot.handled(clinician.send_text(f"/start {token}"))
    assert "senior clinician" in clinician.last().plain

    stranger = bot.fake.user(STRANGER_TG)
    await bot.handled(stranger.send_text(f"/start {token}"))
    assert "already been used" in stranger.last().plain

    expiring = await _invite(bot, "clinician", "dr-jones")
    bot.clock.advance(timedelta(days=14, seconds=1))
    await bot.handled(stranger.send_text(f"/start {expiring}"))
    assert "expired" in stranger.last().plain

    await bot.handled(stranger.send_text("/start not-a-real-token"))
    assert "not valid" in stranger.last().plain
    async with bot.db.uow() as uow:
        assert await uow.people.by_telegram_id(STRANGER_TG) is None


async def test_guessing_tokens_is_refused_after_twenty_failures(bot: Harness) -> None:
    await _directory(bot)
    good = await _invite(bot, "clinician", "dr-jones")
    guesser = bot.fake.user(STRANGER_TG)
    for n in range(20):
        await bot.handled(guesser.send_text(f"/start guess{n}"))
    assert "not valid" in guesser.last().plain
    await bot.handled(guesser.send_text(f"/start {good}"))
    assert "Too many invalid" in guesser.last().plain
    async with bot.db.uow() as uow:
        assert await uow.people.by_telegram_id(STRANGER_TG) is None
    bot.clock.advance(timedelta(hours=1, seconds=1))
    await bot.handled(guesser.send_text(f"/start {good}"))
    assert "senior clinician" in guesser.last().plain


async def test_bot_leaves_groups_and_says_why(bot: Harness) -> None:
    group = bot.fake.group(-100_777, title="Sarcoma MDT chat")
    update_id = group.send_text(bot.fake.user(STRANGER_TG), "/start")
    await bot.handled(update_id)
    await bot.fake.wait_for(lambda: -100_777 in bot.fake.left_chats)
    said = [m.plain for m in bot.fake.messages_to(-100_777)]
    assert len(said) == 1 and "only in private chats" in said[0]
    async with bot.db.uow() as uow:
        assert await uow.people.by_telegram_id(STRANGER_TG) is None


async def test_help_lists_the_commands_of_the_role(bot: Harness) -> None:
    user = bot.fake.user(STRANGER_TG)
    await bot.handled(user.send_text("/help"))
    text = user.last().plain
    assert "/start" in text and "/privacy" in text and "/cancel" in text
    defaults = [c for c in bot.fake.calls if c.method == "setMyCommands"]
    assert defaults, "the default command menu is set at start"


async def test_media_and_unknown_commands_get_an_answer(bot: Harness) -> None:
    user = bot.fake.user(STRANGER_TG)
    await bot.handled(user.send_photo())
    assert "did not understand" in user.last().plain
    await bot.handled(user.send_text("/frobnicate"))
    assert "do not know that command" in user.last().plain


# --- Conversations: a two-step conversation built on the production engine ---------

ASK_COLOUR, ASK_NUMBER = "ask_colour", "ask_number"
survey = Conversation("survey", start_state=ASK_COLOUR)


async def ask_colour(turn: Turn) -> None:
    """Ask the favourite colour."""
    turn.say("Step 1: your favourite colour?")


async def ask_number(turn: Turn) -> None:
    """Ask a number."""
    turn.say("Step 2: a number from 1 to 9?")


@survey.step(ASK_COLOUR, ask_colour)
async def got_colour(turn: Turn) -> str:
    """Keep the colour."""
    turn.data["colour"] = turn.text
    return ASK_NUMBER


@survey.step(ASK_NUMBER, ask_number)
async def got_number(turn: Turn) -> str:
    """Check the number, then finish."""
    if turn.text not in {str(n) for n in range(1, 10)}:
        return turn.again("That is not a number from 1 to 9.")
    if turn.text == "7":
        raise RuntimeError("a bug in a step")
    turn.say(f"Done: {turn.data['colour']} {turn.text}")
    return END


async def start_survey(update, context):  # type: ignore[no-untyped-def]
    """/survey: begin the test conversation."""
    await run_turn(update, context, survey.begin)


async def _start_with_survey(h: Harness) -> None:
    h.conversations.append(survey)
    h.handlers.append((0, CommandHandler("survey", start_survey)))
    await h.start()


async def _begin_survey(h: Harness, user_id: int) -> None:
    user = h.fake.user(user_id)
    await h.handled(user.send_text("/survey"))
    assert user.last().plain == "Step 1: your favourite colour?"


async def test_restart_mid_conversation_resumes_at_the_same_step(harness: Harness) -> None:
    await _start_with_survey(harness)
    await _begin_survey(harness, STRANGER_TG)
    user = harness.fake.user(STRANGER_TG)
    await harness.handled(user.send_text("teal & <b>gold</b>"))
    assert user.last().plain == "Step 2: a number from 1 to 9?"

    await harness.restart()  # a new process: nothing in memory survives
    await harness.handled(user.send_photo())
    assert user.texts()[-2:] == [
        "Please type your answer as text.",
        "Step 2: a number from 1 to 9?",
    ]
    await harness.handled(user.send_text("12"))
    assert user.texts()[-2:] == [
        "That is not a number from 1 to 9.",
        "Step 2: a number from 1 to 9?",
    ]
    await harness.handled(user.send_text("4"))
    assert user.last().plain == "Done: teal & <b>gold</b> 4"
    await harness.handled(user.send_text("4"))
    assert "did not understand" in user.last().plain  # the conversation is over


async def test_a_burst_from_several_users_is_handled_in_order_per_user(harness: Harness) -> None:
    # Users are handled side by side, each one's updates in order: queued while the bot
    # was down, they arrive in one getUpdates batch, interleaved.
    await _start_with_survey(harness)
    await harness.stop()
    users = [harness.fake.user(STRANGER_TG + n) for n in range(4)]
    last = 0
    for step in ("/survey", "colour {n}", "{n}"):
        for n, user in enumerate(users, start=1):
            last = user.send_text(step.format(n=n))
    await harness.start()
    await harness.handled(last)
    await harness.runtime.drained()  # type: ignore[union-attr]
    for n, user in enumerate(users, start=1):
        assert user.texts() == [
            "Step 1: your favourite colour?",
            "Step 2: a number from 1 to 9?",
            f"Done: colour {n} {n}",
        ]


async def test_cancel_leaves_with_nothing_saved(harness: Harness) -> None:
    await _start_with_survey(harness)
    await _begin_survey(harness, STRANGER_TG)
    user = harness.fake.user(STRANGER_TG)
    await harness.handled(user.send_text("/cancel"))
    assert user.last().plain == "Cancelled. Nothing was saved."
    async with harness.db.uow() as uow:
        assert await uow.conversations.get(STRANGER_TG) is None
    await harness.handled(user.send_text("/cancel"))
    assert user.last().plain == "There is nothing to cancel."


async def test_idle_timeout_fires_after_a_restart(harness: Harness) -> None:
    await _start_with_survey(harness)
    await _begin_survey(harness, STRANGER_TG)
    await harness.stop()
    harness.clock.advance(timedelta(minutes=31))
    await harness.start()
    await harness.runtime.drained()  # type: ignore[union-attr]
    user = harness.fake.user(STRANGER_TG)
    assert "closed after 30 minutes" in user.last().plain
    await harness.handled(user.send_text("teal"))
    assert "did not understand" in user.last().plain


async def test_a_failing_step_tells_the_user_and_keeps_the_question(harness: Harness) -> None:
    await _start_with_survey(harness)
    await _begin_survey(harness, STRANGER_TG)
    user = harness.fake.user(STRANGER_TG)
    await harness.handled(user.send_text("red"))
    await harness.handled(user.send_text("7"))
    await harness.fake.wait_for(lambda: "something went wrong" in user.last().plain)
    await harness.handled(user.send_text("3"))
    assert user.last().plain == "Done: red 3"


async def test_stale_conversation_button_is_answered(bot: Harness) -> None:
    user = bot.fake.user(STRANGER_TG)
    await bot.handled(user.send_text("/start"))
    last = user.last()
    update_id = user.press_data("cv:confirm", last.message_id)
    await bot.handled(update_id)
    assert any("no longer open" in (a or "") for a in user.callback_answers())


async def test_privacy_says_what_why_how_long_and_how_to_remove(bot: Harness) -> None:
    user = bot.fake.user(STRANGER_TG)
    await bot.handled(user.send_text("/privacy"))
    text = user.last().plain
    for words in ("What this bot stores", "encrypted", "8 years", "Removal", "01865 738000"):
        assert words in text

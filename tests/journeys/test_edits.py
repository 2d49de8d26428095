"""Edited messages: never read as answers, never relayed twice, and the user is told."""

from __future__ import annotations

from tests.journeys.conftest import Harness
from tests.journeys.test_cases import JONES, _directory, _refer, _referrer
from tests.journeys.test_registration import REFERRER, say


async def test_an_edit_is_answered_and_changes_nothing(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user, jones = bot.fake.user(REFERRER), bot.fake.user(JONES)
    await _refer(bot, user)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "First question")
    question = jones.last()
    reply = jones.reply_to(question.message_id, "The answer")
    await bot.handled(reply)
    relayed = len([t for t in user.texts() if "The answer" in t])
    # Editing the reply: not relayed again (and no failure), the clinician is told.
    await bot.handled(jones.edit_text(bot.fake.updates[-1]["message"]["message_id"], "Changed"))
    assert "only read new messages" in jones.last().plain
    assert len([t for t in user.texts() if "The answer" in t]) == relayed
    assert not any("Changed" in t for t in user.texts())
    # Editing an answer typed inside a conversation: the conversation is not moved on.
    await say(bot, user, "/refer")
    await bot.handled(user.send_text("943 476 5919"))
    typed = bot.fake.updates[-1]["message"]["message_id"]
    asked = user.last().plain
    await bot.handled(user.edit_text(typed, "943 476 5927"))
    assert "only read new messages" in user.last().plain
    assert "already has an open case, C-1" in asked

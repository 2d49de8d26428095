"""/queue through the real Application: a clinician's open queries, urgent ones first,
then the oldest first within each urgency."""

from __future__ import annotations

from datetime import timedelta

from tests.journeys.conftest import Harness
from tests.journeys.test_cases import BONE_ONLY, JONES, PATEL, _directory, _refer, _referrer
from tests.journeys.test_registration import REFERRER, say


async def test_queue_lists_urgent_queries_first_then_the_oldest(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    jones, patel, bone = (bot.fake.user(t) for t in (JONES, PATEL, BONE_ONLY))
    # With Patel away, Jones is the only soft-tissue clinician: she is named on C-1 and
    # C-2, and Dr Bone is their deputy.
    assert "away until" in await say(bot, patel, "/away 2026-12-31")
    assert "Case C-1" in await _refer(bot, user, "Soft tissue", "Routine", "943 476 5919")
    opened = await _refer(bot, user, "Soft tissue", "Urgent", "943 476 5927")
    assert "Case C-2" in opened and "Deputy: Dr Bea Bone" in opened

    async def ask(case: str, text: str) -> int:
        """The referrer asks on `case`, an hour after the previous question."""
        bot.clock.advance(timedelta(hours=1))
        await say(bot, user, f"/ask {case}")
        routed = await say(bot, user, text)
        assert "Q-" in routed
        assert text in jones.last().plain
        return jones.last().message_id

    await ask("C-1", "Routine, asked first")  # Q-1, 10:00
    await ask("C-2", "Urgent, asked second")  # Q-2, 11:00
    passed = await ask("C-2", "Urgent, passed to the deputy")  # Q-3, 12:00
    await ask("C-1", "Routine, asked fourth")  # Q-4, 13:00
    await ask("C-2", "Urgent, asked fifth")  # Q-5, 14:00
    resolved = await ask("C-1", "Routine, resolved")  # Q-6, 15:00
    acknowledged = await ask("C-2", "Urgent, acknowledged")  # Q-7, 16:00
    await bot.handled(jones.press("Pass to deputy", passed))
    await bot.handled(jones.press("Resolve", resolved))
    await bot.handled(jones.press("Acknowledge", acknowledged))

    queue = await say(bot, jones, "/queue")
    assert [line for line in queue.splitlines() if line.startswith("Q-")] == [
        "Q-2 on C-2 — not yet acknowledged, asked 02 Nov 11:00",
        "Q-5 on C-2 — not yet acknowledged, asked 02 Nov 14:00",
        "Q-7 on C-2 — acknowledged, asked 02 Nov 16:00",
        "Q-1 on C-1 — not yet acknowledged, asked 02 Nov 10:00",
        "Q-4 on C-1 — not yet acknowledged, asked 02 Nov 13:00",
    ]
    assert [line for line in (await say(bot, bone, "/queue")).splitlines() if "Q-" in line] == [
        "Q-3 on C-2 — not yet acknowledged, asked 02 Nov 12:00"
    ]

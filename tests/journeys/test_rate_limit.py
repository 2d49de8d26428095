"""Per-user incoming rate limit with the real defaults (20 a minute, bursts of 10)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from handlers import texts
from storage.models import InboundUpdate
from tests.journeys.conftest import Harness

ABUSER = 9_500_001
OTHER = 9_500_002


async def _stored(h: Harness) -> int:
    async with h.db.uow() as uow:
        return int(await uow._session.scalar(select(func.count()).select_from(InboundUpdate)) or 0)


async def test_abusive_user_is_slowed_others_unaffected(harness: Harness) -> None:
    harness.settings = harness.settings.model_copy(
        update={"INCOMING_RATE_PER_MINUTE": 20.0, "INCOMING_BURST": 10}
    )
    bot = harness
    await bot.start()
    abuser, other = bot.fake.user(ABUSER), bot.fake.user(OTHER)

    await bot.handled(abuser.send_text("/start"))
    welcome = abuser.last().message_id
    # 40 more at the same instant (texts and stale button presses): the rest of the burst
    # of 10 is handled, 31 are dropped unstored.
    last = 0
    for i in range(40):
        last = abuser.send_text(f"/help {i}") if i % 2 else abuser.press_data("cv:x", welcome)
    await bot.fake.wait_confirmed(last, timeout=10)
    assert await _stored(bot) == 10
    # Someone else at the same moment is answered as usual.
    await bot.handled(other.send_text("/help"))
    assert "/privacy" in other.last().plain
    assert await _stored(bot) == 11

    await bot.fake.wait_for(
        lambda: any(texts.SLOW_DOWN in m.plain for m in abuser.messages()), timeout=5
    )
    await bot.runtime.drained()  # type: ignore[union-attr]
    slow_downs = [m for m in abuser.messages() if texts.SLOW_DOWN in m.plain]
    assert len(slow_downs) == 1  # one notice, not one per dropped update

    # Within the same minute: still dropped, no second notice.
    bot.clock.advance(timedelta(seconds=30))
    for i in range(5):
        last = abuser.send_text(f"again {i}")
    await bot.fake.wait_confirmed(last, timeout=10)
    # 30 s refilled 10 slots at one per 3 s: 5 more are taken, none over.
    assert await _stored(bot) == 16
    bot.clock.advance(timedelta(seconds=1))
    for i in range(10):
        last = abuser.send_text(f"more {i}")
    await bot.fake.wait_confirmed(last, timeout=10)
    assert await _stored(bot) == 16 + 5
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert sum(texts.SLOW_DOWN in m.plain for m in abuser.messages()) == 1

    # A minute after the first notice, flooding again earns one more notice.
    bot.clock.advance(timedelta(seconds=60))
    for i in range(40):
        last = abuser.send_text(f"flood {i}")
    await bot.fake.wait_confirmed(last, timeout=10)
    await bot.fake.wait_for(
        lambda: sum(texts.SLOW_DOWN in m.plain for m in abuser.messages()) == 2, timeout=5
    )
    # And after a quiet spell the user is served normally.
    bot.clock.advance(timedelta(minutes=5))
    await bot.handled(abuser.send_text("/help"))
    assert "/privacy" in abuser.last().plain

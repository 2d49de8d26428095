"""Reliable delivery against a misbehaving Bot API: flood limits, 5xx and timeouts,
crashes with a full outbox or unhandled updates, blocked users, awkward texts.

Rate limits run on a scaled clock shared by the bot and the fake (20 seconds of
Telegram time per real second), so the per-second limits are Telegram's own while the
tests stay short.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from bot.app import BotRuntime
from delivery.flood import ScaledTimer
from delivery.sender import Button, Outgoing, enqueue
from delivery.text import render
from storage.models import OutboxMessage, Person, Role, SentMessage
from storage.repositories import OWNER_LOCK_CLASS, OutboxRepository, SentPart
from tests.journeys.conftest import Harness

SCALE = 20.0
ADMIN_TG = 7_000_000


def _telegram_limits(h: Harness, **extra: object) -> None:
    """Production pacing (25/s overall, 1/s per chat, bursts of 3) on the scaled clock."""
    h.timer = ScaledTimer(SCALE)
    h.fake.monotonic = h.timer.monotonic
    h.settings = h.settings.model_copy(
        update={
            "SEND_GLOBAL_RATE": 25.0,
            "SEND_PER_CHAT_RATE": 1.0,
            "SEND_PER_CHAT_BURST": 3,
            **extra,
        }
    )


async def _people(h: Harness, telegram_ids: list[int], role: Role = Role.REFERRER) -> list[int]:
    async with h.db.uow() as uow:
        people = [
            Person(role=role, name=f"Dr Test {tg}", telegram_user_id=tg, created_at=h.clock.now())
            for tg in telegram_ids
        ]
        for person in people:
            uow.people.add(person)
        await uow.commit()
        return [p.id for p in people]


async def _enqueue(h: Harness, messages: list[Outgoing]) -> None:
    async with h.db.uow() as uow:
        for message in messages:
            enqueue(uow, message, h.clock.now())
        await uow.commit()
    assert h.runtime is not None
    h.runtime.sender.wake()


def _numbered(chat_id: int, n: int, recipient_id: int | None = None) -> Outgoing:
    return Outgoing(
        chat_id, render("message {n} to {c}", n=n, c=chat_id), recipient_id=recipient_id
    )


def _delivered(h: Harness, chat_id: int) -> list[str]:
    return [m.plain for m in h.fake.messages_to(chat_id)]


async def test_flood_limits_every_message_once_and_in_order(harness: Harness) -> None:
    _telegram_limits(harness)
    await harness.start()
    # Telegram: about 30/s overall and 1/s per chat, short bursts tolerated.
    harness.fake.flood_limits(global_per_sec=30, per_chat_per_sec=1, burst=2)
    busy = 8_000_000
    others = [8_000_100 + i for i in range(50)]
    await _enqueue(
        harness,
        [_numbered(busy, n) for n in range(200)]
        + [_numbered(chat, n) for n in range(10) for chat in others],
    )
    await harness.fake.wait_for(
        lambda: sum(len(harness.fake.messages_to(c)) for c in [busy, *others]) >= 700,
        timeout=60,
        what="700 messages delivered",
    )
    await harness.runtime.drained()  # type: ignore[union-attr]
    assert _delivered(harness, busy) == [f"message {n} to {busy}" for n in range(200)]
    for chat in others:
        assert _delivered(harness, chat) == [f"message {n} to {chat}" for n in range(10)]
    refused = [c for c in harness.fake.calls_to("sendMessage") if c.status == 429]
    accepted = [c for c in harness.fake.calls_to("sendMessage") if c.status == 200]
    assert len(accepted) == 700
    # Pacing keeps 429s rare (some remain: the scaled clock magnifies network jitter).
    assert len(refused) < 0.05 * len(accepted), len(refused)


async def test_5xx_and_timeouts_lose_nothing_and_duplicate_nothing(harness: Harness) -> None:
    # A generous client timeout against longer hangs: a slow (loaded) machine must not
    # turn a delivered message into a timeout, which would be a genuine duplicate.
    harness.settings = harness.settings.model_copy(update={"TELEGRAM_TIMEOUT": 1.0})
    harness.timer = ScaledTimer(SCALE)
    await harness.start()
    harness.fake.error_rate(0.1, statuses=(502, 500, 503), timeout_share=0.3, hang_seconds=3.0)
    chats = [8_100_000 + i for i in range(10)]
    await _enqueue(harness, [_numbered(c, n) for n in range(10) for c in chats])

    def all_arrived() -> bool:
        return sum(len(harness.fake.messages_to(c)) for c in chats) >= 100

    for _ in range(30):
        try:
            await harness.fake.wait_for(all_arrived, timeout=3, what="100 messages")
            break
        except AssertionError:
            # A message whose in-place retries all failed waits in the database for its
            # next attempt: let the clock reach it.
            harness.clock.advance(timedelta(minutes=5))
            harness.runtime.sender.wake()  # type: ignore[union-attr]
    assert all_arrived()
    await harness.runtime.drained()  # type: ignore[union-attr]
    failures = [c for c in harness.fake.calls_to("sendMessage") if c.status != 200]
    assert failures, "the fake should have misbehaved"
    for chat in chats:
        assert _delivered(harness, chat) == [f"message {n} to {chat}" for n in range(10)]


async def test_crash_with_a_full_outbox_loses_nothing(harness: Harness) -> None:
    _telegram_limits(harness)
    await harness.start()
    chats = [8_200_000, 8_200_001]
    await _enqueue(harness, [_numbered(c, n) for n in range(50) for c in chats])
    await harness.fake.wait_for(
        lambda: sum(len(harness.fake.messages_to(c)) for c in chats) >= 20, timeout=30
    )
    await harness.stop()  # the process goes away mid-stream
    sent_before = sum(len(harness.fake.messages_to(c)) for c in chats)
    assert sent_before < 100
    # No lease to wait out (the clock stands still): the claims the stopped process made
    # for its chats' next messages named its owner lock, which went with it.
    await harness.start()
    await harness.fake.wait_for(
        lambda: sum(len(harness.fake.messages_to(c)) for c in chats) >= 100, timeout=60
    )
    await harness.runtime.drained()  # type: ignore[union-attr]
    for chat in chats:
        assert _delivered(harness, chat) == [f"message {n} to {chat}" for n in range(50)]


async def test_a_failing_record_leaves_the_rest_of_its_batch_recorded(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sends that finish together are recorded in one transaction; if one record cannot
    # be written, the others must still be, or they would be sent again after their
    # leases ran out. A row already holding the (chat, message id) that the fake will
    # give the last chat's message makes that one record fail.
    await harness.start()
    chats = [8_300_000 + n for n in range(30)]
    bad = chats[-1]
    async with harness.db.uow() as uow:
        uow.sent_messages.add(
            SentMessage(chat_id=bad, telegram_message_id=1, created_at=harness.clock.now())
        )
        await uow.commit()
    batches: list[list[int]] = []
    record_sent = OutboxRepository.record_sent

    async def spy(self: OutboxRepository, parts: list[SentPart], now: datetime) -> None:
        batches.append([p.message.chat_id for p in parts])
        await record_sent(self, parts, now)

    monkeypatch.setattr(OutboxRepository, "record_sent", spy)
    await _enqueue(harness, [_numbered(c, 0) for c in chats])

    async def statuses() -> dict[int, str]:
        async with harness.db.uow() as uow:
            rows = await uow._session.execute(select(OutboxMessage.chat_id, OutboxMessage.status))
            return {chat: status for chat, status in rows}

    async with asyncio.timeout(20):
        while sum(s == "sent" for s in (await statuses()).values()) < len(chats) - 1:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert any(bad in batch and len(batch) > 1 for batch in batches), batches
    found = await statuses()
    assert found[bad] == "sending"  # its record failed: resent when its lease runs out
    assert all(found[c] == "sent" for c in chats if c != bad)
    assert all(_delivered(harness, c) == [f"message 0 to {c}"] for c in chats)


async def test_outbox_written_before_a_crash_is_sent_after_restart(harness: Harness) -> None:
    await harness.start()
    await harness.stop()
    # Rows committed by a process that died before its dispatcher ran.
    from storage.crypto import Keyring
    from storage.uow import Database

    keyring = Keyring.from_keys(harness.settings.ENCRYPTION_KEYS, harness.settings.INDEX_KEY)
    db = Database(harness.settings.DATABASE_URL, keyring, **harness.engine_kwargs)  # type: ignore[arg-type]
    async with db.uow() as uow:
        for n in range(100):
            enqueue(uow, _numbered(8_300_000 + n % 5, n), harness.clock.now())
        await uow.commit()
    await db.dispose()
    await harness.start()
    await harness.runtime.drained(timeout=30)  # type: ignore[union-attr]
    for chat in range(8_300_000, 8_300_005):
        assert _delivered(harness, chat) == [
            f"message {n} to {chat}" for n in range(100) if 8_300_000 + n % 5 == chat
        ]


async def test_blocked_recipient_is_marked_once_without_a_retry_storm(bot: Harness) -> None:
    (_admin_id,) = await _people(bot, [ADMIN_TG], Role.ADMIN)
    (referrer_id,) = await _people(bot, [8_400_000])
    bot.fake.block(8_400_000)
    await _enqueue(bot, [_numbered(8_400_000, n, referrer_id) for n in range(5)])
    await bot.runtime.drained()  # type: ignore[union-attr]
    await _enqueue(bot, [_numbered(8_400_000, n, referrer_id) for n in range(5, 8)])
    await bot.runtime.drained()  # type: ignore[union-attr]
    calls = [
        c for c in bot.fake.calls_to("sendMessage") if str(c.params.get("chat_id")) == "8400000"
    ]
    assert len(calls) == 1 and calls[0].status == 403
    async with bot.db.uow() as uow:
        referrer = await uow.people.get(referrer_id)
        assert referrer is not None and referrer.reachable is False
    notices = _delivered(bot, ADMIN_TG)
    assert len(notices) == 1
    assert "cannot be reached" in notices[0] and f"person:{referrer_id}" in notices[0]
    assert "Dr Test 8400000" in notices[0]

    # Writing to the bot again makes them reachable; new messages flow.
    bot.fake.unblock(8_400_000)
    user = bot.fake.user(8_400_000)
    await bot.handled(user.send_text("/help"))
    await _enqueue(bot, [_numbered(8_400_000, 99, referrer_id)])
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert _delivered(bot, 8_400_000)[-1] == "message 99 to 8400000"
    assert len(_delivered(bot, ADMIN_TG)) == 1  # told once


async def test_updates_stored_but_not_handled_survive_a_crash(harness: Harness) -> None:
    runtime = await harness.start()
    never = asyncio.Event()

    async def stuck(update_id: int, payload: str | None) -> None:
        await never.wait()  # the process dies before handling anything

    runtime.intake._handle = stuck  # type: ignore[method-assign]
    users = [harness.fake.user(8_500_000 + i) for i in range(10)]
    last = 0
    for n in range(50):
        last = users[n % 10].send_text("/privacy")
    await harness.fake.wait_confirmed(last, timeout=10)  # Telegram has forgotten them
    await harness.stop()
    assert all(not u.messages() for u in users)

    await harness.start()
    await harness.handled(last)
    for user in users:
        assert len(user.messages()) == 5 and all("What this bot stores" in t for t in user.texts())

    # The same update delivered again (Telegram resends after a lost acknowledgement).
    payload = next(u for u in harness.fake.updates if u["update_id"] == last)
    assert await harness.runtime.intake.store([payload, payload]) == 0  # type: ignore[union-attr]
    await harness.runtime.drained()  # type: ignore[union-attr]
    assert sum(len(u.messages()) for u in users) == 50


async def test_awkward_texts_arrive_exactly_as_typed(bot: Harness) -> None:
    chat = 8_600_000
    samples = [
        'O\'Brien & <Sons> "quoted" 5 > 3 < 4 &amp; literal',
        "Emoji 🦴🩺👩‍⚕️ and accents: Siobhán Ó Dálaigh",
        "عيادة الساركوما — שלום — mixed RTL text",
        "<b>not bold</b> <a href='x'>not a link</a>",
    ]
    lines = [f"line {n:04d}: the quick brown fox & the lazy <dog> 🦴" for n in range(220)]
    long_text = "\n".join(lines)
    assert len(long_text) > 10_000
    unbroken = "x" * 4000 + "&" * 4000 + "é" * 2500
    await _enqueue(
        bot,
        [Outgoing(chat, render("{t}", t=t)) for t in samples]
        + [
            Outgoing(
                chat, render("{t}", t=long_text), buttons=[[Button("Acknowledge", data="ack:1")]]
            ),
            Outgoing(chat, render("{t}", t=unbroken)),
        ],
    )
    await bot.runtime.drained()  # type: ignore[union-attr]
    delivered = bot.fake.messages_to(chat)
    assert [m.plain for m in delivered[:4]] == samples
    long_parts = delivered[4:-4]
    tail = delivered[-4:]
    # The long text: whole, in order, split on line boundaries, buttons on its last part.
    rebuilt = "\n".join(m.plain for m in [*long_parts, tail[0]])
    assert rebuilt == long_text
    assert [m.reply_markup is not None for m in [*long_parts, tail[0]]][-1] is True
    assert not any(m.reply_markup for m in long_parts)
    assert "".join(m.plain for m in tail[1:]) == unbroken
    assert all(len(m.plain.encode("utf-16-le")) // 2 <= 4096 for m in delivered)
    counts = Counter(m.plain for m in delivered)
    assert max(counts.values()) == 1


async def test_outbox_rows_hold_no_text_in_clear(bot: Harness) -> None:
    await _enqueue(bot, [Outgoing(8_700_000, render("{t}", t="NHS 943 476 5919 Mrs Patient"))])
    await bot.runtime.drained()  # type: ignore[union-attr]
    from sqlalchemy import text

    async with bot.db.uow() as uow:
        rows = (await uow._session.execute(text("SELECT * FROM outbox"))).all()
    assert "943 476 5919" not in repr(rows) and "Patient" not in repr(rows)


async def test_message_failing_past_its_age_is_marked_failed_and_admins_told(
    harness: Harness,
) -> None:
    harness.settings = harness.settings.model_copy(update={"SEND_MAX_AGE": timedelta(minutes=10)})
    harness.timer = ScaledTimer(1000)  # in-place retries' backoff is not what is tested
    await harness.start()
    await _people(harness, [ADMIN_TG], Role.ADMIN)
    (referrer_id,) = await _people(harness, [8_800_000])
    harness.fake.fail_next("sendMessage", 502, "Bad Gateway", times=1000, chat_id=8_800_000)
    await _enqueue(
        harness, [Outgoing(8_800_000, render("advice for C-7"), recipient_id=referrer_id)]
    )
    await harness.runtime.drained()  # type: ignore[union-attr]
    async with harness.db.uow() as uow:
        row = await uow.outbox.get(1)
        assert row is not None and row.status == "pending" and row.attempts == 1
    assert _delivered(harness, ADMIN_TG) == []  # not yet: still within its age

    harness.clock.advance(timedelta(minutes=11))
    harness.runtime.sender.wake()  # type: ignore[union-attr]
    await harness.fake.wait_for(lambda: _delivered(harness, ADMIN_TG), timeout=10)
    async with harness.db.uow() as uow:
        row = await uow.outbox.get(1)
        assert row is not None and row.status == "failed"
    (notice,) = _delivered(harness, ADMIN_TG)
    assert "could not be delivered" in notice and f"person:{referrer_id}" in notice
    assert _delivered(harness, 8_800_000) == []


async def test_a_process_that_lost_its_owner_lock_sends_nothing_it_claimed(
    harness: Harness, database_url: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Once a process's owner lock is gone its claims are free to everyone, so it must not
    # send them itself: here its message waits out a 429 when the process is cut off from
    # its lock, a second process takes the message over, and it is delivered once.
    if not database_url["url"].startswith("postgresql"):
        pytest.skip("SQLite is single-process by design")
    first = await harness.start()
    lock = first.leadership.liveness
    assert lock is not None and lock.owner is not None
    owner = lock.owner
    chat = 8_900_000
    harness.fake.fail_next("sendMessage", 429, retry_after=5, chat_id=chat)
    await _enqueue(harness, [_numbered(chat, 0)])
    await harness.fake.wait_for(
        lambda: any(c.status == 429 for c in harness.fake.calls_to("sendMessage")),
        what="the first attempt refused",
    )
    second = BotRuntime(
        harness.settings,
        clock=harness.clock,
        poll_timeout=1,
        sweep_seconds=3600,
        engine_kwargs=harness.engine_kwargs,
    )
    await second.start()
    try:

        async def unreachable() -> None:
            raise OSError("cut off")

        monkeypatch.setattr(lock, "_connect", unreachable)  # it cannot take a new lock
        async with harness.db.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND classid = :class AND objid = :owner"
                ),
                {"class": OWNER_LOCK_CLASS, "owner": owner},
            )
        await harness.fake.wait_for(lambda: _delivered(harness, chat), timeout=10)
        await second.drained()
        assert second.dispatcher.stats.sent == 1
        await asyncio.sleep(6)  # past the first process's retry_after
        assert _delivered(harness, chat) == [f"message 0 to {chat}"]
        assert first.dispatcher.stats.sent == 0
        async with harness.db.uow() as uow:
            row = await uow.outbox.get(1)
            assert row is not None and row.status == "sent"
    finally:
        await second.stop()

"""Logs carry user ids and references, never names, numbers or texts."""

from __future__ import annotations

import logging

import pytest

from bot.jobs import log_audit_head
from bot.logs import setup_logging
from tests.journeys.conftest import Harness
from tests.journeys.test_cases import JONES, NHS, _directory, _refer
from tests.journeys.test_registration import ADMIN_A, NAME, REFERRER, _summary, press, say


async def test_logs_carry_no_names_numbers_or_texts(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    setup_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    await _directory(bot)
    user, admin, jones = (bot.fake.user(t) for t in (REFERRER, ADMIN_A, JONES))
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    await press(bot, admin, "Approve")
    await _refer(bot, user)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Secret question text")
    await bot.handled(jones.reply_to(jones.last().message_id, "Secret answer text"))
    await say(bot, user, "/case C-1")
    await log_audit_head(bot.db)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "audit head: entry" in logged  # the capture works
    for secret in (
        NAME,
        "O'Brien",
        NHS,
        NHS.replace(" ", ""),
        "07911",
        "0118 322",
        "+44",
        "nhs.net",
        "Secret question",
        "Secret answer",
        "Left thigh",
        "Enlarging painless mass",
        bot.fake.token,
    ):
        assert secret not in logged, secret
    setup_logging("INFO")


async def test_audit_head_is_logged_so_a_cut_off_tail_shows(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import delete

    from storage.audit import verify_chain
    from storage.models import AuditEntry

    await _directory(bot)
    user, admin = bot.fake.user(REFERRER), bot.fake.user(ADMIN_A)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    await press(bot, admin, "Approve")
    caplog.set_level(logging.INFO, logger="bot.app")
    head = await log_audit_head(bot.db)
    assert head is not None and f"audit head: entry {head[0]} mac {head[1]}" in caplog.text
    async with bot.db.uow() as uow:  # someone with database access deletes the tail
        await uow._session.execute(delete(AuditEntry).where(AuditEntry.id == head[0]))
        await uow._session.commit()
    async with bot.db.uow() as uow:
        count, problem = await verify_chain(uow._session, bot.db.keyring)
    assert problem is None and count == head[0] - 1  # the shorter chain still verifies...
    assert await log_audit_head(bot.db) != head  # ...but its head is not the logged one

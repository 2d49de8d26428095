"""Administrators' /stats, /pending, /referrer and /allocate through the real Application:
what an admin sees, refusal for everyone else, and an audit entry for each."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import AuditEntry, Person, PersonStatus
from tests import report_data as data
from tests.journeys.conftest import Harness
from tests.journeys.test_registration import press, say

ADMIN, STRANGER = 9_300_001, 9_300_999
PENDING_REFERRER, PATIENT = 7_777_001, 7_777_002  # made by the dataset


async def _audit(h: Harness, action: str) -> list[AuditEntry]:
    async with h.db.uow() as uow:
        return list(
            (
                await uow._session.scalars(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
                )
            ).all()
        )


async def test_stats_shows_the_periods_figures_to_admins(bot: Harness) -> None:
    ids = await data.build(bot.db, admin_tg=ADMIN)
    bot.clock.set(data.REPORT_AT)
    admin = bot.fake.user(ADMIN)

    text = await say(bot, admin, "/stats 2026-11-02 2026-11-15")
    for line in [
        "📊 Statistics 02 Nov 2026 to 15 Nov 2026",
        "Cases: 5 (3 urgent) — Great Western Hospital 2, Royal Berkshire Hospital 2, "
        "Other (not in the directory) 1",
        "Tumour type: Bone 2, Soft tissue 2, Not sure 1",
        "Queries: 9 asked, 4 resolved, 3 not yet answered",
        "First response: median 4 h 00 min, 90th percentile 14 d 1 h; 5 of 9 within the "
        "two-week letter, 2 beyond it",
        "Resolution: median 3 h 00 min, 90th percentile 3 d 0 h",
        "Escalated: 4 to the deputy, 2 to the administrators",
        "Reminders: 4 sent, 1 confirmed, 1 can't attend, 1 missed",
        "Now: 6 open queries, 4 overdue (Dr Alice Jones 1, Dr Bea Bone 3); 0 open cases "
        "without a named clinician",
        "Load (open cases, named + deputy): Dr Alice Jones 5, Dr Bea Bone 3, Dr Raj Patel 2",
        "Unreachable: referrers 1, patients 1",
        "Referrers missing secretary's phone: 1, fax: 2",
        "Registrations awaiting approval: 1 (/pending)",
    ]:
        assert line in text.splitlines(), (line, text)

    # Without dates: the last 30 days to today.
    recent = await say(bot, admin, "/stats")
    assert "Statistics 22 Oct 2026 to 20 Nov 2026" in recent and "Cases: 6 " in recent
    since_only = await say(bot, admin, "/stats 2026-11-10")
    assert "Statistics 10 Nov 2026 to 20 Nov 2026" in since_only and "Cases: 3 " in since_only
    for bad in ("/stats 2026-11-31", "/stats yesterday", "/stats 2026-11-15 2026-11-02"):
        assert "Usage: /stats" in await say(bot, admin, bad)

    viewed = await _audit(bot, "report.viewed")
    assert len(viewed) == 3
    assert viewed[0].actor == f"person:{ids.admin}"
    assert json.loads(viewed[0].details) == {"since": "2026-11-02", "until": "2026-11-15"}


async def test_admin_commands_are_refused_to_everyone_else(bot: Harness) -> None:
    ids = await data.build(bot.db, admin_tg=ADMIN)
    for tg in (STRANGER, PENDING_REFERRER, PATIENT):
        user = bot.fake.user(tg)
        for command in (
            "/stats",
            "/pending",
            f"/referrer {ids.r1}",
            "/allocate C-1 dr-patel dr-bone",
        ):
            answer = await say(bot, user, command)
            assert answer == "This command is for administrators of the service.", (tg, command)
    # A suspended admin is refused too.
    async with bot.db.uow() as uow:
        admin = await uow.people.get(ids.admin)
        assert admin is not None
        admin.status = PersonStatus.SUSPENDED
        await uow.commit()
    refused = await say(bot, bot.fake.user(ADMIN), "/stats")
    assert refused == "This command is for administrators of the service."
    for action in ("report.viewed", "registrations.listed", "referrer.viewed"):
        assert await _audit(bot, action) == []


async def test_pending_lists_registrations_with_their_buttons(bot: Harness) -> None:
    ids = await data.build(bot.db, admin_tg=ADMIN)
    bot.clock.set(data.REPORT_AT)
    admin = bot.fake.user(ADMIN)
    await bot.handled(admin.send_text("/pending"))
    header, card = admin.texts()[-2:]
    assert "1 registration(s) awaiting approval" in header
    assert f"referrer {ids.r3}" in card and "Dr Three" in card and "Registrar" in card
    assert "Registered 14 Nov 2026 15:00" in card and "secretary's phone number" in card
    assert admin.buttons() == ["Approve", "Reject"]

    approved = await press(bot, admin, "Approve")
    assert f"You approved referrer {ids.r3}, Dr Three" in approved
    assert "Your registration has been approved" in bot.fake.user(PENDING_REFERRER).last().plain
    assert await say(bot, admin, "/pending") == "No registrations are awaiting approval."

    listed = await _audit(bot, "registrations.listed")
    assert [json.loads(e.details) for e in listed] == [{"pending": 1}, {"pending": 0}]
    assert all(e.actor == f"person:{ids.admin}" for e in listed)


async def test_pending_shows_the_oldest_ten(bot: Harness) -> None:
    await data.build(bot.db, admin_tg=ADMIN)
    async with bot.db.uow() as uow:
        for n in range(11):
            uow.people.add(
                Person(
                    role="referrer",
                    status=PersonStatus.PENDING,
                    name=f"Dr Waiting {n}",
                    created_at=data.at(15, 9, n),
                )
            )
        await uow.commit()
    admin = bot.fake.user(ADMIN)
    await bot.handled(admin.send_text("/pending"))
    header = [t for t in admin.texts() if "awaiting approval" in t][-1]
    assert "12 registration(s) awaiting approval" in header and "the first 10 shown" in header


async def test_referrer_and_allocate_are_audited(bot: Harness) -> None:
    ids = await data.build(bot.db, admin_tg=ADMIN)
    admin = bot.fake.user(ADMIN)
    view = await say(bot, admin, f"/referrer {ids.r1}")
    assert f"Referrer {ids.r1}" in view and "Dr One" in view
    viewed = await _audit(bot, "referrer.viewed")
    assert [(e.actor, e.subject) for e in viewed] == [(f"person:{ids.admin}", f"person:{ids.r1}")]

    done = await say(bot, admin, "/allocate C-1 dr-patel dr-bone")
    assert "named clinician Dr Raj Patel" in done
    allocated = (await _audit(bot, "case.allocated"))[-1]
    assert allocated.actor == f"person:{ids.admin}" and allocated.subject == "C-1"
    assert json.loads(allocated.details) == {
        "by_hand": True,
        "deputy": f"person:{ids.bone}",
        "named": f"person:{ids.patel}",
    }
    # The report follows: Patel now holds C-1 as named clinician.
    bot.clock.set(data.REPORT_AT)
    text = await say(bot, admin, "/stats 2026-11-02 2026-11-15")
    assert (
        "Load (open cases, named + deputy): Dr Alice Jones 4, Dr Bea Bone 3, Dr Raj Patel 3" in text
    )

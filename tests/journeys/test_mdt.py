"""The Monday MDT through the real Application and the HTTP fake: listing a case, the
agenda at the cut-off, the outcome to the referrer and link clinicians the same day, and
the edge cases of the issue (closed cases, other people's cases, twice, cancelled dates,
the cut-off on the night the clocks change, two outcomes at once, a restart mid-outcome,
60 cases on one agenda, roll-over)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pypdf import PdfReader
from sqlalchemy import func, select

from bot.jobs import run_sweeps
from services import mdt
from services.reports import build_report
from services.retention import purge
from storage.models import AuditEntry, Case, Clinic, MdtListing
from tests.fakes import FakeUser, SentMessage
from tests.journeys.conftest import Harness
from tests.journeys.test_cases import (
    BONE_ONLY,
    JONES,
    KHAN,
    NHS,
    OTHER_REFERRER,
    PATEL,
    _directory,
    _refer,
    _referrer,
)
from tests.journeys.test_registration import ADMIN_A, REFERRER, press, say

LONDON = ZoneInfo("Europe/London")
# Wednesday 25 November 2026, 10:00 (GMT): the next MDT is Monday 30 November at 13:00,
# its list closing on Thursday 26 November at 17:00.
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
MEETING = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)


async def _mdt_clinic(h: Harness, **overrides: object) -> None:
    fields: dict[str, object] = {
        "id": "mdt",
        "kind": "mdt",
        "name": "Sarcoma MDT",
        "weekday": 0,
        "time": "13:00",
        "cutoff_weekday": 3,
        "cutoff_time": "17:00",
        "location": "Nuffield Orthopaedic Centre",
    }
    fields.update(overrides)
    async with h.db.uow() as uow:
        uow.clinics.add(Clinic(**fields))
        await uow.commit()


async def _case(h: Harness, urgency: str = "routine", days_ago: int = 0) -> int:
    """An open case of the referrer, Jones named and Patel deputy (made directly)."""
    async with h.db.uow() as uow:
        referrer = await uow.people.by_telegram_id(REFERRER)
        jones = await uow.people.by_telegram_id(JONES)
        patel = await uow.people.by_telegram_id(PATEL)
        assert referrer and jones and patel
        case = Case(
            referrer_id=referrer.id,
            centre_id="rbh",
            nhs_number=NHS,
            date_of_birth="1970-05-04",
            tumour_type="soft_tissue",
            site="Left thigh",
            summary="Deep mass, 6 cm, MRI done.",
            urgency=urgency,
            status="open",
            created_at=h.clock.now() - timedelta(days=days_ago),
            named_clinician_id=jones.id,
            deputy_id=patel.id,
        )
        uow.cases.add(case)
        await uow.commit()
        return case.id


async def _world(h: Harness) -> tuple[FakeUser, FakeUser, FakeUser, FakeUser]:
    h.clock.set(WEDNESDAY)
    await _directory(h)
    await _mdt_clinic(h)
    await _referrer(h)
    return tuple(h.fake.user(t) for t in (REFERRER, JONES, KHAN, ADMIN_A))  # type: ignore[return-value]


async def _list(h: Harness, who: FakeUser, command: str, question: str = "Biopsy here?") -> str:
    asked = await say(h, who, command)
    if "what is the question for the meeting" not in asked:
        return asked
    return await say(h, who, question)


async def _sweep(h: Harness, at: datetime) -> int:
    h.clock.set(at)
    assert h.runtime is not None
    done = await run_sweeps(h.runtime)
    await h.runtime.drained()
    return done


def _documents(user: FakeUser) -> list[SentMessage]:
    return [m for m in user.messages() if m.kind == "document"]


def _pdf_text(message: SentMessage) -> tuple[int, str]:
    assert message.document is not None and message.document.content is not None
    reader = PdfReader(io.BytesIO(message.document.content))
    return len(reader.pages), "".join(page.extract_text() for page in reader.pages)


async def _audit_count(h: Harness, action: str) -> int:
    async with h.db.uow() as uow:
        return int(
            await uow._session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


# --- the journey -------------------------------------------------------------------------


async def test_list_agenda_at_cutoff_outcome_to_referrer_and_link_clinician(bot: Harness) -> None:
    user, jones, khan, admin = await _world(bot)
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    other = bot.fake.user(OTHER_REFERRER)
    # Referred through the bot on Sunday; Jones is its named clinician.
    bot.clock.set(WEDNESDAY - timedelta(days=3))
    opened = await _refer(bot, user, urgency="Urgent")
    assert "Case C-1" in opened and "Named clinician: Dr Alice Jones" in opened
    bot.clock.set(WEDNESDAY)
    listed = await _list(bot, jones, "/mdt_add C-1", "Biopsy here or at the centre?")
    assert "C-1 is listed for the MDT on Monday 30 November 2026" in listed
    await bot.runtime.drained()  # type: ignore[union-attr]
    for person in (user, khan):
        assert "C-1 will be discussed at the sarcoma MDT on Monday 30 November 2026" in (
            person.last().plain or ""
        )
        assert person.last().protect_content

    # Before the cut-off nothing is sent; at the cut-off the agenda goes out, once.
    assert await _sweep(bot, CUTOFF - timedelta(minutes=1)) == 0
    before = len(jones.messages())
    assert await _sweep(bot, CUTOFF + timedelta(minutes=1)) >= 1
    agenda = jones.messages()[before].plain or ""
    assert "The list for the MDT on Monday 30 November 2026 has closed" in agenda
    assert "C-1" in agenda and "Biopsy here or at the centre?" in agenda
    assert "Presenting: Dr Alice Jones" in agenda and NHS not in agenda
    assert "files: 0 · 4 days since referral" in agenda
    assert admin.buttons() == ["Agenda PDF"]
    await _sweep(bot, CUTOFF + timedelta(minutes=5))
    assert len([m for m in jones.messages() if "has closed" in (m.plain or "")]) == 1

    # The admin's PDF: a cover and one page per case.
    await press(bot, admin, "Agenda PDF")
    await bot.runtime.drained()  # type: ignore[union-attr]
    pages, text = _pdf_text(_documents(admin)[-1])
    assert pages == 2 and "C-1" in text and "Biopsy here or at the centre?" in text
    assert _documents(admin)[-1].protect_content

    # /mdt shows the agenda; the link clinician sees their centre's case, no NHS number.
    assert "C-1" in await say(bot, khan, "/mdt")
    assert NHS not in (khan.last().plain or "")

    # Not before the meeting day; on it, the presenting clinician records the outcome.
    assert "the outcome can be recorded from that day" in await say(bot, jones, "/mdt_outcome C-1")
    bot.clock.set(MEETING + timedelta(hours=2))
    await say(bot, jones, "/mdt_outcome C-1")
    assert "Biopsy at the sarcoma centre" in jones.buttons()
    await press(bot, jones, "Biopsy at the sarcoma centre")
    await say(bot, jones, "Core biopsy at the NOC on Monday's one-stop clinic. No local biopsy.")
    assert "Send this outcome for C-1" in (jones.last().plain or "")
    await press(bot, jones, "Confirm")
    assert "The outcome for C-1 is recorded and sent to" in (jones.last().plain or "")
    await bot.runtime.drained()  # type: ignore[union-attr]

    # Referrer and link clinician: text and PDF, protected, exactly once.
    for person in (user, khan):
        texts = [m for m in person.messages() if "MDT outcome for C-1" in (m.plain or "")]
        assert len(texts) == 1 and texts[0].protect_content
        assert "Biopsy at the sarcoma centre" in (texts[0].plain or "")
        pdfs = [m for m in _documents(person) if "MDT outcome C-1" in (m.plain or "")]
        assert len(pdfs) == 1 and pdfs[0].protect_content
        assert "Core biopsy at the NOC" in _pdf_text(pdfs[0])[1]
    # Nobody else: another referrer of the same centre hears nothing of it.
    assert not any("C-1" in t for t in other.texts())
    # Part of the case thread and the audit log.
    assert "Biopsy at the sarcoma centre" in await say(bot, user, "/case C-1")
    assert await _audit_count(bot, "mdt.outcome") == 1
    assert await _audit_count(bot, "mdt.listed") == 1
    # The governance figures move: one case discussed, its outcome by category and centre.
    async with bot.db.uow() as uow:
        report = await build_report(uow, bot.clock, LONDON, timedelta(hours=4))
    (day,) = [m for m in report.mdt_meetings if m.listed]
    assert (day.listed, day.decided) == (1, 1)
    assert dict(report.mdt_outcomes)["biopsy_centre"] == 1
    assert report.mdt_to_discussion.count == 1 and report.mdt_to_discussion.median == 8
    # Nothing rolls over: the case had its outcome.
    await _sweep(bot, MEETING + timedelta(days=1, hours=9))
    async with bot.db.uow() as uow:
        assert (await uow.mdt.active_listing(1)) is None


# --- who may list, and what ------------------------------------------------------------


async def test_listing_refused_for_closed_cases_others_and_twice(bot: Harness) -> None:
    user, jones, khan, _ = await _world(bot)
    await _case(bot)
    closed = await _case(bot)
    async with bot.db.uow() as uow:
        row = await uow.cases.get(closed)
        assert row is not None
        row.status = "closed"
        await uow.commit()
    assert "C-2 is closed, so it cannot go to the MDT" in await say(bot, jones, "/mdt_add C-2")
    # A link clinician and the referrer have no such command; another clinician is told
    # there is no such case for them.
    for person in (khan, user):
        assert "/mdt_add" not in await say(bot, person, "/mdt_add C-1")
        assert "listed" not in (person.last().plain or "")
    bone = bot.fake.user(BONE_ONLY)
    assert "There is no case C-1 that you can see" in await say(bot, bone, "/mdt_add C-1")
    # Listed once; a second time (either way in) says when.
    assert "is listed for the MDT" in await _list(bot, jones, "/mdt_add C-1")
    assert "C-1 is already listed for the MDT on Monday 30 November 2026" in await say(
        bot, jones, "/mdt_add C-1"
    )
    patel = bot.fake.user(PATEL)
    assert "already listed" in await say(bot, patel, "/mdt_add C-1")
    async with bot.db.uow() as uow:
        listings = (await uow._session.scalars(select(MdtListing))).all()
        assert len(listings) == 1
    # Taken off only with a reason, which the referrer hears; then it can be listed again.
    assert "/mdt_remove C-12 and the reason" in await say(bot, jones, "/mdt_remove C-1")
    removed = await say(bot, jones, "/mdt_remove C-1 Seen in clinic; no MDT question left")
    assert "C-1 is taken off the MDT of Monday 30 November 2026" in removed
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert "no longer on the MDT" in (user.last().plain or "")
    assert "Seen in clinic" in (user.last().plain or "")
    assert "is listed for the MDT" in await _list(bot, jones, "/mdt_add C-1")
    assert await _audit_count(bot, "mdt.removed") == 1


async def test_after_the_cutoff_the_following_meeting_unless_an_admin(bot: Harness) -> None:
    _, jones, _, admin = await _world(bot)
    await _case(bot)
    await _case(bot)
    bot.clock.set(CUTOFF + timedelta(minutes=1))
    told = await _list(bot, jones, "/mdt_add C-1")
    assert "is listed for the MDT on Monday 7 December 2026" in told
    assert (
        "The list for the MDT on Monday 30 November 2026 closed on Thursday 26 November"
        in (jones.texts()[-2])
    )
    # An admin can still add a case to the nearer meeting: its agenda goes out at the
    # next sweep; a case added after that reaches the presenter on its own.
    assert "C-2 is listed for the MDT on Monday 30 November 2026" in await _list(
        bot, admin, "/mdt_add C-2 2026-11-30"
    )
    await _sweep(bot, CUTOFF + timedelta(minutes=2))
    assert "has closed" in (jones.last().plain or "") and "C-2" in (jones.last().plain or "")
    await _case(bot)
    assert "C-3 is listed for the MDT on Monday 30 November 2026" in await _list(
        bot, admin, "/mdt_add C-3 2026-11-30"
    )
    await bot.runtime.drained()  # type: ignore[union-attr]
    late = jones.last().plain or ""
    assert "Added to the MDT of Monday 30 November 2026 after its agenda went out: C-3" in late


async def test_cancelled_dates_and_bank_holidays_are_skipped(bot: Harness) -> None:
    _, jones, _, _ = await _world(bot)
    await _case(bot)
    await _case(bot)
    async with bot.db.uow() as uow:  # 30 Nov cancelled; 7 Dec a bank holiday (listed as cancelled)
        for day in (date(2026, 11, 30), date(2026, 12, 7)):
            assert await mdt.cancel(uow, day, bot.clock.now(), LONDON, "test") == (True, [])
        await uow.commit()
    assert "There is no MDT meeting on Monday 30 November 2026" in await say(
        bot, jones, "/mdt_add C-1 2026-11-30"
    )
    assert "is listed for the MDT on Monday 14 December 2026" in await _list(
        bot, jones, "/mdt_add C-1"
    )
    # Cancelling a date with cases on it moves them to the next meeting, and says so.
    async with bot.db.uow() as uow:
        changed, rolled = await mdt.cancel(uow, date(2026, 12, 14), bot.clock.now(), LONDON, "t")
        assert changed and [r.meeting.day for r in rolled] == [date(2026, 12, 21)]
        await uow.commit()
    assert await _audit_count(bot, "mdt.cancelled") == 3


async def test_the_cutoff_on_the_night_the_clocks_change(bot: Harness) -> None:
    """Clocks go forward at 01:00 GMT on Sunday 29 March 2026: a cut-off of Sunday 01:30
    does not exist that night and falls at the first instant after the change (02:00 BST,
    01:00 UTC)."""
    bot.clock.set(datetime(2026, 3, 25, 10, 0, tzinfo=UTC))
    await _directory(bot)
    await _mdt_clinic(bot, cutoff_weekday=6, cutoff_time="01:30")
    await _referrer(bot)
    jones = bot.fake.user(JONES)
    async with bot.db.uow() as uow:
        clinic = await uow.clinics.get("mdt")
        assert clinic is not None
        meeting = mdt.meeting_on(clinic, date(2026, 3, 30), LONDON)
    assert meeting.cutoff_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert meeting.starts_at == datetime(2026, 3, 30, 12, 0, tzinfo=UTC)  # 13:00 BST
    await _case(bot)
    await _case(bot)
    bot.clock.set(datetime(2026, 3, 29, 0, 59, tzinfo=UTC))
    assert "listed for the MDT on Monday 30 March 2026" in await _list(bot, jones, "/mdt_add C-1")
    bot.clock.set(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))
    assert "listed for the MDT on Monday 6 April 2026" in await _list(bot, jones, "/mdt_add C-2")


# --- outcomes ------------------------------------------------------------------------------


async def _listed_and_meeting_day(bot: Harness) -> tuple[FakeUser, FakeUser, FakeUser, FakeUser]:
    user, jones, khan, admin = await _world(bot)
    await _case(bot)
    await _list(bot, jones, "/mdt_add C-1")
    bot.clock.set(MEETING + timedelta(hours=1))
    return user, jones, khan, admin


async def test_an_outcome_for_a_case_not_listed_is_refused(bot: Harness) -> None:
    _, jones, _, _ = await _world(bot)
    await _case(bot)
    assert "C-1 is not listed for an MDT meeting" in await say(bot, jones, "/mdt_outcome C-1")


async def test_two_people_recording_an_outcome_at_once_one_wins(bot: Harness) -> None:
    user, jones, _, admin = await _listed_and_meeting_day(bot)
    for person, words in ((jones, "Surgery at the NOC."), (admin, "Biopsy first.")):
        await say(bot, person, "/mdt_outcome C-1")
        await press(bot, person, "Surgery at the sarcoma centre")
        await say(bot, person, words)
    # Both press Confirm; the updates are handled side by side (two users, two lanes).
    first, second = jones.press("Confirm"), admin.press("Confirm")
    await bot.handled(max(first, second))
    await bot.runtime.drained()  # type: ignore[union-attr]
    answers = [jones.last().plain or "", admin.last().plain or ""]
    assert sum("is recorded and sent" in a for a in answers) == 1, answers
    assert sum("was already recorded" in a for a in answers) == 1, answers
    outcomes = [m for m in user.messages() if "MDT outcome for C-1" in (m.plain or "")]
    assert len(outcomes) == 1
    assert await _audit_count(bot, "mdt.outcome") == 1


async def test_a_restart_mid_outcome_conversation_goes_on(bot: Harness) -> None:
    user, jones, _, _ = await _listed_and_meeting_day(bot)
    await say(bot, jones, "/mdt_outcome C-1")
    await press(bot, jones, "Not sarcoma: manage locally")
    await bot.restart()
    await say(bot, jones, "Lipoma on MRI; manage locally, re-refer if it grows.")
    await press(bot, jones, "Confirm")
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert any("Not sarcoma: manage locally" in t for t in user.texts())


async def test_no_outcome_by_the_end_of_the_day_rolls_over_and_reminds(bot: Harness) -> None:
    user, jones, khan, _ = await _listed_and_meeting_day(bot)
    # Still the meeting day: nothing rolls.
    await _sweep(bot, MEETING + timedelta(hours=10))
    async with bot.db.uow() as uow:
        found = await uow.mdt.active_listing(1)
        assert found is not None and found[1].meeting_date == date(2026, 11, 30)
    # After midnight: listed for the next Monday; the referrer hears; no reminder yet.
    await _sweep(bot, datetime(2026, 12, 1, 0, 5, tzinfo=UTC))
    async with bot.db.uow() as uow:
        found = await uow.mdt.active_listing(1)
        assert found is not None and found[1].meeting_date == date(2026, 12, 7)
    assert "C-1 was not reached at the MDT on Monday 30 November 2026" in (user.last().plain or "")
    assert "not reached" in (khan.last().plain or "")
    assert not any("No outcome was recorded" in t for t in jones.texts())
    # The next morning, the presenting clinician, once.
    await _sweep(bot, datetime(2026, 12, 1, 8, 1, tzinfo=UTC))
    await _sweep(bot, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    reminders = [t for t in jones.texts() if "No outcome was recorded for C-1" in t]
    assert len(reminders) == 1 and "Monday 7 December 2026" in reminders[0]
    assert await _audit_count(bot, "mdt.rolled_over") == 1


async def test_sixty_cases_on_one_agenda(bot: Harness) -> None:
    _, _, _, admin = await _world(bot)
    for n in range(60):
        await _case(bot, urgency="urgent" if n % 3 == 0 else "routine", days_ago=n % 10)
    async with bot.db.uow() as uow:
        person = await uow.people.by_telegram_id(JONES)
        assert person is not None
        for case_id in range(1, 61):
            case = await uow.cases.get(case_id)
            assert case is not None
            result = await mdt.list_case(
                uow, person, case, f"Question {case_id} " + "x" * 150, bot.clock.now(), LONDON
            )
            assert not isinstance(result, str)
        await uow.commit()
    before = len(admin.messages())
    await say(bot, admin, "/mdt")
    parts = admin.messages()[before:]
    # Telegram's limit: 4096 characters (UTF-16 units) of the text as shown.
    assert len(parts) > 1
    assert all(len((m.plain or "").encode("utf-16-le")) // 2 <= 4096 for m in parts)
    text = "\n".join(m.plain or "" for m in parts)
    assert all(f"C-{n} " in text or f"C-{n}\n" in text for n in range(1, 61))
    # Urgent first.
    assert text.index("C-1 ") < text.index("C-2 ")
    await press(bot, admin, "Agenda PDF")
    await bot.runtime.drained()  # type: ignore[union-attr]
    pages, _ = _pdf_text(_documents(admin)[-1])
    assert pages == 61


async def test_the_retention_purge_clears_the_meetings_words_and_keeps_the_facts(
    bot: Harness,
) -> None:
    _, jones, _, _ = await _listed_and_meeting_day(bot)
    await say(bot, jones, "/mdt_outcome C-1")
    await press(bot, jones, "Oncology referral")
    await say(bot, jones, "Refer to oncology for neoadjuvant radiotherapy.")
    await press(bot, jones, "Confirm")
    async with bot.db.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None
        case.status, case.closed_at = "closed", bot.clock.now()
        await uow.commit()
    eight_years = timedelta(days=2922)
    await purge(bot.db, bot.clock.now() + eight_years + timedelta(days=1), eight_years)
    async with bot.db.uow() as uow:
        (listing,) = (await uow._session.scalars(select(MdtListing))).all()
        assert listing.question is None and listing.outcome_text is None
        assert listing.outcome == "oncology" and listing.outcome_at is not None
        assert listing.purged_at is not None


async def test_a_case_waiting_for_the_mdt_is_not_closed(bot: Harness) -> None:
    _, jones, _, _ = await _world(bot)
    await _case(bot)
    await _list(bot, jones, "/mdt_add C-1")
    await say(bot, jones, "/close C-1")
    told = await press(bot, jones, "Close case")
    assert "C-1 is listed for the MDT on Monday 30 November 2026" in told
    assert "/mdt_remove C-1" in told
    async with bot.db.uow() as uow:
        case = await uow.cases.get(1)
        assert case is not None and case.status == "open"
    await say(bot, jones, "/mdt_remove C-1 Treated elsewhere")
    await say(bot, jones, "/close C-1")
    assert "C-1 is closed" in await press(bot, jones, "Close case")


async def test_bad_input_to_the_mdt_commands(bot: Harness) -> None:
    _, jones, _, admin = await _world(bot)
    await _case(bot)
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    # Unknown references and bad dates get the same plain answers as elsewhere.
    assert "There is no case C-999 that you can see" in await say(bot, jones, "/mdt_add C-999")
    assert "There is no case C-999 that you can see" in await say(bot, jones, "/mdt_outcome C-999")
    assert "/mdt_add C-12 YYYY-MM-DD" in await say(bot, jones, "/mdt_add C-1 next-monday")
    assert "/mdt YYYY-MM-DD" in await say(bot, admin, "/mdt 2026-13-45")
    # In the question step: a photo is not a question; 5000 characters are too many.
    await say(bot, jones, "/mdt_add C-1")
    await bot.handled(jones.send_photo())
    assert "Please type the question for the meeting" in " ".join(jones.texts()[-2:])
    await say(bot, jones, "x" * 5000)
    assert "is listed" not in (jones.last().plain or "")
    assert "listed for the MDT" in await say(bot, jones, "Biopsy here?")
    # The outcome's words: 5000 characters are refused, the question asked again.
    bot.clock.set(MEETING + timedelta(hours=1))
    await say(bot, jones, "/mdt_outcome C-1")
    await press(bot, jones, "Further imaging locally")
    await say(bot, jones, "y" * 5000)
    assert "What did the MDT decide for C-1" in (jones.last().plain or "")
    async with bot.db.uow() as uow:
        found = await uow.mdt.active_listing(1)
        assert found is not None and found[0].outcome is None
    # Someone else's case: the other referrer has no MDT commands at all.
    other = bot.fake.user(OTHER_REFERRER)
    assert "Biopsy" not in await say(bot, other, "/mdt")
    assert not any("C-1" in t for t in other.texts())

"""`referral-bot mdt agenda` and `referral-bot mdt cancel` as an operator runs them: a
real process on SQLite and PostgreSQL, one-line answers, real exit codes. Made-up people;
NHS test number 943 476 5919."""

from __future__ import annotations

import base64
import csv
import io
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from services import mdt
from services.mdt_agenda import day_words
from storage.crypto import Keyring
from storage.models import (
    AuditEntry,
    Case,
    Centre,
    Clinic,
    MdtListing,
    OutboxMessage,
    Person,
    PersonStatus,
    Role,
)
from storage.uow import Database
from tests.conftest import BACKENDS
from tests.processes import fresh_key, start, throwaway_database

LONDON = ZoneInfo("Europe/London")  # the default TIMEZONE
NHS = "9434765919"
REFERRER_CHAT = 9_400_001


@pytest.fixture(params=BACKENDS)
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The settings of a CLI run against a fresh SQLite file or PostgreSQL database."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")}
    settings = {
        **base,
        "COLUMNS": "200",
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "TIMEZONE": "Europe/London",
    }
    if request.param == "sqlite":
        yield {**settings, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db"}
        return
    async with throwaway_database("mdt_cli") as url:
        yield {**settings, "DATABASE_URL": url}


async def cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    process = await start(env, cwd, *args)
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _database(env: dict[str, str]) -> Database:
    decode = base64.urlsafe_b64decode
    keyring = Keyring((decode(env["ENCRYPTION_KEYS"]),), decode(env["INDEX_KEY"]))
    return Database(env["DATABASE_URL"], keyring)


async def _listed_case(env: dict[str, str]) -> tuple[int, date]:
    """An MDT clinic (Mondays 13:00, cut-off Thursday 17:00) and a case listed for its
    next meeting now; returns the case's id and the meeting's day."""
    now = datetime.now(UTC)
    db = _database(env)
    await db.migrate()
    async with db.uow() as uow:
        uow.centres.add(Centre(id="rbh", name="Royal Berkshire Hospital", created_at=now))
        uow.clinics.add(
            Clinic(
                id="sarcoma-mdt",
                kind="mdt",
                name="Sarcoma MDT",
                weekday=0,
                time="13:00",
                location="Seminar room 2",
                cutoff_weekday=3,
                cutoff_time="17:00",
            )
        )
        jones = Person(role=Role.CLINICIAN, name="Dr Alice Jones", created_at=now)
        referrer = Person(
            role=Role.REFERRER,
            name="Dr Ravi Patel",
            centre_id="rbh",
            telegram_user_id=REFERRER_CHAT,
            created_at=now,
        )
        for person in (jones, referrer):
            person.status = PersonStatus.ACTIVE
            uow.people.add(person)
        await uow.flush()
        case = Case(
            referrer_id=referrer.id,
            centre_id="rbh",
            nhs_number=NHS,
            date_of_birth="1970-05-04",
            site="Left thigh",
            summary="Deep 6 cm mass, left thigh.",
            tumour_type="soft_tissue",
            urgency="urgent",
            status="open",
            named_clinician_id=jones.id,
            created_at=now - timedelta(days=5),
        )
        uow.cases.add(case)
        await uow.flush()
        listed = await mdt.list_case(uow, jones, case, "Biopsy here or at the centre?", now, LONDON)
        assert isinstance(listed, mdt.Listed), listed
        await uow.commit()
        result = case.id, listed.meeting.day
    await db.dispose()
    return result


async def _after_cancel(env: dict[str, str], case_id: int) -> tuple[date, list[str], list[tuple]]:
    """The meeting the case now waits for, its listings' statuses, the audit entries."""
    db = _database(env)
    async with db.uow() as uow:
        found = await uow.mdt.active_listing(case_id)
        assert found is not None
        statuses = [listing.status for listing, _ in await uow.mdt.of_case(case_id)]
        entries = (
            await uow._session.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.subject)
                .where(AuditEntry.action.like("mdt.%"))
                .order_by(AuditEntry.id)
            )
        ).all()
        listings = (await uow._session.scalars(select(MdtListing))).all()
        assert all(listing.question == "Biopsy here or at the centre?" for listing in listings)
    await db.dispose()
    return found[1].meeting_date, statuses, [tuple(e) for e in entries]


async def test_cancel_moves_listed_cases_to_the_next_meeting(
    env: dict[str, str], tmp_path: Path
) -> None:
    case_id, day = await _listed_case(env)
    code, out, err = await cli(env, tmp_path, "mdt", "cancel", day.isoformat())
    assert code == 0, err
    next_week = day + timedelta(weeks=1)
    assert out.strip() == (
        f"MDT of {day_words(day)} cancelled; 1 listed case moved to {day_words(next_week)}"
    )
    # The referrer is told the new date: queued on the outbox for the running bot to send.
    db = _database(env)
    async with db.uow() as uow:
        queued = (
            await uow._session.scalars(
                select(OutboxMessage).where(OutboxMessage.chat_id == REFERRER_CHAT)
            )
        ).all()
        assert [m.protect_content for m in queued] == [True]
        assert f"is now listed for {day_words(next_week)}" in (queued[0].payload or "")
    await db.dispose()
    waits_for, statuses, entries = await _after_cancel(env, case_id)
    assert waits_for == next_week and statuses == ["rolled", "listed"]
    assert ("cli", "mdt.cancelled", f"mdt:{day.isoformat()}") in entries
    assert [e[1] for e in entries] == ["mdt.listed", "mdt.rolled_over", "mdt.cancelled"]

    again, out, err = await cli(env, tmp_path, "mdt", "cancel", day.isoformat())
    assert again == 0, err
    assert out.strip() == f"MDT of {day_words(day)} already cancelled"
    assert (await _after_cancel(env, case_id))[2] == entries  # nothing more happened

    code, out, _ = await cli(env, tmp_path, "audit", "verify")
    assert code == 0 and "intact" in out


async def test_cancel_refuses_a_day_without_an_mdt_and_a_past_one(
    env: dict[str, str], tmp_path: Path
) -> None:
    case_id, day = await _listed_case(env)
    tuesday = day + timedelta(days=1)
    code, out, err = await cli(env, tmp_path, "mdt", "cancel", tuesday.isoformat())
    assert code == 1 and out == ""
    assert err.strip() == f"cannot cancel {day_words(tuesday)}: not an MDT day"
    past = day - timedelta(weeks=2)
    code, out, err = await cli(env, tmp_path, "mdt", "cancel", past.isoformat())
    assert code == 1 and out == ""
    assert err.strip() == f"cannot cancel the MDT of {day_words(past)}: it is in the past"
    code, _, err = await cli(env, tmp_path, "mdt", "cancel", "2026-13-01")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "YYYY-MM-DD" in err
    assert "Traceback" not in err
    waits_for, statuses, entries = await _after_cancel(env, case_id)
    assert (waits_for, statuses) == (day, ["listed"])
    assert [e[1] for e in entries] == ["mdt.listed"]


async def test_agenda_as_pdf_and_csv(env: dict[str, str], tmp_path: Path) -> None:
    case_id, day = await _listed_case(env)
    code, out, err = await cli(
        env, tmp_path, "mdt", "agenda", "--date", day.isoformat(), "--out", "agenda.pdf"
    )
    assert code == 0, err
    assert out.strip() == f"written agenda.pdf: 1 case on the agenda of the MDT of {day_words(day)}"
    pages = PdfReader(tmp_path / "agenda.pdf").pages
    assert len(pages) == 2
    text = " ".join(pages[1].extract_text().split())
    assert f"1. C-{case_id} — Urgent, Soft tissue" in text
    assert "NHS number: 943 476 5919" in text and "Biopsy here or at the centre?" in text

    code, out, err = await cli(
        env, tmp_path, "mdt", "agenda", "--date", day.isoformat(), "--out", "agenda.csv"
    )
    assert code == 0, err
    assert "written agenda.csv: 1 case" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "agenda.csv").read_text())))
    assert [(r["case"], r["nhs_number"], r["urgency"]) for r in rows] == [
        (f"C-{case_id}", NHS, "Urgent")
    ]
    code, out, err = await cli(
        env,
        tmp_path,
        "mdt",
        "agenda",
        "--date",
        day.isoformat(),
        "--out",
        "a.txt",
        "--format",
        "csv",
    )
    assert code == 0, err
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "agenda.csv").read_text()

    # A day with nothing listed: an agenda saying so.
    empty = day + timedelta(weeks=1)
    code, out, err = await cli(
        env, tmp_path, "mdt", "agenda", "--date", empty.isoformat(), "--out", "empty.pdf"
    )
    assert code == 0, err
    assert out.strip() == f"written empty.pdf: no cases listed for the MDT of {day_words(empty)}"
    (cover,) = PdfReader(tmp_path / "empty.pdf").pages
    assert "No cases are listed for this meeting." in cover.extract_text()
    code, out, err = await cli(
        env, tmp_path, "mdt", "agenda", "--date", empty.isoformat(), "--out", "empty.csv"
    )
    assert code == 0 and "no cases listed" in out
    assert (tmp_path / "empty.csv").read_text().startswith("position,case,urgency,tumour_type")

    # Wrong input: one line, exit 2, nothing written.
    for args, wanted in [
        (("--date", "14/12/2026", "--out", "x.pdf"), "--date: '14/12/2026' is not a date"),
        (("--date", day.isoformat(), "--out", "x.pdf", "--format", "docx"), "--format: 'docx'"),
    ]:
        code, out, err = await cli(env, tmp_path, "mdt", "agenda", *args)
        assert code == 2 and len(err.strip().splitlines()) == 1 and wanted in err, err
        assert not (tmp_path / "x.pdf").exists()

    db = _database(env)
    async with db.uow() as uow:
        actions = (
            await uow._session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "mdt.agenda_exported")
            )
        ).all()
    await db.dispose()
    assert len(actions) == 5

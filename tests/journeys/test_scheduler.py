"""The timed jobs (bot/jobs.py) as they run: a real `referral-bot run` process with short
intervals does each job's work, seen from outside (messages at the fake, the database,
the log); and the nightly purge runs once a night however many processes share the
database."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from bot.config import load_settings
from bot.jobs import JOBS, NightlyPurge, run_sweeps
from core.clock import FakeClock
from services.retention import PURGE_LOCK_CLASS, PurgeResult, Skipped, purge_once
from storage.crypto import Keyring
from storage.models import (
    AuditEntry,
    Case,
    Clinic,
    ConversationState,
    MdtListing,
    Person,
    Query,
    Reminder,
    Role,
    ThreadMessage,
)
from storage.uow import Database
from tests.conftest import BACKENDS, TEST_DATABASE_URL
from tests.fakes import FakeBotAPI
from tests.journeys.conftest import Harness
from tests.processes import start, throwaway_database

JONES, DEPUTY, REFERRER, ADMIN = 7_300_001, 7_300_002, 7_300_003, 7_300_004
SHORT = "0.5"  # seconds: every sweep runs a few times within a test


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.fixture(params=BACKENDS)
async def bot_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL for a separate process: a SQLite file or a throw-away PostgreSQL
    database (a process cannot be pointed at a test schema)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/bot.db"
        return
    async with throwaway_database("t_sched") as url:
        yield url


def _person(role: Role, name: str, telegram_id: int, now: datetime) -> Person:
    return Person(role=role, name=name, telegram_user_id=telegram_id, created_at=now)


def _case(referrer: Person, now: datetime, **fields: object) -> Case:
    return Case(
        referrer_id=referrer.id,
        nhs_number="9434765919",
        date_of_birth="1970-05-04",
        site="Left thigh",
        summary="Made-up summary",
        tumour_type="soft_tissue",
        urgency="routine",
        created_at=now - timedelta(days=10),
        **fields,
    )


async def _before_start(db: Database, now: datetime) -> None:
    """The service as the bot finds it: people, an open case, a case closed three days
    ago (past RETENTION_DAYS=1) and a purge on record from two nights ago."""
    async with db.uow() as uow:
        jones = _person(Role.CLINICIAN, "Dr Alice Jones", JONES, now)
        deputy = _person(Role.CLINICIAN, "Dr Ravi Patel", DEPUTY, now)
        referrer = _person(Role.REFERRER, "Dr Sam Lee", REFERRER, now)
        admin = _person(Role.ADMIN, "Kim Coordinator", ADMIN, now)
        for person in (jones, deputy, referrer, admin):
            uow.people.add(person)
        await uow.flush()
        uow._session.add(_case(referrer, now, named_clinician_id=jones.id, deputy_id=deputy.id))
        closed = _case(referrer, now, status="closed", closed_at=now - timedelta(days=3))
        uow._session.add(closed)
        await uow.flush()
        uow._session.add(ThreadMessage(case_id=closed.id, body="Old message", created_at=now))
        await uow.audit.record(now - timedelta(days=2), "system", "retention.purged", "")
        await uow.commit()


async def _after_start(db: Database, now: datetime) -> None:
    """Work that falls due once the bot runs, so only its timed jobs can do it: a follow-up
    reminder, a query unacknowledged past ACK_SLA, a conversation idle past its time."""
    async with db.uow() as uow:
        case = await uow._session.scalar(select(Case).where(Case.status == "open"))
        jones = await uow.people.by_telegram_id(JONES)
        referrer = await uow.people.by_telegram_id(REFERRER)
        assert case is not None and jones is not None and referrer is not None
        uow._session.add(
            Reminder(
                kind="followup",
                case_id=case.id,
                recipient_id=jones.id,
                due_at=now - timedelta(minutes=1),
                note="Check the MRI report",
                created_at=now,
            )
        )
        query = Query(case_id=case.id, asked_by_id=referrer.id, created_at=now - timedelta(hours=5))
        uow._session.add(query)
        await uow.flush()
        uow._session.add(
            ThreadMessage(
                case_id=case.id,
                query_id=query.id,
                author_id=referrer.id,
                body="Is an urgent MRI needed?",
                created_at=query.created_at,
            )
        )
        uow._session.add(
            ConversationState(
                telegram_user_id=REFERRER,
                name="ask",
                state="text",
                updated_at=now - timedelta(hours=1),
                expires_at=now - timedelta(minutes=1),
            )
        )
        # An MDT whose list closed a minute ago, with the case on it (no presenter: the
        # agenda goes to the admins).
        uow.clinics.add(
            Clinic(
                id="mdt",
                kind="mdt",
                name="Sarcoma MDT",
                weekday=(now + timedelta(days=2)).weekday(),
                time="13:00",
                cutoff_weekday=now.weekday(),
                cutoff_time="00:00",
                location="NOC",
            )
        )
        await uow.flush()
        meeting = await uow.mdt.meeting_for(
            "mdt",
            (now + timedelta(days=2)).date(),
            now + timedelta(days=2),
            now - timedelta(minutes=1),
        )
        uow.mdt.add(
            MdtListing(
                case_id=case.id,
                meeting_id=meeting.id,
                status="listed",
                question="Biopsy here?",
                listed_by_id=jones.id,
                created_at=now,
            )
        )
        await uow.audit.record(now, "test", "test.seeded", "")
        await uow.commit()


async def _wait_for_log(log: Path, pattern: str, process: asyncio.subprocess.Process) -> str:
    started = time.monotonic()
    while time.monotonic() - started < 60:
        found = re.findall(pattern, log.read_text())
        if found:
            return str(found[-1])
        assert process.returncode is None, log.read_text()[-3000:]
        await asyncio.sleep(0.1)
    raise AssertionError(f"never logged {pattern!r}: {log.read_text()[-3000:]}")


async def test_every_timed_job_runs_in_a_running_bot(
    fake: FakeBotAPI, bot_database: str, tmp_path: Path
) -> None:
    keyring = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
    db = Database(bot_database, keyring)
    await db.migrate()
    await _before_start(db, datetime.now(UTC))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "ENCRYPTION_KEYS": _b64(keyring.keys[0]),
        "INDEX_KEY": _b64(keyring.index_key),
        "DATABASE_URL": bot_database,
        "HEALTH_PORT": "0",
        "RETENTION_DAYS": "1",
        "CONVERSATION_SWEEP_SECONDS": SHORT,
        "REMINDER_SWEEP_SECONDS": SHORT,
        "ESCALATION_SWEEP_SECONDS": SHORT,
        "PURGE_CHECK_SECONDS": SHORT,
        "AUDIT_HEAD_MINUTES": "0.01",
        "MDT_SWEEP_SECONDS": SHORT,
        "PURGE_AT": "00:00",  # passed today already: last night's purge is due
    }
    log = tmp_path / "bot.log"
    process = await start(env, tmp_path, log=log)
    try:
        first_head = await _wait_for_log(log, r"audit head: entry (\d+)", process)
        await _wait_for_log(log, r"bot started", process)
        await _after_start(db, datetime.now(UTC))
        jones, deputy, referrer = fake.user(JONES), fake.user(DEPUTY), fake.user(REFERRER)

        # reminders: the follow-up reminder that fell due reaches the clinician.
        await jones.wait_messages(1, timeout=30)
        assert "Follow-up reminder for case C-1: Check the MRI report" in jones.last().plain
        # escalations: the query nobody acknowledged goes to the deputy.
        await deputy.wait_messages(1, timeout=30)
        assert "As deputy, please pick it up" in deputy.last().plain
        assert "Is an urgent MRI needed?" in deputy.last().plain
        # expire-conversations: the idle conversation ends and its user is told.
        await referrer.wait_messages(1, timeout=30)
        assert "closed after 30 minutes without an answer" in referrer.last().plain
        # mdt: the agenda of the meeting whose list closed goes to the admins.
        admin = fake.user(ADMIN)
        await admin.wait_messages(1, timeout=30)
        assert "has closed" in admin.last().plain and "Biopsy here?" in admin.last().plain
        # audit-head: the logged head moves on with the chain.
        later_head = await _wait_for_log(
            log, rf"audit head: entry (?!{first_head}\b)(\d+)", process
        )
        assert int(later_head) > int(first_head)
        # retention-purge: the case closed past RETENTION_DAYS is purged, and audited once.
        await _wait_for_log(log, r"retention purge: \{'cases': 1", process)
        async with db.uow() as uow:
            closed = await uow._session.scalar(select(Case).where(Case.status == "closed"))
            assert closed is not None and closed.purged_at is not None and closed.site is None
            body = await uow._session.scalar(
                select(ThreadMessage.body_enc).where(ThreadMessage.case_id == closed.id)
            )
            assert body is None
            purges = await uow._session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "retention.purged")
            )
            assert purges == 2  # the one on record, and tonight's
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), timeout=30)
        await db.dispose()
    written = log.read_text()
    assert process.returncode == 0, written[-3000:]
    assert "Traceback" not in written, written[-3000:]
    assert not re.search(r"job \S+ failed|purge failed", written), written[-3000:]
    assert {job.name for job in JOBS} == {
        "expire-conversations",
        "reminders",
        "escalations",
        "mdt",
        "audit-head",
        "retention-purge",
    }


async def test_run_sweeps_runs_the_tables_sweeps_on_the_services_clock(bot: Harness) -> None:
    """What the sandbox calls after moving its clock: the same jobs as the scheduler's."""
    assert [job.name for job in JOBS if job.sweep] == [
        "expire-conversations",
        "reminders",
        "escalations",
        "mdt",
    ]
    assert bot.runtime is not None
    async with bot.db.uow() as uow:
        uow._session.add(
            ConversationState(
                telegram_user_id=REFERRER,
                name="ask",
                state="text",
                updated_at=bot.clock.now(),
                expires_at=bot.clock.now() + timedelta(minutes=30),
            )
        )
        await uow.commit()
    assert await run_sweeps(bot.runtime) == 0
    bot.clock.advance(timedelta(minutes=31))
    assert await run_sweeps(bot.runtime) == 1
    await bot.runtime.drained()
    assert "closed after 30 minutes" in bot.fake.user(REFERRER).last().plain


# ------------------------------------------------------------- the purge, once a night


async def _purges(db: Database) -> int:
    async with db.uow() as uow:
        return int(
            await uow._session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "retention.purged")
            )
            or 0
        )


def _settings(url: str, keyring: Keyring) -> object:
    return load_settings(
        DATABASE_URL=url,
        ENCRYPTION_KEYS=_b64(keyring.keys[0]),
        INDEX_KEY=_b64(keyring.index_key),
        TIMEZONE="Europe/London",
        PURGE_AT="03:30",
    )


async def test_nightly_purge_is_due_at_purge_at_and_makes_up_a_missed_night(
    db: Database, keyring: Keyring, clock: FakeClock
) -> None:
    settings = _settings(db.url, keyring)
    nightly = NightlyPurge(db, clock, settings)  # type: ignore[arg-type]
    assert clock.now() == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    assert await nightly() is None  # a new database: nothing until 03:30 comes round
    clock.set(datetime(2026, 11, 3, 3, 29, tzinfo=UTC))  # GMT in November: 03:29 local
    assert await nightly() is None and await _purges(db) == 0
    clock.advance(timedelta(minutes=2))
    assert isinstance(await nightly(), PurgeResult)
    clock.advance(timedelta(hours=20))
    assert await nightly() is None and await _purges(db) == 1  # once that night

    # Every process down over two nights: the next one to start makes up for them, once.
    clock.set(datetime(2026, 11, 5, 10, 0, tzinfo=UTC))
    restarted = NightlyPurge(db, clock, settings)  # type: ignore[arg-type]
    assert isinstance(await restarted(), PurgeResult)
    assert await restarted() is None and await _purges(db) == 2
    # Another process starting after tonight's purge finds it done.
    late = NightlyPurge(db, clock, settings)  # type: ignore[arg-type]
    assert await late() is None and await _purges(db) == 2


pg_only = [
    pytest.mark.postgres,
    pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set"),
]


@pytest.fixture
async def two_processes(database_url: dict, keyring: Keyring) -> AsyncIterator[list[Database]]:
    """Two engines on one PostgreSQL schema, as two bot processes would have."""
    if "schema" not in database_url:
        pytest.skip("several processes share a database on PostgreSQL only")
    made = [Database(database_url["url"], keyring, **database_url["engine_kwargs"]) for _ in "ab"]
    await made[0].migrate()
    try:
        yield made
    finally:
        for database in made:
            await database.dispose()


@pytest.mark.parametrize("database_url", [BACKENDS[1]], indirect=True)
async def test_two_processes_purge_once_a_night(
    two_processes: list[Database], keyring: Keyring, clock: FakeClock
) -> None:
    a_db, b_db = two_processes
    settings = _settings(a_db.url, keyring)
    a = NightlyPurge(a_db, clock, settings)  # type: ignore[arg-type]
    b = NightlyPurge(b_db, clock, settings)  # type: ignore[arg-type]
    assert await asyncio.gather(a(), b()) == [None, None]
    for night in (3, 4):
        clock.set(datetime(2026, 11, night, 3, 30, 5, tzinfo=UTC))
        outcomes = await asyncio.gather(a(), b())  # both check at 03:30 at once
        assert sum(isinstance(o, PurgeResult) for o in outcomes) == 1, outcomes
        clock.advance(timedelta(minutes=1))
        await asyncio.gather(a(), b())  # the one that found the lock taken checks again
        assert await _purges(a_db) == night - 2, outcomes


@pytest.mark.parametrize("database_url", [BACKENDS[1]], indirect=True)
async def test_a_purge_under_way_elsewhere_is_left_to_it(
    two_processes: list[Database], database_url: dict, clock: FakeClock
) -> None:
    a_db, b_db = two_processes
    due = clock.now() - timedelta(hours=1)
    async with b_db.engine.connect() as other:  # another process, purging right now
        await other.execute(
            text("SELECT pg_advisory_lock(:c, hashtext(current_schema()))"),
            {"c": PURGE_LOCK_CLASS},
        )
        await other.commit()
        assert await purge_once(a_db, clock.now(), timedelta(days=1), due) is Skipped.ELSEWHERE
        assert await _purges(a_db) == 0
        await other.execute(
            text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"),
            {"c": PURGE_LOCK_CLASS},
        )
        await other.commit()
    assert isinstance(await purge_once(a_db, clock.now(), timedelta(days=1), due), PurgeResult)
    assert await purge_once(b_db, clock.now(), timedelta(days=1), due) is Skipped.DONE
    assert await _purges(a_db) == 1

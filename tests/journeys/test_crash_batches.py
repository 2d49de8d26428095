"""kill -9 of a real `referral-bot run` process in the two windows of durable intake where a
whole batch hangs on one transaction: while a getUpdates batch is being stored (one
statement, before the batch is acknowledged), and while a grouped commit is open (several
users' handlers done, their replies and "done" marks not yet committed). After a restart
on the same database and the same fake, nothing is lost and nothing is applied twice.
Each test runs on SQLite (a file, one process) and on PostgreSQL (a throw-away database).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.clock import FakeClock
from storage.crypto import Keyring
from storage.models import Case
from storage.uow import Database
from tests.conftest import BACKENDS
from tests.fakes import FakeBotAPI, FakeUser
from tests.journeys.test_availability import BotProcess
from tests.journeys.test_cases import JONES, NHS, _directory, _referrer
from tests.journeys.test_registration import REFERRER
from tests.processes import bot_env, throwaway_database
from tests.test_attachment_check import pdf_bytes

PRIVACY = "What this bot stores"
HELP = "What you can do"
WELCOME = "Sarcoma referral advice"
# Commands any stranger may use, and the start of each answer.
COMMANDS = {"/privacy": PRIVACY, "/help": HELP, "/start": WELCOME}


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The bot's database URL: a SQLite file, or a throw-away PostgreSQL database (a
    separate process cannot be pointed at a test schema)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/bot.db"
        return
    async with throwaway_database("t_crash") as url:
        yield url


@pytest.fixture
async def bots(
    fake: FakeBotAPI, database: str, keyring: Keyring, tmp_path: Path
) -> AsyncIterator[list[BotProcess]]:
    """Two `referral-bot run` processes on the same database and fake, run one after the
    other: the first is killed, the second restarts after it."""
    env = bot_env(fake, database, keyring)
    made = [BotProcess(name, env, tmp_path) for name in ("first", "second")]
    try:
        yield made
    finally:
        for p in made:
            await p.stop()


async def _ready(bot: BotProcess) -> BotProcess:
    await bot.start()
    await bot.wait_role("holder", timeout=20)
    await bot.wait_quiet()
    return bot


def _no_errors(bot: BotProcess) -> None:
    """The restarted process handled everything without an error."""
    log = bot.log.read_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]


async def _kill(bot: BotProcess) -> None:
    bot.kill()
    assert bot.process is not None
    await asyncio.wait_for(bot.process.wait(), 10)


async def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query, on a connection of the test's own (nothing in the bot's
    process; on SQLite a plain read, which never waits for a writer)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]
    finally:
        await engine.dispose()


async def _inbound(url: str, ids: list[int]) -> dict[int, str]:
    """The stored updates among `ids`: update_id -> status."""
    listed = ",".join(str(i) for i in ids)
    found = await _rows(
        url, f"SELECT update_id, status FROM inbound_updates WHERE update_id IN ({listed})"
    )
    return {int(str(i)): str(s) for i, s in found}


@contextlib.asynccontextmanager
async def _write_lock(url: str) -> AsyncIterator[None]:
    """Hold what the bot's batch store needs, from another connection, for the block.

    SQLite: the database's write lock (BEGIN IMMEDIATE; the bot waits on its 15 s busy
    timeout). PostgreSQL: an EXCLUSIVE lock on inbound_updates, which blocks INSERTs
    (not SELECTs) until the transaction ends.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        locker = sqlite3.connect(path, isolation_level=None, timeout=15, check_same_thread=False)
        try:
            await asyncio.to_thread(locker.execute, "BEGIN IMMEDIATE")
            yield
            locker.execute("ROLLBACK")
        finally:
            locker.close()
        return
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            await conn.execute(text("LOCK TABLE inbound_updates IN EXCLUSIVE MODE"))
            yield
            await conn.rollback()
    finally:
        await engine.dispose()


async def _store_waits(url: str) -> None:
    """Until the bot's store waits on the lock `_write_lock` holds. PostgreSQL shows the
    waiting INSERT in pg_locks; SQLite's wait is in the bot's busy handler, where nothing
    shows it: a moment is given instead (the store is the next thing the bot does)."""
    if url.startswith("sqlite"):
        await asyncio.sleep(0.5)
        return
    waiting = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = 'inbound_updates' AND NOT l.granted"
    )
    deadline = time.monotonic() + 10
    while (await _rows(url, waiting)) == [(0,)]:
        assert time.monotonic() < deadline, "the bot's store never waited on the lock"
        await asyncio.sleep(0.05)


def _answers(user: FakeUser) -> list[str]:
    """Which command each message to the user answers, in order ('?' for anything else)."""
    named = []
    for t in user.texts():
        named.append(next((c for c, start in COMMANDS.items() if t.startswith(start)), "?"))
    return named


async def test_kill_9_while_a_batch_is_being_stored_loses_and_doubles_nothing(
    fake: FakeBotAPI, bots: list[BotProcess], database: str
) -> None:
    """kill -9 while the bot stores a getUpdates batch (its INSERT waits on a lock held by
    the test): the batch was handed to the bot but neither stored nor acknowledged, so
    Telegram hands it over again to the next process, which answers every update exactly
    once, each user's in the order sent, and then acknowledges the batch."""
    first, second = bots
    await _ready(first)
    users = [fake.user(7_300_000 + n) for n in range(6)]
    sent_order = ["/privacy", "/help", "/start"]
    async with _write_lock(database):
        # All queued before the bot's long poll can answer: one getUpdates batch.
        ids = [u.send_text(command) for command in sent_order for u in users]
        await fake.wait_handed(max(ids), timeout=10)
        batch = [c for c in fake.calls_to("getUpdates") if c.ok and c.response["result"]]
        assert [u["update_id"] for u in batch[-1].response["result"]] == ids  # one batch
        await _store_waits(database)
        assert fake.confirmed_offset <= min(ids)  # not acknowledged
        assert await _inbound(database, ids) == {}  # not stored
        await _kill(first)
    # The lock is gone with the test's transaction; the dead store was never committed.
    assert await _inbound(database, ids) == {}
    assert all(u.messages() == [] for u in users)

    await _ready(second)
    await fake.wait_confirmed(max(ids), timeout=10)  # stored, then acknowledged
    await fake.wait_for(
        lambda: all(len(u.messages()) >= len(sent_order) for u in users),
        timeout=10,
        what="an answer to every update",
    )
    await second.wait_quiet()
    for user in users:
        assert _answers(user) == sent_order, user.texts()  # each once, in order
    assert await _inbound(database, ids) == dict.fromkeys(ids, "done")
    assert fake.pending_updates == []
    _no_errors(second)


async def _seed_case(url: str, keyring: Keyring) -> None:
    """The directory (clinicians Jones and Patel), the approved referrer, and their open
    case C-1 whose named clinician is Jones: written before the bot starts."""
    db = Database(url, keyring)
    try:
        await db.migrate()
        world = SimpleNamespace(db=db, clock=FakeClock())
        ids = await _directory(world)  # type: ignore[arg-type]
        referrer_id = await _referrer(world)  # type: ignore[arg-type]
        async with db.uow() as uow:
            uow.cases.add(
                Case(
                    referrer_id=referrer_id,
                    centre_id="rbh",
                    nhs_number=NHS,
                    date_of_birth="1970-05-04",
                    site="Left thigh",
                    summary="Deep thigh mass, MRI done.",
                    tumour_type="soft_tissue",
                    urgency="urgent",
                    named_clinician_id=ids["dr-jones"],
                    deputy_id=ids["dr-patel"],
                    created_at=datetime.now(UTC),
                )
            )
            await uow.commit()
    finally:
        await db.dispose()


async def test_kill_9_during_a_grouped_commit_loses_and_doubles_nothing(
    fake: FakeBotAPI, bots: list[BotProcess], database: str, keyring: Keyring
) -> None:
    """kill -9 while a grouped commit is open: six users' /privacy were handled in the
    group (their replies and "done" marks written, not committed) and a referrer's PDF,
    handled after them in the same batch, hangs in its download inside the group's
    transaction. Nobody was answered before the kill; after the restart each of the six is
    answered exactly once, the PDF is stored once, sent once to the named clinician and
    confirmed once to the referrer, and no update is left pending."""
    await _seed_case(database, keyring)
    first, second = bots
    await _ready(first)
    referrer, jones = fake.user(REFERRER), fake.user(JONES)
    referrer.send_text("/attach C-1")
    await referrer.wait_messages(1, timeout=10)
    assert referrer.buttons() == ["No files"], referrer.texts()
    await first.wait_quiet()

    downloads = fake.hold_downloads()
    users = [fake.user(7_400_000 + n) for n in range(6)]
    report = pdf_bytes(pages=2)
    # One getUpdates batch; lanes take the group's turn in batch order. The PDF's update
    # first reads the user's conversation in a unit of work of its own that writes
    # nothing: last in the batch, that read would find nobody waiting and end the group
    # (committing the six) before the download. In the middle, the three after it are
    # waiting then, and its turn with the download comes after all six.
    ids = [u.send_text("/privacy") for u in users[:3]]
    ids.append(referrer.send_document("mri_report.pdf", report))
    ids += [u.send_text("/privacy") for u in users[3:]]
    await asyncio.wait_for(downloads.started.wait(), 10)
    await asyncio.sleep(0.5)  # were anything to be committed, it would be by now
    batch = [c for c in fake.calls_to("getUpdates") if c.ok and c.response["result"]]
    assert [u["update_id"] for u in batch[-1].response["result"]] == ids  # one batch
    assert await _inbound(database, ids) == dict.fromkeys(ids, "pending")  # stored
    assert all(u.messages() == [] for u in users)  # their replies are not committed
    assert len(referrer.messages()) == 1 and jones.messages() == []
    killed = time.monotonic()
    try:
        await _kill(first)
    finally:
        downloads.release()
    assert downloads.held == 1
    assert await _inbound(database, ids) == dict.fromkeys(ids, "pending")
    assert await _rows(database, "SELECT id FROM attachments") == []

    await _ready(second)
    await fake.wait_for(
        lambda: all(u.messages() for u in users) and len(referrer.messages()) >= 2,
        timeout=10,
        what="the six answers and the referrer's notice",
    )
    await second.wait_quiet()
    for user in users:
        assert _answers(user) == ["/privacy"], user.texts()  # once each
    notices = referrer.texts()[1:]
    assert len(notices) == 1 and "C-1: 1 file attached (1 PDF)" in notices[0], notices
    files = [m for m in jones.messages() if m.kind == "document"]
    assert len(files) == 1 and files[0].document is not None
    assert files[0].document.content == report
    assert len(jones.messages()) == 1, jones.texts()
    assert len(await _rows(database, "SELECT id FROM attachments")) == 1
    assert await _inbound(database, ids) == dict.fromkeys(ids, "done")
    left = "SELECT update_id FROM inbound_updates WHERE status <> 'done'"
    assert await _rows(database, left) == []  # the /attach before included
    # The held download (the dead process's) and the restarted process's own.
    assert [status for _, status in fake.downloads] == [200, 200]
    _no_errors(second)
    print(f"grouped commit: all answered {time.monotonic() - killed:.1f} s after kill -9")

"""Update throughput: this bot against two python-telegram-bot echo bots, per backend.

All bots run in this process against the HTTP Bot API fake with flood limits off, so the
HTTP stack is included. Each of `--users` users sends updates closed-loop (the next one
after the bot's answer to the previous), `--rounds` times a script of five updates. This
bot gets a realistic mix per user: /case on their own case, /cases, /ask C-n and the
question, /help. Per bot: updates/s, CPU ms per update (the whole process: bot, fake and
simulated users), and p50/p95/p99 from an update entering the fake to the bot's answer
in that chat. `--cases` seeds extra closed cases (with messages) to see how cost grows
with data.

The two references:
- the bare echo: a stock PTB bot answering each message with its text, storing nothing,
  so it does not depend on the backend and runs once per run;
- the storing echo: the same bot with one durable write per update before it answers,
  stock SQLAlchemy async, one transaction per update (SQLite: aiosqlite, WAL,
  synchronous=NORMAL; PostgreSQL: asyncpg). It shows what storing alone costs on this
  stack, next to what this bot does per update (stores it, handles it in a transaction,
  records each message sent).

Backends (`--backend`; default sqlite, and both when TEST_DATABASE_URL is set): the
storing echo and this bot run on each chosen backend, each on a fresh database: a
SQLite file, or on PostgreSQL a throw-away database (CREATE DATABASE bench_<hex> on the
server of TEST_DATABASE_URL, dropped WITH (FORCE) afterwards).

`--runs N` runs every bot N times, interleaved (bare, then storing and this bot on each
backend, then again) so that drifting machine load falls on all alike. Reported per
bot: the median, min and max over the runs of each figure, each taken separately. The
ratios are computed within each run (this bot's updates/s over the storing echo's, and
over the bare echo's, of that same run; likewise the CPU per update) and then summarised
as median, min and max.

`--one-user`: one user alone (users=1, 40 rounds unless --rounds), the same bots and
report; its p99 for this bot is the "p99 one user < 100 ms" figure.

    .venv/bin/python bench/throughput.py [--backend sqlite|postgres|both] [--runs 3]
        [--users 200] [--rounds 2] [--one-user] [--cases 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

import storage.uow
from bench.common import FIRST_USER, insert_rows, running_bot
from core.clock import SystemClock
from storage.crypto import Keyring
from storage.models import Case, Person, PersonStatus, ReferrerDetails, Role, ThreadMessage
from storage.types import new_uid
from storage.uow import Database, UnitOfWork
from tests.fakes import FakeBotAPI, FakeUser

CHUNK = 5000
BACKENDS = ("sqlite", "postgres")
SCRIPT = ["/case {case}", "/cases", "/ask {case}", "Is an MRI enough before the clinic?", "/help"]
Job = Callable[[], Coroutine[Any, Any, dict[str, Any]]]  # one run of one bot
FIGURES = ("updates_per_s", "cpu_ms_per_update", "p50_ms", "p95_ms", "p99_ms")


async def _drive(
    fake: FakeBotAPI, users: list[FakeUser], script: list[str], rounds: int
) -> dict[str, Any]:
    latencies: list[float] = []

    async def one(index: int, user: FakeUser) -> None:
        for _ in range(rounds):
            for text in script:
                text = text.replace("{case}", f"C-{index + 1}")
                seen = len(user.messages())
                started = time.monotonic()
                user.send_text(text)
                # Woken only by a message to this user's chat: polling, or waking all
                # 200 users on every change, would be charged to the bot under test.
                deadline = started + 30
                while len(user.messages()) <= seen:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no answer to {text!r}")
                    await fake.next_message_to(user.chat_id, 1.0)
                latencies.append(time.monotonic() - started)

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    q = statistics.quantiles(latencies, n=100)
    return {
        "updates": len(latencies),
        "updates_per_s": round(len(latencies) / elapsed, 1),
        # CPU of the whole process (bot, fake and simulated users) per update: steadier
        # than wall time on a shared machine.
        "cpu_ms_per_update": round(cpu / len(latencies) * 1000, 2),
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }


@asynccontextmanager
async def fresh_database(backend: str) -> AsyncIterator[str]:
    """The URL of a new, empty database, removed on leaving: a SQLite file in a
    temporary folder, or a PostgreSQL database of its own on TEST_DATABASE_URL's server
    (a database rather than a schema: the bot's settings take only a URL)."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        return
    server = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"bench_{secrets.token_hex(6)}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.dispose()


async def _echo_bot(
    users: int, rounds: int, script_len: int, before_answer: Callable[[Update], Awaitable[None]]
) -> dict[str, Any]:
    """A bare python-telegram-bot bot answering every message with its text."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await before_answer(update)
        await update.message.reply_text(update.message.text or "?")

    async with FakeBotAPI() as fake:
        app = Application.builder().token(fake.token).base_url(fake.base_url).build()
        app.add_handler(MessageHandler(filters.ALL, echo))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            people = [fake.user(FIRST_USER + i) for i in range(users)]
            result = await _drive(fake, people, [f"echo {n}" for n in range(script_len)], rounds)
            await app.updater.stop()
            await app.stop()
    return result


async def bare(users: int, rounds: int, script_len: int) -> dict[str, Any]:
    async def nothing(update: Update) -> None:
        return None

    return await _echo_bot(users, rounds, script_len, nothing)


async def bare_durable(
    users: int, rounds: int, script_len: int, backend: str = "sqlite"
) -> dict[str, Any]:
    """The echo bot with one durable write per update: a reference for what storing alone
    costs. Stock SQLAlchemy async, one transaction per update: aiosqlite with WAL and
    synchronous=NORMAL, or asyncpg on a throw-away PostgreSQL database."""
    async with fresh_database(backend) as url:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            if backend == "sqlite":
                await conn.exec_driver_sql("PRAGMA journal_mode = WAL")
                await conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
                await conn.exec_driver_sql(
                    "CREATE TABLE seen (update_id INTEGER PRIMARY KEY, body)"
                )
            else:
                await conn.exec_driver_sql(
                    "CREATE TABLE seen (update_id BIGINT PRIMARY KEY, body TEXT)"
                )
        store = sql("INSERT INTO seen (update_id, body) VALUES (:id, :body)")

        async def stored(update: Update) -> None:
            assert update.message is not None
            async with engine.begin() as conn:
                await conn.execute(store, {"id": update.update_id, "body": update.message.text})

        try:
            return await _echo_bot(users, rounds, script_len, stored)
        finally:
            await engine.dispose()


async def seed(db: Database, users: int, extra_cases: int) -> None:
    """Three clinicians; `users` referrers with an open case each (case ids 1..users);
    then `extra_cases` closed cases with ten messages each."""
    now = SystemClock().now()
    async with db.uow() as uow:
        clinicians = []
        for n, spec in enumerate(("bone,soft_tissue", "soft_tissue", "bone")):
            person = Person(
                role=Role.CLINICIAN,
                name=f"Dr Clinician {n}",
                specialties=spec,
                telegram_user_id=90_000 + n,
                created_at=now,
            )
            uow.people.add(person)
            clinicians.append(person)
        await uow.flush()
        for i in range(users):
            await _referrer_with_case(uow, i, clinicians[0].id, clinicians[1].id, now)
        await uow.commit()
    if extra_cases:
        await _old_cases(db, clinicians[2].id, users + 1, extra_cases, now)


async def _referrer_with_case(
    uow: UnitOfWork, i: int, named: int, deputy: int, now: datetime
) -> None:
    referrer = Person(
        role=Role.REFERRER,
        status=PersonStatus.ACTIVE,
        name=f"Dr Referrer {i}",
        telegram_user_id=FIRST_USER + i,
        phone="+441183225111",
        email=f"r{i}@nhs.net",
        created_at=now,
    )
    uow.people.add(referrer)
    await uow.flush()
    uow.people.add_details(
        ReferrerDetails(person_id=referrer.id, job_title="Consultant", mobile="+447911123456")
    )
    uow.cases.add(
        Case(
            referrer_id=referrer.id,
            nhs_number="9434765919",
            date_of_birth="1970-05-04",
            site="Thigh",
            summary="Mass",
            tumour_type="soft_tissue",
            urgency="routine",
            status="open",
            named_clinician_id=named,
            deputy_id=deputy,
            created_at=now,
        )
    )


async def _old_cases(
    db: Database, referrer_id: int, first_id: int, count: int, now: datetime
) -> None:
    """`count` closed cases (ids from `first_id`) with ten messages each, in bulk."""
    keyring = db.keyring
    case_rows = []
    for _ in range(count):
        uid = new_uid()
        case_rows.append(
            {
                "uid": uid,
                "referrer_id": referrer_id,
                "tumour_type": "bone",
                "urgency": "routine",
                "status": "closed",
                "created_at": now,
                "summary_enc": keyring.encrypt("old case", f"cases.summary.{uid}".encode()),
            }
        )
    await insert_rows(db, Case, case_rows, CHUNK)
    for start in range(0, count * 10, CHUNK):  # built a chunk at a time: up to 1,000,000
        message_rows = []
        for n in range(start, min(start + CHUNK, count * 10)):
            uid = new_uid()
            message_rows.append(
                {
                    "uid": uid,
                    "case_id": first_id + n % count,
                    "created_at": now,
                    "body_enc": keyring.encrypt(
                        "old message", f"thread_messages.body.{uid}".encode()
                    ),
                }
            )
        await insert_rows(db, ThreadMessage, message_rows, CHUNK)


async def ours(
    users: int, rounds: int, extra_cases: int, backend: str = "sqlite"
) -> dict[str, Any]:
    async with fresh_database(backend) as url:
        keys = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
        db = Database(url, keys)
        await db.migrate()
        await seed(db, users, extra_cases)
        await db.dispose()
        async with running_bot(url, keys, users) as (fake, _, people):
            return await _drive(fake, people, SCRIPT, rounds)


# --- runs and their summary -----------------------------------------------------------


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, min and max of each figure over the runs, each figure taken separately."""
    spreads = {key: _spread([r[key] for r in runs]) for key in FIGURES}
    return {
        **{stat: {key: spreads[key][stat] for key in FIGURES} for stat in ("median", "min", "max")},
        "runs": runs,
    }


def _ratio(runs: list[float]) -> dict[str, Any]:
    return {**_spread(runs), "runs": runs}


def _code() -> dict[str, Any]:
    """Which code was measured: the source folder of the imported modules and its commit."""
    source = Path(storage.uow.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=source, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return "?"
        return done.stdout

    changed = git("status", "--porcelain", "--untracked-files=no")
    return {
        "source": str(source),
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted_changes": [line[3:] for line in changed.splitlines()],
    }


def measure(
    backends: list[str], runs: int, users: int, rounds: int, extra_cases: int
) -> dict[str, Any]:
    """`runs` interleaved runs: the bare echo, then the storing echo and this bot on each
    backend; each bot in a fresh event loop."""
    bare_runs: list[dict[str, Any]] = []
    storing: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    this_bot: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    started, started_at = time.monotonic(), datetime.now(UTC)
    jobs: list[tuple[str, Job, list[dict[str, Any]]]] = []
    for _ in range(runs):
        jobs.append(("bare echo", partial(bare, users, rounds, len(SCRIPT)), bare_runs))
        for b in backends:
            jobs.append(
                (
                    f"storing echo, {b}",
                    partial(bare_durable, users, rounds, len(SCRIPT), b),
                    storing[b],
                )
            )
            jobs.append(
                (f"this bot, {b}", partial(ours, users, rounds, extra_cases, b), this_bot[b])
            )
    for n, (label, job, into) in enumerate(jobs):
        print(
            f"[{time.monotonic() - started:5.0f} s] run {n // (len(jobs) // runs) + 1}/{runs}: "
            f"{label} ...",
            file=sys.stderr,
            flush=True,
        )
        into.append(asyncio.run(job()))
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "code": _code(),
        "users": users,
        "rounds": rounds,
        "updates_per_bot_run": users * rounds * len(SCRIPT),
        "extra_cases": extra_cases,
        "runs": runs,
        "backend_names": backends,
        "bare_echo": _summary(bare_runs),
        "backends": _per_backend(backends, bare_runs, storing, this_bot),
    }


def _per_backend(
    backends: list[str],
    bare_runs: list[dict[str, Any]],
    storing: dict[str, list[dict[str, Any]]],
    this_bot: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    per_backend: dict[str, Any] = {}
    for b in backends:
        pairs = list(zip(bare_runs, storing[b], this_bot[b], strict=True))
        per_backend[b] = {
            "storing_echo": _summary(storing[b]),
            "this_bot": _summary(this_bot[b]),
            # Per run, then summarised: each ratio is of figures measured back to back.
            "ratio_to_storing": _ratio(
                [round(o["updates_per_s"] / s["updates_per_s"], 3) for _, s, o in pairs]
            ),
            "ratio_to_bare": _ratio(
                [round(o["updates_per_s"] / e["updates_per_s"], 3) for e, _, o in pairs]
            ),
            "ratio_storing_to_bare": _ratio(
                [round(s["updates_per_s"] / e["updates_per_s"], 3) for e, s, _ in pairs]
            ),
            "cpu_ratio_to_storing": _ratio(
                [round(o["cpu_ms_per_update"] / s["cpu_ms_per_update"], 3) for _, s, o in pairs]
            ),
            "cpu_ratio_to_bare": _ratio(
                [round(o["cpu_ms_per_update"] / e["cpu_ms_per_update"], 3) for e, _, o in pairs]
            ),
        }
    return per_backend


def _cell(spread: dict[str, Any], key: str | None, digits: int, runs: int) -> str:
    def fmt(stat: str) -> str:
        value = spread[stat] if key is None else spread[stat][key]
        return f"{value:.{digits}f}"

    return fmt("median") if runs == 1 else f"{fmt('median')} [{fmt('min')}-{fmt('max')}]"


def table(result: dict[str, Any]) -> str:
    """A compact human table: median [min-max] over the runs."""
    runs = result["runs"]
    lines = [
        f"{result['users']} user(s) x {result['rounds']} rounds x {len(SCRIPT)} updates, "
        f"{result['extra_cases']} extra cases, {runs} run(s)"
        + ("" if runs == 1 else ", median [min-max]")
        + f"; {result['started_at']}, {result['wall_s']:.0f} s, code {result['code']['commit']}"
        + (
            f" + uncommitted changes to {len(changed)} file(s)"
            if (changed := result["code"]["uncommitted_changes"])
            else ""
        ),
        f"{'backend':<9} {'bot':<13} {'updates/s':>19} {'CPU ms/update':>19} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>23}",
    ]

    def row(backend: str, bot: str, s: dict[str, Any]) -> str:
        return (
            f"{backend:<9} {bot:<13} {_cell(s, 'updates_per_s', 0, runs):>19} "
            f"{_cell(s, 'cpu_ms_per_update', 2, runs):>19} {s['median']['p50_ms']:>8.0f} "
            f"{s['median']['p95_ms']:>8.0f} {_cell(s, 'p99_ms', 0, runs):>23}"
        )

    lines.append(row("-", "bare echo", result["bare_echo"]))
    for b, r in result["backends"].items():
        lines.append(row(b, "storing echo", r["storing_echo"]))
        lines.append(row(b, "this bot", r["this_bot"]))
    lines.append(
        "Ratios of updates/s and of CPU per update, each within one run"
        + ("" if runs == 1 else ", then median [min-max] over the runs")
        + ":"
    )
    lines.append(
        f"{'backend':<9} {'bot/storing':>21} {'bot/bare':>21} {'storing/bare':>21} "
        f"{'CPU bot/storing':>21} {'CPU bot/bare':>21}"
    )
    for b, r in result["backends"].items():
        cells = [
            _cell(r[k], None, 3, runs)
            for k in (
                "ratio_to_storing",
                "ratio_to_bare",
                "ratio_storing_to_bare",
                "cpu_ratio_to_storing",
                "cpu_ratio_to_bare",
            )
        ]
        lines.append(f"{b:<9} " + " ".join(f"{c:>21}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres", "both"),
        help="default: both when TEST_DATABASE_URL is set, else sqlite",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of each bot, interleaved")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--rounds", type=int, help="rounds of the script (default 2; 40 with --one-user)"
    )
    parser.add_argument(
        "--one-user", action="store_true", help="one user alone (users=1): its latency"
    )
    parser.add_argument("--cases", type=int, default=0, help="extra closed cases (x10 messages)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args()
    has_postgres = bool(os.environ.get("TEST_DATABASE_URL"))
    choice = args.backend or ("both" if has_postgres else "sqlite")
    backends = list(BACKENDS) if choice == "both" else [choice]
    if "postgres" in backends and not has_postgres:
        parser.error("PostgreSQL needs TEST_DATABASE_URL (a server to make databases on)")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    users = 1 if args.one_user else args.users
    rounds = args.rounds or (40 if args.one_user else 2)
    result = measure(backends, args.runs, users, rounds, args.cases)
    result["one_user"] = args.one_user
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()

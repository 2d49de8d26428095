"""Update throughput: this bot against a bare python-telegram-bot echo bot.

Both run in this process against the HTTP Bot API fake with flood limits off, so the
HTTP stack is included. Each of `--users` users sends updates closed-loop (the next one
after the bot's answer to the previous). This bot gets a realistic mix per user: /case on
their own case, /cases, /ask C-n and the question, /help. Reports updates/s, the ratio,
and p50/p95/p99 from an update entering the fake to the bot's answer in that chat.
`--cases` seeds extra cases (with messages) to see how cost grows with data.

A third bot, the echo bot with one SQLite write per update before it answers, is a
reference: it shows what storing alone costs on this stack, next to what this bot does
per update (stores it, handles it in a transaction, records each message sent).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import create_async_engine
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from bench.common import FIRST_USER, insert_rows, running_bot
from core.clock import SystemClock
from storage.crypto import Keyring
from storage.models import Case, Person, PersonStatus, ReferrerDetails, Role, ThreadMessage
from storage.types import new_uid
from storage.uow import Database, UnitOfWork
from tests.fakes import FakeBotAPI, FakeUser

CHUNK = 5000


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


async def bare_durable(users: int, rounds: int, script_len: int) -> dict[str, Any]:
    """The echo bot with one durable write per update: a reference for what storing alone
    costs. Stock SQLAlchemy async + aiosqlite, WAL, one transaction per update."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_async_engine(f"sqlite+aiosqlite:///{folder}/bare.db")
        async with engine.begin() as conn:
            await conn.exec_driver_sql("PRAGMA journal_mode = WAL")
            await conn.exec_driver_sql("PRAGMA synchronous = NORMAL")
            await conn.exec_driver_sql("CREATE TABLE seen (update_id INTEGER PRIMARY KEY, body)")
        store = sql("INSERT INTO seen (update_id, body) VALUES (:id, :body)")

        async def stored(update: Update) -> None:
            assert update.message is not None
            async with engine.begin() as conn:
                await conn.execute(store, {"id": update.update_id, "body": update.message.text})

        result = await _echo_bot(users, rounds, script_len, stored)
        await engine.dispose()
    return result


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


async def ours(users: int, rounds: int, extra_cases: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        keys = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
        db = Database(url, keys)
        await db.migrate()
        await seed(db, users, extra_cases)
        await db.dispose()
        async with running_bot(url, keys, users) as (fake, _, people):
            script = [
                "/case {case}",
                "/cases",
                "/ask {case}",
                "Is an MRI enough before the clinic?",
                "/help",
            ]
            return await _drive(fake, people, script, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cases", type=int, default=0, help="extra closed cases (x10 messages)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {"bare_ptb_echo": asyncio.run(bare(args.users, args.rounds, 5))}
    result["bare_ptb_echo_storing"] = asyncio.run(bare_durable(args.users, args.rounds, 5))
    result["this_bot"] = asyncio.run(ours(args.users, args.rounds, args.cases))
    result["ratio"] = round(
        result["this_bot"]["updates_per_s"] / result["bare_ptb_echo"]["updates_per_s"], 3
    )
    result["ratio_storing_echo"] = round(
        result["bare_ptb_echo_storing"]["updates_per_s"] / result["bare_ptb_echo"]["updates_per_s"],
        3,
    )
    result["extra_cases"] = args.cases
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

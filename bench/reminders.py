"""Reminder benchmarks.

1. Start-up with 100,000 future reminders in the database against an empty one: time to
   a started bot and resident memory, each in a fresh process (target: within 2x time,
   +50 MB memory). Reminders are rows, never loaded into APScheduler's memory.
2. 10,000 reminders due at once (to 500 people): time until all are delivered through
   the outbox with Telegram's limits on, against the configured rate (25/s). `--scale`
   runs both clocks faster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import b64, bench_settings, insert_rows
from bot.app import BotRuntime
from bot.config import load_settings
from core.clock import FakeClock
from delivery.flood import ScaledTimer
from handlers.jobs import dispatch_reminders
from storage.crypto import Keyring
from storage.models import Person, Reminder, Role
from storage.types import new_uid
from storage.uow import Database
from tests.fakes import FakeBotAPI

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


async def seed(url: str, keys: Keyring, reminders: int, people: int, due: bool) -> None:
    db = Database(url, keys)
    await db.migrate()
    async with db.uow() as uow:
        ids = []
        for n in range(people):
            person = Person(
                role=Role.CLINICIAN,
                name=f"Dr Bench {n}",
                telegram_user_id=50_000 + n,
                created_at=NOW,
            )
            uow.people.add(person)
            ids.append(person)
        await uow.flush()
        rows = [
            {
                "uid": new_uid(),
                "kind": "followup",
                "recipient_id": ids[n % people].id,
                "due_at": NOW - timedelta(seconds=1)
                if due
                else NOW + timedelta(minutes=n % 90_000),
                "status": "pending",
                "created_at": NOW,
            }
            for n in range(reminders)
        ]
        await uow.commit()
    await insert_rows(db, Reminder, rows, 5000)
    await db.dispose()


async def start_once(url: str, keys: str, index: str) -> dict[str, float]:
    """Child process: start the bot once, report time and memory."""
    async with FakeBotAPI() as fake:
        settings = load_settings(
            TELEGRAM_BOT_TOKEN=fake.token,
            TELEGRAM_API_BASE_URL=fake.base_url,
            DATABASE_URL=url,
            ENCRYPTION_KEYS=keys,
            INDEX_KEY=index,
            HEALTH_PORT=0,
        )
        started = time.perf_counter()
        runtime = BotRuntime(settings, clock=FakeClock(NOW), poll_timeout=1)
        await runtime.start()
        elapsed = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        await runtime.stop()
    return {"start_s": round(elapsed, 3), "max_rss_mb": round(rss_mb, 1)}


def startup(reminders: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for label, count in (("empty", 0), (f"{reminders}_future", reminders)):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            keys = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
            asyncio.run(seed(url, keys, count, 100, due=False))
            runs = []
            for _ in range(3):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        url,
                        b64(keys.keys[0]),
                        b64(keys.index_key),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            results[label] = {
                "start_s_median": sorted(r["start_s"] for r in runs)[1],
                "max_rss_mb_median": sorted(r["max_rss_mb"] for r in runs)[1],
            }
    return results


async def drain(due: int, people: int, scale: float) -> dict[str, float]:
    timer = ScaledTimer(scale)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        keys = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
        await seed(url, keys, due, people, due=True)
        async with FakeBotAPI() as fake:
            fake.monotonic = timer.monotonic
            fake.flood_limits(global_per_sec=30, per_chat_per_sec=1, burst=2)
            settings = bench_settings(fake, url, keys, unthrottled=False)
            runtime = BotRuntime(settings, clock=FakeClock(NOW), poll_timeout=1, timer=timer)
            started = timer.monotonic()
            await runtime.start()  # start-up dispatches what is due
            while await dispatch_reminders(runtime.resources):
                pass
            await runtime.drained(timeout=due / 20 / scale + 120)
            elapsed = timer.monotonic() - started
            sent = sum(len(fake.messages_to(50_000 + n)) for n in range(people))
            await runtime.stop()
    return {
        "reminders": due,
        "delivered": sent,
        "seconds": round(elapsed, 1),
        "per_s": round(sent / elapsed, 2),
        "share_of_configured_25": round(sent / elapsed / 25, 3),
        "scale": scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3)
    parser.add_argument("--reminders", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(start_once(*args.child))))
        return
    result = {
        "startup": startup(args.reminders),
        "drain": asyncio.run(drain(args.due, 500, args.scale)),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

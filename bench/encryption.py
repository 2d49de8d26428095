"""Encryption cost: time per encrypted field (write and read), and the share of a `/case`
request spent decrypting.

The `/case` part runs the real bot against the HTTP fake (flood limits off): users with a
case of `--thread` messages each ask `/case C-n` closed-loop; time inside
`Keyring.decrypt` while an update is being handled is set against the handler's total
time (from the bot's own `referral_bot_handler_seconds` histogram).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select

from bench.common import insert_rows, running_bot
from bench.throughput import _drive, seed
from core.clock import SystemClock
from storage.crypto import Keyring
from storage.models import Case, ThreadMessage
from storage.types import new_uid
from storage.uow import HANDLING_UPDATE, Database

BODY = (
    "Thank you. The MRI shows a 7 cm deep mass in the vastus lateralis; please arrange a "
    "staging CT chest and refer to the one-stop clinic; do not biopsy locally. "
) * 2


def per_field(n: int) -> dict[str, float]:
    """Microseconds per encrypt and decrypt of a short field and of a message body."""
    keyring = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
    result: dict[str, float] = {}
    for name, value in (("short_field", "Sean O'Brien"), ("message_body", BODY)):
        aad = b"thread_messages.body.0123456789abcdef"
        started = time.perf_counter()
        blobs = [keyring.encrypt(value, aad) for _ in range(n)]
        result[f"encrypt_{name}_us"] = round((time.perf_counter() - started) / n * 1e6, 2)
        started = time.perf_counter()
        for blob in blobs:
            keyring.decrypt(blob, aad)
        result[f"decrypt_{name}_us"] = round((time.perf_counter() - started) / n * 1e6, 2)
    started = time.perf_counter()
    for _ in range(n):
        keyring.blind_index("nhs", "9434765919")
    result["blind_index_us"] = round((time.perf_counter() - started) / n * 1e6, 2)
    return result


async def case_share(users: int, rounds: int, thread: int) -> dict[str, Any]:
    spent = {"decrypt": 0.0, "calls": 0}
    original = Keyring.decrypt

    def timed(self: Keyring, blob: bytes, aad: bytes) -> str:
        if HANDLING_UPDATE.get() is None:
            return original(self, blob, aad)
        started = time.perf_counter()
        try:
            return original(self, blob, aad)
        finally:
            spent["decrypt"] += time.perf_counter() - started
            spent["calls"] += 1

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        keys = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
        db = Database(url, keys)
        await db.migrate()
        await seed(db, users, 0)
        await _threads(db, thread)
        await db.dispose()
        async with running_bot(url, keys, users) as (fake, runtime, people):
            Keyring.decrypt = timed  # type: ignore[method-assign]
            try:
                drive = await _drive(fake, people, ["/case {case}"], rounds)
            finally:
                Keyring.decrypt = original  # type: ignore[method-assign]
            handler_total = next(
                s.value
                for metric in runtime.metrics.registry.collect()
                if metric.name == "referral_bot_handler_seconds"
                for s in metric.samples
                if s.name.endswith("_sum") and s.labels.get("handler") == "case_command"
            )
    return {
        "case_requests": drive["updates"],
        "thread_messages_per_case": thread,
        "decrypt_calls_per_case_request": round(spent["calls"] / drive["updates"], 1),
        "handler_ms_per_case_request": round(handler_total / drive["updates"] * 1000, 2),
        "decrypt_ms_per_case_request": round(spent["decrypt"] / drive["updates"] * 1000, 3),
        "decrypt_share_of_case_request": round(spent["decrypt"] / handler_total, 4),
    }


async def _threads(db: Database, thread: int) -> None:
    """`thread` messages from the referrer on every case."""
    now = SystemClock().now()
    async with db.engine.connect() as conn:
        cases = (await conn.execute(select(Case.id, Case.referrer_id))).all()
    rows = []
    for case_id, referrer_id in cases:
        for _ in range(thread):
            uid = new_uid()
            rows.append(
                {
                    "uid": uid,
                    "case_id": case_id,
                    "author_id": referrer_id,
                    "created_at": now,
                    "body_enc": db.keyring.encrypt(BODY, f"thread_messages.body.{uid}".encode()),
                }
            )
    await insert_rows(db, ThreadMessage, rows, chunk=len(rows) or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--thread", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {
        "per_field": per_field(args.n),
        "case": asyncio.run(case_share(args.users, args.rounds, args.thread)),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

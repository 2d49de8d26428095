"""Delivery benchmark: messages through the outbox and dispatcher against the HTTP fake.

1. Throughput with Telegram's limits on: the fake enforces 30/s overall and 1/s per chat
   (short bursts tolerated); the bot paces itself at SEND_GLOBAL_RATE (25/s). Reports
   messages/s achieved against the configured rate (target >= 90%) and the 30/s ceiling.
   `--scale N` runs the clocks of both sides N times faster (the rates stay Telegram's
   in scaled seconds) for a quicker, less exact run.
2. Latency without limits: messages committed at a steady rate; p50/p95/p99 time from
   the outbox commit to Telegram's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import BotRuntime
from bot.config import load_settings
from core.clock import SystemClock
from delivery.flood import ScaledTimer
from delivery.sender import Outgoing, enqueue
from delivery.text import render
from tests.fakes import FakeBotAPI


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


async def _runtime(fake: FakeBotAPI, folder: str, limited: bool, timer: ScaledTimer | None):
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{folder}/bench.db",
        ENCRYPTION_KEYS=_key(),
        INDEX_KEY=_key(),
        SEND_GLOBAL_RATE=25 if limited else 100_000,
        SEND_PER_CHAT_RATE=1 if limited else 100_000,
        SEND_PER_CHAT_BURST=3 if limited else 1000,
    )
    runtime = BotRuntime(settings, clock=SystemClock(), poll_timeout=1, timer=timer)
    await runtime.start()
    return runtime


async def throughput(messages: int, chats: int, scale: float) -> dict[str, float]:
    """Messages/s (in Telegram seconds) with the limits on."""
    timer = ScaledTimer(scale)
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBotAPI() as fake:
            fake.monotonic = timer.monotonic
            fake.flood_limits(global_per_sec=30, per_chat_per_sec=1, burst=2)
            runtime = await _runtime(fake, folder, True, timer)
            try:
                async with runtime.db.uow() as uow:
                    for n in range(messages):
                        message = Outgoing(10_000 + n % chats, render("bench {n}", n=n))
                        enqueue(uow, message, runtime.clock.now())
                    await uow.commit()
                started = timer.monotonic()
                runtime.sender.wake()
                await runtime.drained(timeout=messages / 20 / scale + 120)
                elapsed = timer.monotonic() - started
            finally:
                await runtime.stop()
            refused = sum(1 for c in fake.calls_to("sendMessage") if c.status == 429)
    rate = messages / elapsed
    return {
        "messages": messages,
        "seconds": round(elapsed, 2),
        "messages_per_s": round(rate, 2),
        "share_of_configured_25": round(rate / 25, 3),
        "share_of_telegram_30": round(rate / 30, 3),
        "http_429": refused,
    }


async def latency(messages: int, per_second: float) -> dict[str, float]:
    """Outbox commit to sent, without limits, at a steady arrival rate."""
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBotAPI() as fake:
            runtime = await _runtime(fake, folder, False, None)
            committed: dict[int, float] = {}
            try:
                for n in range(messages):
                    async with runtime.db.uow() as uow:
                        row = enqueue(
                            uow,
                            Outgoing(20_000 + n % 200, render("lat {n}", n=n)),
                            runtime.clock.now(),
                        )
                        await uow.commit()
                    committed[row.id] = time.monotonic()
                    runtime.sender.wake()
                    await asyncio.sleep(1 / per_second)
                await runtime.drained(timeout=60)
            finally:
                await runtime.stop()
            sent_at = {
                int(str(c.params["text"]).split()[1]) + 1: c.finished
                for c in fake.calls_to("sendMessage")
                if c.status == 200
            }
    # The fake records call times with time.monotonic of this same process.
    offsets = [sent_at[i] - committed[i] for i in committed if i in sent_at]
    offsets.sort()
    q = statistics.quantiles(offsets, n=100)
    return {
        "messages": messages,
        "p50_ms": round(q[49] * 1000, 1),
        "p95_ms": round(q[94] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--latency-messages", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = {
        "throughput": asyncio.run(throughput(args.messages, args.chats, args.scale)),
        "latency": asyncio.run(latency(args.latency_messages, 50)),
        "scale": args.scale,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Governance report benchmark: report time with 1,000 and 100,000 cases.

Each size gets a fresh database with cases spread over two years, 1.5 queries and 10
thread messages per case (1,000,000 messages at 100,000 cases), reminders, referrers,
20 centres and 30 clinicians, inserted in bulk with SQLAlchemy core. Encrypted columns
hold one valid-looking fixed ciphertext (the report must never decrypt them; clinicians'
names are real ciphertexts, since the report shows them).

Times (median of --runs, with min and max) for computing the figures (`build_report`)
and for rendering each format. Target: no worse than linear growth; under 10 s at
100,000 cases. Run on demand:

    python bench/report.py                      # SQLite in a temporary folder
    python bench/report.py --url postgresql+asyncpg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from core.clock import FakeClock
from services.report_render import render
from services.reports import build_report
from storage.crypto import Keyring
from storage.models import (
    Case,
    Centre,
    Person,
    PersonStatus,
    Query,
    ReferrerDetails,
    Reminder,
    Role,
    ThreadMessage,
)
from storage.types import new_uid
from storage.uow import Database

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
BLOB = b"\x01" + secrets.token_bytes(40)  # stands in for any ciphertext
CHUNK = 10_000
RESULTS = Path(__file__).resolve().parent / "results"


async def _insert(db: Database, model: type, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with db.engine.begin() as conn:
            await conn.execute(insert(model), rows[start : start + CHUNK])


async def seed(db: Database, cases: int, messages_per_case: int) -> dict[str, int]:
    rnd = random.Random(cases)
    clinician_ids = await _clinicians(db)
    referrer_ids = await _referrers(db, rnd, max(20, cases // 50))
    batches: tuple[list[dict], ...] = ([], [], [], [])  # cases, queries, messages, reminders
    query_id = message_id = 0
    for case_id in range(1, cases + 1):
        case_row = _case(rnd, case_id, clinician_ids, referrer_ids)
        queries = _queries(rnd, case_row, query_id)
        messages = _messages(case_row, queries, messages_per_case, message_id)
        query_id += len(queries)
        message_id += len(messages)
        batches[0].append(case_row)
        batches[1].extend(queries)
        batches[2].extend(messages)
        if case_id % 2 == 0:
            batches[3].append(_reminder(rnd, case_row))
        if len(batches[2]) >= 100_000:
            await _flush(db, *batches)
    await _flush(db, *batches)
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")  # as a live database's statistics would be
    return {"cases": cases, "queries": query_id, "messages": message_id}


async def _clinicians(db: Database) -> list[int]:
    """20 centres and 30 clinicians (real ciphertexts: the report shows their names)."""
    async with db.uow() as uow:
        for n in range(20):
            uow.centres.add(Centre(id=f"c{n:02d}", name=f"Centre {n:02d}", created_at=NOW))
        clinicians = []
        for n in range(30):
            person = Person(
                role=Role.CLINICIAN,
                directory_id=f"dr-{n}",
                name=f"Dr Bench {n:02d}",
                specialties="bone,soft_tissue" if n % 3 else "bone",
                created_at=NOW,
            )
            uow.people.add(person)
            clinicians.append(person)
        await uow.flush()
        clinician_ids = [c.id for c in clinicians]
        await uow.commit()
    return clinician_ids


async def _referrers(db: Database, rnd: random.Random, referrers: int) -> list[int]:
    """`referrers` referrers with details, some pending, unreachable or missing a detail."""
    async with db.engine.begin() as conn:
        first_id = int(await conn.scalar(text("SELECT max(id) FROM people")) or 0) + 1
    referrer_ids = list(range(first_id, first_id + referrers))
    people = [
        {
            "id": pid,
            "uid": new_uid(),
            "role": Role.REFERRER,
            "status": PersonStatus.PENDING if i % 40 == 0 else PersonStatus.ACTIVE,
            "centre_id": f"c{i % 21:02d}" if i % 21 < 20 else None,
            "name_enc": BLOB,
            "reachable": i % 97 != 0,
            "specialties": "",
            "created_at": NOW - SPAN * rnd.random(),
        }
        for i, pid in enumerate(referrer_ids)
    ]
    await _insert(db, Person, people)
    details = [
        {
            "person_id": pid,
            "uid": new_uid(),
            "secretary_phone_enc": None if i % 7 == 0 else BLOB,
            "fax_enc": None if i % 3 == 0 else BLOB,
        }
        for i, pid in enumerate(referrer_ids)
    ]
    await _insert(db, ReferrerDetails, details)
    return referrer_ids


def _case(rnd: random.Random, case_id: int, clinicians: list[int], referrers: list[int]) -> dict:
    created = NOW - SPAN * rnd.random()
    named, deputy = rnd.sample(clinicians, 2)
    return {
        "id": case_id,
        "uid": new_uid(),
        "referrer_id": rnd.choice(referrers),
        "centre_id": f"c{case_id % 21:02d}" if case_id % 21 < 20 else None,
        "nhs_number_enc": BLOB,
        "nhs_number_index": secrets.token_bytes(16),
        "tumour_type": rnd.choice(("bone", "soft_tissue", "not_sure")),
        "urgency": "urgent" if rnd.random() < 0.3 else "routine",
        "status": "open" if created > NOW - timedelta(days=120) else "closed",
        "named_clinician_id": named,
        "deputy_id": deputy,
        "created_at": created,
    }


def _queries(rnd: random.Random, case: dict, last_id: int) -> list[dict]:
    """One query on odd cases, two on even ones; most answered, many resolved."""
    rows = []
    for n in range(1 if case["id"] % 2 else 2):
        asked = case["created_at"] + timedelta(hours=rnd.random() * 48)
        answered = rnd.random() < 0.9
        first = asked + timedelta(seconds=rnd.expovariate(1 / 20_000)) if answered else None
        resolved = (
            first + timedelta(seconds=rnd.expovariate(1 / 80_000))
            if first and rnd.random() < 0.75
            else None
        )
        rows.append(
            {
                "id": last_id + n + 1,
                "case_id": case["id"],
                "asked_by_id": case["referrer_id"],
                "holder_id": case["named_clinician_id"],
                "status": "resolved" if resolved else ("acknowledged" if first else "open"),
                "escalation_level": rnd.choice((0, 0, 0, 1, 2)),
                "created_at": asked,
                "first_response_at": first,
                "resolved_at": resolved,
            }
        )
    return rows


def _messages(case: dict, queries: list[dict], count: int, last_id: int) -> list[dict]:
    """`count` messages, alternately from the referrer and the named clinician."""
    rows = []
    for m in range(count):
        query = queries[m % len(queries)]
        rows.append(
            {
                "id": last_id + m + 1,
                "uid": new_uid(),
                "case_id": case["id"],
                "query_id": query["id"],
                "author_id": case["referrer_id"] if m % 2 == 0 else case["named_clinician_id"],
                "body_enc": BLOB,
                "created_at": query["created_at"] + timedelta(minutes=m * 37),
            }
        )
    return rows


def _reminder(rnd: random.Random, case: dict) -> dict:
    status = rnd.choice(("sent", "sent", "sent", "missed", "skipped", "pending"))
    return {
        "uid": new_uid(),
        "kind": "appointment",
        "case_id": case["id"],
        "recipient_id": case["referrer_id"],
        "due_at": case["created_at"] + timedelta(days=7),
        "status": status,
        "response": rnd.choice((None, "attending", "cannot_attend")) if status == "sent" else None,
        "created_at": case["created_at"],
    }


async def _flush(db: Database, *batches: list[dict]) -> None:
    for model, rows in zip((Case, Query, ThreadMessage, Reminder), batches, strict=True):
        await _insert(db, model, rows)
        rows.clear()


async def time_report(db: Database, runs: int) -> dict[str, dict[str, float]]:
    timings: dict[str, list[float]] = {
        "figures": [],
        "text": [],
        "csv": [],
        "html": [],
        "figures_last_30_days": [],
    }
    tz = ZoneInfo("Europe/London")
    month = (NOW - timedelta(days=29)).date()
    for _ in range(runs):
        start = time.perf_counter()
        async with db.uow() as uow:
            await build_report(uow, FakeClock(NOW), tz, timedelta(hours=4), month)
        timings["figures_last_30_days"].append(time.perf_counter() - start)
        start = time.perf_counter()
        async with db.uow() as uow:
            report = await build_report(uow, FakeClock(NOW), tz, timedelta(hours=4))
        timings["figures"].append(time.perf_counter() - start)
        for fmt in ("text", "csv", "html"):
            start = time.perf_counter()
            render(report, fmt)
            timings[fmt].append(time.perf_counter() - start)
    return {
        name: {"median": statistics.median(v), "min": min(v), "max": max(v)}
        for name, v in timings.items()
    }


async def run_size(url: str | None, cases: int, messages: int, runs: int) -> dict:
    keyring = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
    with tempfile.TemporaryDirectory() as folder:
        schema = f"bench_{cases}_{secrets.token_hex(3)}"
        kwargs: dict = {}
        if url is None:
            db_url = f"sqlite+aiosqlite:///{folder}/bench.db"
        else:
            db_url = url
            admin = Database(url, keyring)
            async with admin.engine.begin() as conn:
                await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            await admin.dispose()
            kwargs = {"connect_args": {"server_settings": {"search_path": schema}}}
        db = Database(db_url, keyring, **kwargs)
        try:
            await db.migrate()
            start = time.perf_counter()
            counts = await seed(db, cases, messages)
            seeded = time.perf_counter() - start
            # One warm-up run (imports, matplotlib fonts, caches), then the timed runs.
            await time_report(db, 1)
            timings = await time_report(db, runs)
        finally:
            await db.dispose()
            if url is not None:
                admin = Database(url, keyring)
                async with admin.engine.begin() as conn:
                    await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                await admin.dispose()
    return {**counts, "seed_seconds": round(seeded, 1), "timings": timings}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--messages-per-case", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="PostgreSQL URL (a schema is made and dropped)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for cases in sizes:
        result = await run_size(args.url, cases, args.messages_per_case, args.runs)
        results.append(result)
        print(json.dumps(result), file=sys.stderr)
    backend = "postgresql" if args.url else "sqlite"
    print(
        "\n| backend | cases | queries | messages | figures, all time (median, min–max) "
        "| html | csv | figures, last 30 days |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        t = r["timings"]
        print(
            f"| {backend} | {r['cases']:,} | {r['queries']:,} | {r['messages']:,} "
            f"| {t['figures']['median']:.3f} s ({t['figures']['min']:.3f}–"
            f"{t['figures']['max']:.3f}) | {t['html']['median']:.3f} s "
            f"| {t['csv']['median']:.3f} s | {t['figures_last_30_days']['median']:.3f} s |"
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        growth = large["cases"] / small["cases"]
        total = {
            r["cases"]: r["timings"]["figures"]["median"] + r["timings"]["html"]["median"]
            for r in results
        }
        ratio = total[large["cases"]] / total[small["cases"]]
        print(
            f"\n{growth:.0f}x the cases: figures+html took {ratio:.1f}x as long "
            f"({'within' if ratio <= growth else 'worse than'} linear)"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"report-{backend}.json"
    out.write_text(
        json.dumps(
            {
                "backend": backend,
                "machine": platform.platform(),
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"written {out}")
    if args.json:
        args.json.write_text(out.read_text())


if __name__ == "__main__":
    asyncio.run(main())

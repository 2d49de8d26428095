"""Attachments benchmark: a file on a case, through the real Application and the HTTP fake.

1. Storing and routing a PDF: a referrer sends it as a Telegram reply to a message about
   C-1; wall time from the update entering the fake to the named clinician's sendDocument
   being answered, split into download (getFile and the download), check (in a thread),
   store (`services.attachments.attach`: hash, encrypt, insert), commit, the wait for the
   dispatcher, and upload (read and decrypt, then sendDocument). A 10 MB PDF (a page with
   a 10 MB uncompressed image of random bytes, so pypdf opens a 10 MB file) against a
   100 kB one: the ratio of the medians. Memory: the tracemalloc peak of Python
   allocations during one more run (tracing slows it, so that run is not timed) and what
   is still held after it and a gc.collect(); and the growth of ru_maxrss (the process's
   resident high-water mark) over the timed 10 MB runs (the 100 kB runs go first); each
   also as a multiple of the file size. The fake runs in this process, so these include
   the fake's copies (the user's upload, the request it received, the stored result).
2. /case with 0 files and with 30 files on the case (the per-case limit; two cases of
   one referrer, requests alternating): time from the update to the reply, SQL
   statements per /case (SQLAlchemy `before_cursor_execute` on the engine: the whole
   round trip, from storing the update to recording the reply sent), and whether any of
   them read the file bytes (`content_enc`: deferred with raiseload in the model).

SQLite always; PostgreSQL as well when TEST_DATABASE_URL is set (a throw-away schema, as
tests/conftest.py does).

    .venv/bin/python bench/attachments.py [--runs 5] [--listing-runs 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import create_async_engine

import handlers.attachments as attachment_handlers
import services.attachments as attachment_service
from core.clock import FakeClock
from delivery.outbox import Dispatcher
from services.attachment_check import MB
from storage.crypto import Keyring
from storage.repositories.attachments import AttachmentRepository
from storage.uow import UnitOfWork
from tests.fakes import FakeBotAPI, FakeUser
from tests.journeys.conftest import Harness, journey_settings
from tests.journeys.test_attachments import _case_message, _case_opened, _world
from tests.journeys.test_registration import press, say

KB = 1024
SIZES = {"100kB": 100 * KB, "10MB": 10 * MB}
LISTED_FILES = 30
OTHER_NHS = "4010232137"  # a valid NHS number other than the journeys' one

# --- files ----------------------------------------------------------------------------


def pdf_of_size(size: int) -> bytes:
    """A one-page PDF of about `size` bytes: the page shows an uncompressed RGB image of
    random bytes (incompressible, so the file really is that big)."""
    width = 1000 if size > MB else 100
    height = max(1, size // (3 * width))
    image = DecodedStreamObject()
    image.set_data(secrets.token_bytes(width * height * 3))
    image.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject("/DeviceRGB"),
            NameObject("/BitsPerComponent"): NumberObject(8),
        }
    )
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    ref = writer._add_object(image)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): ref})}
    )
    content = DecodedStreamObject()
    content.set_data(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --- the bot --------------------------------------------------------------------------


@asynccontextmanager
async def _backend(name: str, folder: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(url, engine kwargs) of a fresh database: a SQLite file or a PostgreSQL schema."""
    if name == "sqlite":
        yield f"sqlite+aiosqlite:///{folder}/bench_{secrets.token_hex(3)}.db", {}
        return
    url = os.environ["TEST_DATABASE_URL"]
    schema = f"b_{secrets.token_hex(6)}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield url, {"connect_args": {"server_settings": {"search_path": schema}}}
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


@asynccontextmanager
async def _bot(backend: str, folder: str) -> AsyncIterator[tuple[Harness, FakeUser, FakeUser]]:
    """The real bot (as the journeys run it) with the journeys' world: a referrer whose
    case C-1 is named to Dr Jones. Yields (harness, referrer, Jones)."""
    async with _backend(backend, folder) as (url, engine_kwargs), FakeBotAPI() as fake:
        keyring = Keyring((secrets.token_bytes(32),), secrets.token_bytes(32))
        harness = Harness(fake, journey_settings(fake, url, keyring), FakeClock(), engine_kwargs)
        await harness.start()
        try:
            user, jones, _, _ = await _world(harness)
            await _case_opened(harness, user)
            yield harness, user, jones
        finally:
            await harness.stop()


# --- timing hooks ---------------------------------------------------------------------

Marks = dict[str, list[tuple[float, float]]]


def _install_marks() -> tuple[Marks, Callable[[], None]]:
    """Wrap the steps of storing and sending a file to record (start, end) of each call;
    returns the records and a function that undoes the wrapping."""
    marks: Marks = {k: [] for k in ("download", "check", "attach", "commit", "send", "read")}
    undo: list[Callable[[], None]] = []

    def wrap(owner: Any, attr: str, key: str, is_async: bool) -> None:
        original = getattr(owner, attr)

        if is_async:

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                started = time.monotonic()
                try:
                    return await original(*args, **kwargs)
                finally:
                    marks[key].append((started, time.monotonic()))

            setattr(owner, attr, timed_async)
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.monotonic()
                try:
                    return original(*args, **kwargs)
                finally:
                    marks[key].append((started, time.monotonic()))

            setattr(owner, attr, timed)
        undo.append(lambda: setattr(owner, attr, original))

    wrap(attachment_handlers, "download", "download", True)
    wrap(attachment_handlers, "check", "check", False)  # looked up at call time
    wrap(attachment_service, "attach", "attach", True)
    wrap(UnitOfWork, "commit", "commit", True)
    wrap(Dispatcher, "_send_attachment", "send", True)
    wrap(AttachmentRepository, "content", "read", True)

    def restore() -> None:
        for one in reversed(undo):
            one()

    return marks, restore


def _after(spans: list[tuple[float, float]], t: float) -> tuple[float, float]:
    return next(s for s in spans if s[0] >= t)


async def _send_one(
    h: Harness, user: FakeUser, content: bytes, name: str, marks: Marks | None
) -> dict[str, float]:
    """Send `content` as a reply to the last message about C-1; wait until the clinician
    has it. The phases in ms when `marks` are recorded."""
    fake = h.fake
    uploads = len(fake.calls_to("sendDocument"))
    reply_to = await _case_message(user)
    if marks is not None:
        for spans in marks.values():
            spans.clear()
    started = time.monotonic()
    update_id = user.send_document(name, content, reply_to=reply_to)
    await h.handled(update_id)
    runtime = h.runtime
    assert runtime is not None
    await runtime.drained(timeout=120)
    calls = fake.calls_to("sendDocument")
    assert len(calls) == uploads + 1 and calls[-1].ok, "the clinician did not get the file"
    delivered = calls[-1].finished
    result = {"total_ms": (delivered - started) * 1000}
    if marks is None:
        return result
    download = marks["download"][0]
    check = marks["check"][0]
    attach = marks["attach"][0]
    commit = _after(marks["commit"], attach[1])
    send = _after(marks["send"], commit[1])
    read = _after(marks["read"], send[0])
    ms = 1000.0
    result.update(
        {
            "before_download_ms": (download[0] - started) * ms,
            "download_ms": (download[1] - download[0]) * ms,
            "check_ms": (check[1] - check[0]) * ms,
            "store_ms": (attach[1] - attach[0]) * ms,
            "commit_ms": (commit[1] - commit[0]) * ms,
            "to_dispatcher_ms": (send[0] - commit[1]) * ms,
            "read_decrypt_ms": (read[1] - read[0]) * ms,
            "upload_ms": (delivered - read[1]) * ms,
        }
    )
    return result


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in runs[0]}


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def routing(backend: str, runs: int) -> dict[str, Any]:
    """Part 1: the PDFs, `runs` each (100 kB first, so the 10 MB RSS growth is its own)."""
    files = {label: [pdf_of_size(size) for _ in range(runs + 1)] for label, size in SIZES.items()}
    out: dict[str, Any] = {}
    marks, restore = _install_marks()
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with _bot(backend, folder) as (h, user, _):
                await _send_one(h, user, pdf_of_size(20 * KB), "warm.pdf", marks)  # warm-up
                for label, contents in files.items():
                    size = len(contents[0])
                    gc.collect()
                    rss_before = _maxrss_mb()
                    timed = []
                    for n, content in enumerate(contents[:runs]):
                        timed.append(await _send_one(h, user, content, f"{label}-{n}.pdf", marks))
                    rss_growth = _maxrss_mb() - rss_before
                    # One more file with tracemalloc on (it slows allocation: not timed).
                    gc.collect()
                    tracemalloc.start()
                    tracemalloc.reset_peak()
                    base, _ = tracemalloc.get_traced_memory()
                    await _send_one(h, user, contents[runs], f"{label}-traced.pdf", None)
                    _, peak = tracemalloc.get_traced_memory()
                    gc.collect()
                    # Still held once handled and sent: the fake's copies (the user's
                    # upload, the clinician's received file), not the bot's.
                    kept, _ = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                    out[label] = {
                        "file_bytes": size,
                        "runs": runs,
                        "median": _median(timed),
                        "all_total_ms": [round(r["total_ms"], 1) for r in timed],
                        "tracemalloc_peak_mb": round((peak - base) / MB, 1),
                        "tracemalloc_peak_x_file": round((peak - base) / size, 1),
                        "tracemalloc_kept_after_mb": round((kept - base) / MB, 1),
                        "maxrss_growth_mb": round(rss_growth, 1),
                        "maxrss_growth_x_file": round(rss_growth * MB / size, 1),
                    }
    finally:
        restore()
    small, big = out["100kB"]["median"], out["10MB"]["median"]
    out["ratio_10MB_over_100kB"] = {
        k: round(big[k] / small[k], 1) if small[k] else None for k in big
    }
    return out


async def _second_case(h: Harness, user: FakeUser) -> None:
    """C-2: the journeys' referral (as `_open_case`) for another patient, no files."""
    await say(h, user, "/refer")
    await say(h, user, OTHER_NHS)
    await say(h, user, "04/05/1971")
    await press(h, user, "Soft tissue")
    await say(h, user, "Right arm")
    await say(h, user, "Arm mass, MRI done.")
    await press(h, user, "Urgent")
    await press(h, user, "Confirm")
    await press(h, user, "No files")


async def listing(backend: str, runs: int) -> dict[str, Any]:
    """Part 2: /case by the referrer on C-1 with 30 files and on C-2 with none (the same
    referral otherwise), requests alternating so both see the same machine."""
    with tempfile.TemporaryDirectory() as folder:
        async with _bot(backend, folder) as (h, user, _):
            assert h.runtime is not None
            await _second_case(h, user)  # C-2, no files
            # 30 files (the per-case limit) of 100 kB each on C-1, as the bot stores them.
            for n in range(LISTED_FILES):
                await _send_one(h, user, pdf_of_size(100 * KB), f"listed-{n}.pdf", None)
            statements: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                statements.append(statement)

            event.listen(h.runtime.db.engine.sync_engine, "before_cursor_execute", count)
            seen: dict[str, dict[str, Any]] = {
                ref: {"ms": [], "statements": [], "reading_content": 0, "chars": 0}
                for ref in ("C-1", "C-2")
            }
            for n in range(runs + 1):  # the first of each is a warm-up
                for ref in ("C-1", "C-2"):
                    before = len(user.messages())
                    statements.clear()
                    started = time.monotonic()
                    await h.handled(user.send_text(f"/case {ref}"))
                    assert len(user.messages()) > before
                    answered = h.fake.calls_to("sendMessage")[-1].finished
                    if n == 0:
                        continue
                    one = seen[ref]
                    one["ms"].append((answered - started) * 1000)
                    one["statements"].append(len(statements))
                    one["reading_content"] += sum(
                        1 for s in statements if "content_enc" in s and "SELECT" in s.upper()
                    )
                    one["chars"] = sum(len(m.plain or "") for m in user.messages()[before:])
                    one["send_buttons"] = sum(
                        1 for b in user.buttons() if b.startswith("Send file")
                    )
    out: dict[str, Any] = {}
    for name, ref, files in (("empty", "C-2", 0), ("full", "C-1", LISTED_FILES)):
        one = seen[ref]
        out[name] = {
            "case": ref,
            "files": files,
            "median_ms": round(statistics.median(one["ms"]), 1),
            "statements_median": statistics.median(one["statements"]),
            "statements_reading_content": one["reading_content"],
            "reply_chars": one["chars"],
            "send_buttons": one["send_buttons"],
        }
    out["ratio_time_30_over_0"] = round(out["full"]["median_ms"] / out["empty"]["median_ms"], 2)
    return out


async def run(backend: str, runs: int, listing_runs: int) -> dict[str, Any]:
    return {
        "routing": await routing(backend, runs),
        "listing": await listing(backend, listing_runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="files of each size")
    parser.add_argument("--listing-runs", type=int, default=30, help="/case requests each")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = ["sqlite"] + (["postgres"] if os.environ.get("TEST_DATABASE_URL") else [])
    result: dict[str, Any] = {
        "machine": f"{platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    for backend in backends:
        print(f"{backend} ...", file=sys.stderr, flush=True)
        result[backend] = asyncio.run(run(backend, args.runs, args.listing_runs))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""`referral-bot sandbox`: a real process serving the page, driven by a headless Chromium
through the whole journey; and the guards (loopback only, no real database)."""

from __future__ import annotations

import base64
import contextlib
import io
import ipaddress
import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image
from telegram import Bot

from bot.sandboxed import sandbox_settings
from sandbox import spec
from sandbox.botapi import FakeBotAPI
from sandbox.clock import SandboxClock
from sandbox.web import WebServer, is_loopback
from sandbox.world import MDT_MOMENTS, PANES, Sandbox, SandboxError, demo_directory, mdt_moment
from services.mdt import meetings_from
from storage.models import Clinic

SCRIPT = Path(sys.executable).with_name("referral-bot")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parent / "artifacts" / "sandbox"
START = "2026-11-02T09:00"  # a Monday, 09:00 UTC = 09:00 in London
LONDON = ZoneInfo("Europe/London")


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**base, "COLUMNS": "200", **extra}


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "sandbox", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


# ------------------------------------------------------------------------------ guards
def test_refuses_an_existing_database_named_in_dotenv(tmp_path: Path) -> None:
    db = tmp_path / "referral-bot.db"
    sqlite3.connect(db).close()
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite+aiosqlite:///{db}\n")
    result = _cli("--port", "0", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "DATABASE_URL" in result.stderr and "existing SQLite database" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_a_database_server_in_the_environment(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://bot:s3cret@db.example:5432/referrals"
    result = _cli("--port", "0", cwd=tmp_path, DATABASE_URL=url)
    assert result.returncode == 2
    assert "database server" in result.stderr and "s3cret" not in result.stderr


def test_refuses_to_listen_beyond_loopback(tmp_path: Path) -> None:
    result = _cli("--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "loopback only" in result.stderr and "Traceback" not in result.stderr


def test_loopback_check() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("8.8.8.8")


def test_bundled_method_table_is_api_json_s() -> None:
    """The sandbox's fallback for a plain install (no shared/ beside the repo) is current."""
    bundled = json.loads(spec.BUNDLED.read_text(encoding="utf-8"))
    assert bundled == spec.compact(spec.load_spec()), "run: python -m sandbox.spec"


def test_demo_directory_is_made_up() -> None:
    directory = demo_directory()
    emails = [p.email for p in directory.people if p.email]
    assert emails and all(e.endswith("@example.nhs.uk") for e in emails)


def _demo_meetings(since: datetime, cancelled: frozenset[date] = frozenset()) -> list[Any]:
    """The demo directory's MDT meetings from the day before `since` (London dates)."""
    clinics = [
        Clinic(
            id=c.id,
            kind=c.kind,
            name=c.name,
            weekday=c.weekday,
            time=c.time,
            location=c.location,
            cutoff_weekday=c.cutoff_weekday,
            cutoff_time=c.cutoff_time,
        )
        for c in demo_directory().clinics
    ]
    day = since.astimezone(LONDON).date() - timedelta(days=1)
    return meetings_from(clinics, day, set(cancelled), LONDON)


def test_demo_directory_has_the_monday_mdt() -> None:
    [mdt] = [c for c in demo_directory().clinics if c.kind == "mdt"]
    assert (mdt.weekday, mdt.time, mdt.cutoff_weekday, mdt.cutoff_time) == (0, "13:00", 3, "17:00")


@pytest.mark.parametrize(
    ("now", "which", "expected"),
    [
        # Wednesday 2 December 10:00: the cut-off is Thursday 17:00 (GMT: London = UTC).
        ("2026-12-02 10:00", "mdt_cutoff", "2026-12-03 17:01"),
        ("2026-12-02 10:00", "mdt_meeting", "2026-12-07 13:00"),
        ("2026-12-02 10:00", "morning_after", "2026-12-08 08:05"),
        # After the cut-off: next week's; at the cut-off itself: this one.
        ("2026-12-03 17:01", "mdt_cutoff", "2026-12-10 17:01"),
        ("2026-12-03 17:00", "mdt_cutoff", "2026-12-03 17:01"),
        # On the meeting day, after it has started: the next meeting, but tomorrow morning.
        ("2026-12-07 13:00", "mdt_meeting", "2026-12-14 13:00"),
        ("2026-12-07 13:00", "morning_after", "2026-12-08 08:05"),
        ("2026-12-08 07:00", "morning_after", "2026-12-08 08:05"),
        ("2026-12-08 08:05", "morning_after", "2026-12-15 08:05"),
        # Summer time: the same wall-clock times, an hour earlier in UTC.
        ("2026-06-03 10:00", "mdt_cutoff", "2026-06-04 16:01"),
        ("2026-06-03 10:00", "mdt_meeting", "2026-06-08 12:00"),
        ("2026-06-03 10:00", "morning_after", "2026-06-09 07:05"),
    ],
)
def test_mdt_clock_moments(now: str, which: str, expected: str) -> None:
    at = datetime.fromisoformat(now).replace(tzinfo=UTC)
    moment = mdt_moment(which, _demo_meetings(at), at, LONDON)
    assert moment == datetime.fromisoformat(expected).replace(tzinfo=UTC)


def test_mdt_clock_moments_skip_cancelled_dates_and_need_a_meeting() -> None:
    at = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    meetings = _demo_meetings(at, frozenset({date(2026, 12, 7)}))
    assert mdt_moment("mdt_meeting", meetings, at, LONDON) == datetime(
        2026, 12, 14, 13, 0, tzinfo=UTC
    )
    with pytest.raises(SandboxError, match="no MDT meeting"):
        mdt_moment("mdt_cutoff", [], at, LONDON)
    with pytest.raises(SandboxError, match="no clock button"):
        mdt_moment("tea_time", meetings, at, LONDON)


def test_the_clock_goes_to_the_mdt_cutoff_meeting_and_morning_after(tmp_path: Path) -> None:
    """Through the page's API, with the real bot running its timed jobs on the way."""
    with _serving(tmp_path, "2026-12-02T10:00") as (url, _):

        def to(which: str) -> tuple[int, dict[str, Any]]:
            body = json.dumps({"to": which}).encode()
            request = urllib.request.Request(
                url + "api/clock", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return int(response.status), json.loads(response.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        # Each lands on its instant (the sandbox clock runs on while the jobs run).
        for which, expected in [
            ("mdt_cutoff", datetime(2026, 12, 3, 17, 1, tzinfo=UTC)),
            ("mdt_meeting", datetime(2026, 12, 7, 13, 0, tzinfo=UTC)),
            ("morning_after", datetime(2026, 12, 8, 8, 5, tzinfo=UTC)),
        ]:
            status, answer = to(which)
            assert status == 200, answer
            now = datetime.fromisoformat(answer["now"])
            assert expected <= now < expected + timedelta(minutes=1), (which, now)
        with urllib.request.urlopen(url + "api/state", timeout=30) as response:
            assert "Tuesday 08 December 2026, 08:0" in json.loads(response.read())["clock"]
        status, answer = to("lunch")
        assert status == 400 and all(key in answer["error"] for key in MDT_MOMENTS)


def test_sandbox_settings_ignore_the_bots_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("WEBHOOK_URL=https://bot.example/hook\nWEBHOOK_SECRET=x\n")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot")
    monkeypatch.setenv("TIMEZONE", "Not/AZone")
    fake = FakeBotAPI()
    first = sandbox_settings(fake, "sqlite+aiosqlite:///sandbox.db")
    second = sandbox_settings(fake, "sqlite+aiosqlite:///sandbox.db")
    assert first.WEBHOOK_URL is None
    assert first.TELEGRAM_API_BASE_URL.startswith("http://127.0.0.1:")
    assert first.ENCRYPTION_KEYS != second.ENCRYPTION_KEYS  # fresh keys every run
    assert first.INDEX_KEY != second.INDEX_KEY


def test_sandbox_clock_runs_and_only_moves_forward() -> None:
    ticks = iter([100.0, 100.0, 130.0, 130.0])
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    clock = SandboxClock(start, monotonic=lambda: next(ticks))
    assert clock.now() == start
    clock.advance(timedelta(days=1))
    assert clock.now() == start + timedelta(days=1, seconds=30)
    with pytest.raises(ValueError):
        clock.advance(timedelta(minutes=-1))


# ----------------------------------------------------------------------- the journey
def _listening(pid: int) -> list[str]:
    """Addresses of the TCP sockets process `pid` listens on (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(local.split(":")[0])
                # /proc prints each 32-bit word in host (little-endian) order.
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.append(str(ipaddress.ip_address(words)))
    return found


@pytest.fixture
def sandbox_url(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The real CLI in a subprocess, as on a fresh machine: no .env, no api.json."""
    with _serving(tmp_path, START) as served:
        yield served


@contextlib.contextmanager
def _serving(tmp_path: Path, start: str) -> Iterator[tuple[str, int]]:
    """`referral-bot sandbox --start START` until the block ends: its URL and pid."""
    proc = subprocess.Popen(
        [str(SCRIPT), "sandbox", "--port", "0", "--start", start],
        cwd=tmp_path,
        env=_env(BOT_API_SPEC=str(tmp_path / "no-api.json")),
        stdout=subprocess.PIPE,
        stderr=open(tmp_path / "sandbox.log", "w"),  # noqa: SIM115 - closed with the process
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True).start()
    url = None
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(queue.Empty):
            line = lines.get(timeout=0.5)
            if line.startswith("Open http://"):
                url = line.split()[1]
    try:
        assert url, f"no URL from the sandbox:\n{(tmp_path / 'sandbox.log').read_text()}"
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log = (tmp_path / "sandbox.log").read_text()
        assert code == 0, log
        assert "Traceback" not in log, log


def _request(url: str, body: bytes | None, **headers: str) -> int:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_page_refuses_requests_another_site_could_make(
    sandbox_url: tuple[str, int],
) -> None:
    url, _ = sandbox_url
    body = json.dumps({"pane": "referrer", "text": "/register"}).encode()
    # A cross-site form can send text/plain but not JSON; a rebound DNS name is not loopback.
    assert _request(url + "api/send", body, **{"Content-Type": "text/plain"}) == 415
    assert _request(url + "api/state", None, Host="sandbox.attacker.example") == 403
    assert _request(url + "api/send", body, **{"Content-Type": "application/json"}) == 200
    assert _request(url + "api/file/NOPE", None) == 404
    clock = json.dumps({"minutes": 60 * 24 * 365}).encode()
    assert _request(url + "api/clock", clock, **{"Content-Type": "application/json"}) == 400


def _browser() -> Any:
    """Playwright's sync API, or a skip (a failure when REQUIRE_BROWSER=1)."""
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "playwright is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    if problem:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    return sync_playwright


def test_every_role_in_the_browser_from_registration_to_reminder(
    sandbox_url: tuple[str, int],
) -> None:
    sync_playwright = _browser()
    from playwright.sync_api import expect

    url, pid = sandbox_url
    if os.path.isdir(f"/proc/{pid}"):
        addresses = _listening(pid)
        assert len(addresses) >= 2, addresses  # the page and the Bot API fake
        assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(15_000)
            expect.set_options(timeout=15_000)
            page.goto(url)
            expect(page.locator(".banner")).to_contain_text("made up")

            def pane(key: str) -> Any:
                return page.locator(f'section.pane[data-pane="{key}"]')

            def last_bot(key: str) -> Any:
                return pane(key).locator(".msg:not(.out)").last

            def say(key: str, text: str, expect_text: str) -> None:
                box = pane(key).locator("textarea")
                box.fill(text)
                box.press("Enter")
                expect(last_bot(key)).to_contain_text(expect_text)

            def press(key: str, label: str, expect_text: str, where: str = "") -> None:
                target = where or key
                before = pane(target).locator(".msg").count()
                pane(key).locator("button.kb", has_text=label).last.click()
                if not where:
                    expect(pane(target).locator(".msg")).not_to_have_count(before)
                expect(last_bot(target)).to_contain_text(expect_text)

            def shot(name: str) -> None:
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

            for key in ("admin", "clinician1", "clinician2", "link"):
                expect(last_bot(key)).to_contain_text("now registered as")
            shot("01-start")

            # Register (referrer) and approve (admin).
            say("referrer", "/register", "Registration 1/8")
            say("referrer", "Dr Casey Morgan", "Registration 2/8")
            say("referrer", "Consultant Orthopaedic Surgeon", "Registration 3/8")
            press("referrer", "Northfield General Hospital", "Registration 4/8")
            say("referrer", "0118 496 0123", "Registration 5/8")
            say("referrer", "07911 123456", "Registration 6/8")
            say("referrer", "0118 496 0124", "Registration 7/8")
            say("referrer", "casey.morgan@example.nhs.uk", "Registration 8/8")
            say("referrer", "none", "07911 123456")
            press("referrer", "Confirm", "sent to the service's administrators")
            expect(last_bot("admin")).to_contain_text("Dr Casey Morgan")
            press("admin", "Approve", "registration has been approved", where="referrer")
            shot("02-registered-and-approved")

            # Refer: the case goes to a named clinician, a deputy and the link clinician.
            say("referrer", "/refer", "NHS number")
            say("referrer", "943 476 5919", "date of birth")
            say("referrer", "04/05/1970", "Bone")
            press("referrer", "Soft tissue", "site")
            say("referrer", "Left thigh", "summary")
            say(
                "referrer",
                "Enlarging painless mass, 6 cm, deep to fascia. MRI done.",
                "Urgent",
            )
            press("referrer", "Routine", "943 476 5919")
            # The case opens, then the bot asks for its files (the 📎 row; none here).
            press("referrer", "Confirm", "No files")
            expect(pane("referrer")).to_contain_text("Case C-1")
            press("referrer", "No files", "/attach C-1")
            named = next(
                key
                for key in ("clinician1", "clinician2")
                if "named clinician for case C-1" in pane(key).inner_text()
            )
            expect(last_bot("link")).to_contain_text("C-1")

            # Ask, then the named clinician answers with a Telegram reply.
            say("referrer", "/ask C-1", "question")
            say("referrer", "Should we biopsy locally or refer straight to you?", "Q-1")
            question = last_bot(named)
            expect(question).to_contain_text("biopsy locally")
            # Acknowledge / Reply / Pass to deputy / Resolve, and Discuss at MDT.
            expect(question.locator("button.kb")).to_have_count(5)
            question.locator(".reply-btn").click()
            expect(pane(named).locator(".replying")).to_contain_text("Replying to")
            box = pane(named).locator("textarea")
            box.fill("Please do not biopsy locally: refer now and send the MRI.")
            box.press("Enter")
            expect(last_bot("referrer")).to_contain_text("Please do not biopsy locally")
            shot("03-asked-and-answered")

            # The patient: invitation link from the clinician, consent in the patient pane.
            say(named, "/invite_patient C-1", "start=")
            last_bot(named).locator("button.open-link").click()
            expect(last_bot("patient")).to_contain_text("What the bot sends you")
            press("patient", "I agree", "You will receive appointment reminders")

            # An appointment tomorrow at noon: reminders at 1 day and 2 hours before.
            say(named, "/appointment C-1", "which kind")
            press(named, "Follow-up at NOC", "Date and time")
            say(named, "2026-11-03 12:00", "Location")
            last_bot(named).locator("button.kb").first.click()
            expect(last_bot(named)).to_contain_text("Tuesday 03 November 2026 at 12:00")
            press(named, "Confirm", "Booked")
            expect(pane("patient").locator(".msg .doc")).to_have_count(1)  # the .ics
            reminders = pane("patient").locator(".msg", has_text="⏰")
            expect(reminders).to_have_count(0)

            # A day passes: the 1-day reminder (Monday 12:00) reaches the patient.
            page.locator("#plus-day").click()
            expect(page.locator("#clock")).to_contain_text(
                "Tuesday 03 November 2026", timeout=30_000
            )
            expect(reminders).to_have_count(1)
            expect(reminders.last).to_contain_text("Tuesday 03 November 2026 at 12:00")
            shot("04-reminder-after-a-day")
            press("patient", "I will attend", "will attend")

            # Documents download from the page (the calendar file).
            with page.expect_download() as download:
                pane("patient").locator(".msg .doc").first.click()
            assert download.value.suggested_filename.endswith(".ics")

            # The MDT: list the case, then the clock to the cut-off sends out the agenda.
            say(named, "/mdt_add C-1", "question for the meeting")
            say(named, "Biopsy here or at the centre?", "listed for the MDT")
            expect(last_bot(named)).to_contain_text("Monday 9 November 2026")
            page.locator("#to-mdt-cutoff").click()
            expect(page.locator("#clock")).to_contain_text(
                "Thursday 05 November 2026, 17:0", timeout=60_000
            )
            expect(pane(named).locator(".msg", has_text="has closed")).to_have_count(
                1, timeout=30_000
            )
            shot("05-end")
        finally:
            browser.close()


# ------------------------------------------------------------------------------ files
def _picture(width: int, height: int, kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(out, kind)
    return out.getvalue()


class _NoBot:
    """Stands in for the bot: the page's state needs only its time zone."""

    timezone = ZoneInfo("Europe/London")


@pytest.fixture
async def page_without_bot() -> AsyncIterator[tuple[Sandbox, str]]:
    """The sandbox's page and fake in-process, its users, and no bot answering them."""
    sandbox = Sandbox(lambda fake, url, clock: _NoBot())  # type: ignore[arg-type,return-value]
    sandbox.runtime = _NoBot()  # type: ignore[assignment]
    sandbox.fake = await FakeBotAPI(clock=sandbox.clock.timestamp).start()
    for pane in PANES:
        sandbox.users[pane.key] = sandbox.fake.user(pane.user_id, pane.first_name, pane.last_name)
    web = WebServer(sandbox, "127.0.0.1", 0)
    await web.start()
    try:
        yield sandbox, web.url
    finally:
        await web.stop()
        await sandbox.fake.stop()


async def test_files_sent_from_the_page_and_files_the_bot_sent(
    page_without_bot: tuple[Sandbox, str],
) -> None:
    sandbox, url = page_without_bot
    fake = sandbox.fake
    assert fake is not None
    referrer = sandbox.users["referrer"]
    pdf = b"%PDF-1.4 made-up MRI report"
    async with httpx.AsyncClient(base_url=url) as web:

        async def upload(**body: Any) -> httpx.Response:
            return await web.post("/api/upload", json={"pane": "referrer", **body})

        sent = await upload(
            name="MRI report ü.pdf", content=base64.b64encode(pdf).decode(), caption=" C-1 "
        )
        assert sent.status_code == 200, sent.text
        big_png = base64.b64encode(_picture(2000, 1000, "PNG")).decode()
        assert (await upload(name="thigh.png", content=big_png, as_photo=True)).status_code == 200
        not_a_picture = await upload(
            name="x.png", content=base64.b64encode(pdf).decode(), as_photo=True
        )
        assert not_a_picture.status_code == 400 and "JPEG or PNG" in not_a_picture.json()["error"]
        assert (await upload(name="x.pdf", content="%%%")).status_code == 400
        assert (await upload(name="x.pdf", content="")).json()["error"] == "choose a file first"
        form = await web.post(
            "/api/upload", content=b"pane=referrer", headers={"Content-Type": "text/plain"}
        )
        assert form.status_code == 415

        # What the bot receives: a document, then a photo re-encoded as Telegram's apps do.
        document_update, photo_update = (u["message"] for u in fake.updates)
        assert document_update["document"]["file_name"] == "MRI report ü.pdf"
        assert document_update["document"]["mime_type"] == "application/pdf"
        assert document_update["caption"] == "C-1"
        largest = photo_update["photo"][-1]
        assert (largest["width"], largest["height"]) == (1280, 640)
        assert fake.files[largest["file_id"]][1].startswith(b"\xff\xd8")

        # Files the bot sends show up in the pane too.
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_document(
                referrer.id, b"%PDF-1.4 advice", filename="advice.pdf", caption="Advice for C-1"
            )
            await bot.send_photo(referrer.id, _picture(320, 240, "JPEG"), caption="Marked up")
        pane = next(
            p for p in (await web.get("/api/state")).json()["panes"] if p["key"] == "referrer"
        )
        assert pane["uploads"] is True
        mine = [m for m in pane["messages"] if m["out"]]
        assert mine[0]["document"]["name"] == "MRI report ü.pdf" and mine[0]["text"] == "C-1"
        assert mine[1]["photo"]["width"] == 1280
        bots = [m for m in pane["messages"] if not m["out"]]
        assert bots[0]["document"] == {
            "file_id": bots[0]["document"]["file_id"],
            "name": "advice.pdf",
            "size": len(b"%PDF-1.4 advice"),
        }
        assert bots[0]["text"] == "Advice for C-1"
        assert (bots[1]["photo"]["width"], bots[1]["text"]) == (320, "Marked up")

        download = await web.get(f"/api/file/{bots[0]['document']['file_id']}")
        assert download.content == b"%PDF-1.4 advice"
        assert download.headers["Content-Type"] == "application/pdf"
        assert download.headers["Content-Disposition"].startswith(
            'attachment; filename="advice.pdf"'
        )
        own = await web.get(f"/api/file/{mine[0]['document']['file_id']}")
        assert (
            own.content == pdf
            and "filename*=UTF-8''MRI%20report%20%C3%BC.pdf" in own.headers["Content-Disposition"]
        )
        picture = await web.get(f"/api/file/{bots[1]['photo']['file_id']}")
        assert picture.headers["Content-Type"] == "image/jpeg"
        assert picture.headers["Content-Disposition"] == "inline"
        assert (await web.get("/api/file/NOPE")).status_code == 404
    assert fake.spec_errors == []


def test_sending_files_in_the_browser(sandbox_url: tuple[str, int]) -> None:
    """The referrer's 📎 row sends a PDF as a document and a PNG as a photo (the bot's
    answer to them is not this test's business)."""
    sync_playwright = _browser()
    from playwright.sync_api import expect

    url, _ = sandbox_url
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(15_000)
            page.goto(url)
            pane = page.locator('section.pane[data-pane="referrer"]')
            expect(page.locator('section.pane[data-pane="admin"] .upload')).to_have_count(0)
            pane.locator("input[type=file]").set_input_files(
                {
                    "name": "referral letter.pdf",
                    "mimeType": "application/pdf",
                    "buffer": b"%PDF-1.4 letter",
                }
            )
            pane.locator("input[name=caption]").fill("For C-1")
            pane.locator("button.send-file").click()
            expect(pane.locator(".msg.out .doc")).to_contain_text("referral letter.pdf")
            expect(pane.locator(".msg.out", has_text="For C-1")).to_have_count(1)
            pane.locator("input[type=file]").set_input_files(
                {"name": "thigh.png", "mimeType": "image/png", "buffer": _picture(64, 48, "PNG")}
            )
            pane.locator("button.send-file").click()
            image = pane.locator(".msg.out .photo img")
            expect(image).to_have_count(1)
            expect(image).to_have_js_property("naturalWidth", 64)
            with page.expect_download() as download:
                pane.locator(".msg.out .doc").first.click()
            assert download.value.suggested_filename == "referral letter.pdf"
        finally:
            browser.close()

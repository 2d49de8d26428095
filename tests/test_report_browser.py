"""The HTML report in headless Chromium: charts render, nothing is fetched from anywhere.

Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH) and the `playwright` package; it
never downloads a browser. Skipped when either is missing, unless REQUIRE_BROWSER=1 (CI),
which turns that into a failure. Screenshots go to screenshots/ (git-ignored).
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.clock import FakeClock
from services.report_render import render
from services.reports import build_report
from storage.crypto import Keyring
from storage.uow import Database
from tests import report_data as data

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def _browser_or_skip() -> None:
    problem = None
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"Chromium not found at {CHROMIUM} (set CHROMIUM_PATH)"
    if problem:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)


async def _html(tmp_path: Path, empty: bool) -> Path:
    db = Database(
        f"sqlite+aiosqlite:///{tmp_path}/report.db",
        Keyring((secrets.token_bytes(32),), secrets.token_bytes(32)),
    )
    await db.migrate()
    try:
        if not empty:
            await data.build(db)
        async with db.uow() as uow:
            report = await build_report(
                uow, FakeClock(data.REPORT_AT), ZoneInfo("Europe/London"), data.SLA,
                data.SINCE, data.UNTIL,
            )  # fmt: skip
    finally:
        await db.dispose()
    path = tmp_path / "report.html"
    path.write_text(render(report, "html"), encoding="utf-8")
    return path


@pytest.mark.parametrize("empty", [False, True], ids=["dataset", "empty"])
async def test_report_renders_its_charts_offline_in_chromium(tmp_path: Path, empty: bool) -> None:
    _browser_or_skip()
    from PIL import Image
    from playwright.async_api import async_playwright

    page_file = await _html(tmp_path, empty)
    url = page_file.as_uri()
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})

            async def guard(route, request) -> None:  # type: ignore[no-untyped-def]
                requests.append(request.url)
                if request.url == url or request.url.startswith("data:"):
                    await route.continue_()
                else:
                    await route.abort()

            await page.route("**/*", guard)
            await page.goto(url, wait_until="load")
            images = await page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth,"
                " i.naturalHeight, i.getBoundingClientRect().width])"
            )
            assert len(images) == 4
            if not empty:
                # First-response times by centre and by clinician, as a reader sees them.
                cell = page.locator("[data-key='first_response_by_centre|rbh|p90_seconds']")
                assert await cell.is_visible() and await cell.inner_text() == "14 d 1 h"
                rows = page.locator("#first_response_by_clinician tbody tr")
                assert await rows.count() == 3 and await rows.first.is_visible()
                # The MDT: days to outcome sent against the two-week letter.
                cell = page.locator("[data-key='mdt_days|to_outcome_sent|p90_days']")
                assert await cell.is_visible() and await cell.inner_text() == "14.2 d"
                meetings = page.locator("#mdt_meetings tbody tr")
                assert await meetings.count() == 3  # two meetings and the total
            for complete, width, height, shown in images:
                assert complete and width > 100 and height > 50 and shown > 100, images
            shots = []
            for figure in ("chart-response", "chart-weekly", "chart-load", "chart-mdt"):
                shot = await page.locator(f"#{figure} img").screenshot()
                shots.append(shot)
            SCREENSHOTS.mkdir(exist_ok=True)
            name = "empty" if empty else "dataset"
            await page.screenshot(path=str(SCREENSHOTS / f"report-{name}.png"), full_page=True)
            await page.emulate_media(media="print")
            await page.screenshot(
                path=str(SCREENSHOTS / f"report-{name}-print.png"), full_page=True
            )
            pdf = await page.pdf(format="A4")
            assert pdf.startswith(b"%PDF")
        finally:
            await browser.close()

    assert [r for r in requests if r != url and not r.startswith("data:")] == []
    for shot in shots:
        image = Image.open(io.BytesIO(shot)).convert("RGB")
        colours = image.getcolors(maxcolors=1_000_000) or []
        # A blank (or broken-image) chart is one or two colours; drawn ones have many.
        assert len(colours) > (10 if empty else 50), len(colours)
        inked = sum(n for n, (r, g, b) in colours if r + g + b < 600)
        assert inked > (200 if empty else 2000)  # text, axes or bars drawn

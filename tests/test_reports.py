"""The governance report: every figure exactly, in text, CSV and HTML; an empty database."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from services.clock import FakeClock
from services.report_render import render
from services.reports import PeriodError, build_report, percentile, period
from storage.uow import Database
from tests import report_data as data

LONDON = ZoneInfo("Europe/London")


def csv_figures(text: str) -> dict[tuple[str, str, str], str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "row", "label", "metric", "value"]
    figures = {(r[0], r[1], r[3]): r[4] for r in rows[1:]}
    assert len(figures) == len(rows) - 1, "a figure appears twice"
    return figures


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[tuple[str, str, str], str] = {}
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-key" in found:
            section, row, metric = (found["data-key"] or "").split("|")
            self.figures[(section, row, metric)] = found["data-value"] or ""
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(found[name] or "")


def html_figures(text: str) -> tuple[dict[tuple[str, str, str], str], list[str]]:
    parser = _Cells()
    parser.feed(text)
    return parser.figures, parser.urls


async def _report(db: Database, **kwargs: object):  # type: ignore[no-untyped-def]
    async with db.uow() as uow:
        return await build_report(
            uow,
            FakeClock(data.REPORT_AT),
            LONDON,
            data.SLA,
            **kwargs,  # type: ignore[arg-type]
        )


async def test_every_figure_of_a_known_dataset_in_all_three_formats(db: Database) -> None:
    ids = await data.build(db)
    report = await _report(db, since=data.SINCE, until=data.UNTIL)
    expected = data.expected(ids)

    assert csv_figures(render(report, "csv")) == expected

    page = render(report, "html")
    figures, urls = html_figures(page)
    assert figures == {k: v for k, v in expected.items() if k[0] != "report"}
    assert all(u.startswith("data:image/svg+xml;base64,") for u in urls), urls
    assert len(urls) == 3
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@media print" in page and "2026-11-02 to 2026-11-15" in page

    text = render(report, "text")
    for line in TEXT_LINES:
        assert re.search(rf"(?m)^{re.escape(line)}$", text), line
    assert f"Referrer numbers (see /referrer <number>): {ids.r1}, {ids.r3}" in text


# The text rendering, line by line (columns aligned with single-space runs squeezed).
TEXT_LINES = [
    "Period: 2026-11-02 to 2026-11-15 (inclusive, Europe/London)",
    "Generated: 2026-11-20T09:00:00+00:00",
    "Cases opened                   5",
    "Queries asked                  9",
    "Messages in threads           14",
    "Queries resolved               4",
    "Queries not yet answered       3",
    "Great Western Hospital            2        4",
    "Royal Berkshire Hospital          2        4",
    "Other (not in the directory)      1        1",
    "Bone             2        4",
    "Soft tissue      2        4",
    "Not sure         1        1",
    "Urgent       3        5",
    "Routine      2        4",
    "First response        6  4 h 00 min         14 d 1 h               5               2"
    "                    2",
    "Resolution            4  3 h 00 min          3 d 0 h               4               3"
    "                    2",
    "≤ 1 h                   2",
    "1–4 h                   1",
    "4–24 h                  1",
    "1–2 d                   1",
    "2–7 d                   0",
    "7–14 d                  0",
    "> 14 d                  1",
    "Not yet answered        3",
    "To the deputy               4",
    "To the administrators       2",
    "Dr Alice Jones                0                 5                 1                  4"
    "             1                1",
    "Dr Bea Bone                   2                 0                 2                  1"
    "             4                3",
    "Dr Raj Patel                  3                 0                 2                  0"
    "             1                0",
    "Open queries                               6",
    "Overdue queries                            4",
    "Open queries held by nobody                0",
    "Open cases without a named clinician       0",
    "Registrations awaiting approval            1",
    "Oldest registration waiting since 2026-11-14.",
    "Sent                                            4",
    "Confirmed (I will attend)                       1",
    "Can't attend                                    1",
    "Sent, no answer                                 2",
    "Missed (bot down over 6 hours)                  1",
    "Not sent (patient stopped or unreachable)       1",
    "Administrators        0",
    "Clinicians            0",
    "Link clinicians       0",
    "Referrers             1",
    "Patients              1",
    "No secretary's phone       1",
    "No fax                     2",
    "Either missing             2",
    "2026-11-02      2        5",
    "2026-11-09      3        4",
]


async def test_without_dates_the_report_covers_everything_to_today(db: Database) -> None:
    await data.build(db)
    report = await _report(db)
    figures = csv_figures(render(report, "csv"))
    assert figures[("report", "period", "since")] == ""
    assert figures[("report", "period", "until")] == "2026-11-20"
    # The case and query of October now count too; the reply of 16 November as well.
    assert figures[("summary", "cases", "count")] == "6"
    assert figures[("summary", "queries", "count")] == "10"
    assert figures[("summary", "messages", "count")] == "16"
    assert figures[("escalations", "to_admins", "count")] == "3"
    assert figures[("weekly", "2026-10-26", "cases")] == "1"
    assert figures[("weekly", "2026-11-16", "queries")] == "0"


async def test_an_empty_database_gives_a_sensible_report(db: Database) -> None:
    report = await _report(db, since=data.SINCE, until=data.UNTIL)
    figures = csv_figures(render(report, "csv"))
    assert figures[("summary", "cases", "count")] == "0"
    assert figures[("times", "first_response", "median_seconds")] == ""
    assert figures[("weekly", "2026-11-02", "cases")] == "0"
    assert not any(k[0] in ("by_centre", "clinicians") for k in figures)
    text = render(report, "text")
    assert "Median" in text and "–" in text and "(none)" in text
    page = render(report, "html")
    assert "None</td>" in page and page.count("data:image/svg+xml;base64,") == 3
    everything = render(await _report(db), "text")
    assert "Period: the first record to 2026-11-20" in everything


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 90) == 7
    assert percentile([4, 1, 3, 2], 50) == 2  # lower middle
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile(list(range(1, 11)), 90) == 9
    assert percentile(list(range(1, 12)), 90) == 10  # ceil(9.9) = 10th
    assert percentile([5, 1], 100) == 5


def test_period_is_local_days_inclusive() -> None:
    now = datetime(2026, 7, 10, 12, tzinfo=UTC)
    span = period(date(2026, 7, 1), date(2026, 7, 3), now, LONDON)  # BST: UTC+1
    assert span.start == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert span.end == datetime(2026, 7, 3, 23, tzinfo=UTC)
    assert period(None, None, now, LONDON).end - now == timedelta(hours=11)
    with pytest.raises(PeriodError):
        period(date(2026, 7, 4), date(2026, 7, 3), now, LONDON)

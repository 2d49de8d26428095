"""The governance report as text, CSV and one self-contained, printable HTML file.

All three are drawn from one list of tables, so they always carry the same figures:
the CSV has one row per figure (section, row, label, metric, value), the HTML marks
every figure's cell with the same key (`data-key="section|row|metric"`, raw value in
`data-value`), and the text shows the tables aligned.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.reports import LETTER, OTHER_CENTRE, Report, Timing

TUMOUR_LABELS = {"bone": "Bone", "soft_tissue": "Soft tissue", "not_sure": "Not sure"}
URGENCY_LABELS = {"urgent": "Urgent", "routine": "Routine"}
ROLE_LABELS = {
    "admin": "Administrators",
    "clinician": "Clinicians",
    "link_clinician": "Link clinicians",
    "referrer": "Referrers",
    "patient": "Patients",
}
NONE = "–"
NOBODY = "nobody"  # the row of queries held by nobody (case not allocated)
TIMING_COLUMNS = [
    "Queries",
    "Median",
    "90th percentile",
    "Within 14 days",
    "Beyond 14 days",
    "Waiting (< 14 days)",
]

Value = int | float | str | None


def duration(seconds: float | None) -> str:
    """A time as people read it: `45 min`, `3 h 05 min`, `2 d 4 h` (to the minute)."""
    if seconds is None:
        return NONE
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


@dataclass(frozen=True)
class Cell:
    metric: str
    value: Value
    shown: str


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    cells: list[Cell]


@dataclass(frozen=True)
class Table:
    section: str
    title: str
    columns: list[str]  # headings of the figure columns
    rows: list[Row]
    note: str = ""
    label_heading: str = ""


def _n(metric: str, value: int) -> Cell:
    return Cell(metric, value, f"{value:,}")


def _simple(
    section: str, title: str, rows: Sequence[tuple[str, str, int]], note: str = ""
) -> Table:
    return Table(
        section,
        title,
        ["Number"],
        [Row(key, label, [_n("count", value)]) for key, label, value in rows],
        note,
    )


def _timing_row(key: str, label: str, t: Timing) -> Row:
    return Row(
        key,
        label,
        [
            _n("count", t.count),
            Cell("median_seconds", _whole(t.median), duration(t.median)),
            Cell("p90_seconds", _whole(t.p90), duration(t.p90)),
            _n("within_14_days", t.within_letter),
            _n("beyond_14_days", t.beyond_letter),
            _n("waiting", t.waiting),
        ],
    )


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


def _day(value: datetime | None, report: Report) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(report.timezone)).date().isoformat()


def period_text(report: Report) -> str:
    since = report.since.isoformat() if report.since else "the first record"
    return f"{since} to {report.until.isoformat()} (inclusive, {report.timezone})"


def tables(report: Report) -> list[Table]:
    """Every figure of the report, in reading order."""
    result: list[Table] = [
        _simple(
            "summary",
            "Summary of the period",
            [
                ("cases", "Cases opened", report.cases),
                ("queries", "Queries asked", report.queries),
                ("messages", "Messages in threads", report.messages),
                ("queries_resolved", "Queries resolved", report.queries_resolved),
                ("queries_unanswered", "Queries not yet answered", report.queries_unanswered),
            ],
        )
    ]
    for section, title, heading, rows, labels in (
        (
            "by_centre",
            "Cases and queries by referring centre",
            "Centre",
            report.by_centre,
            report.centres,
        ),
        (
            "by_tumour",
            "Cases and queries by tumour type",
            "Tumour type",
            report.by_tumour,
            TUMOUR_LABELS,
        ),
        (
            "by_urgency",
            "Cases and queries by urgency",
            "Urgency",
            report.by_urgency,
            URGENCY_LABELS,
        ),
    ):
        result.append(
            Table(
                section,
                title,
                ["Cases", "Queries"],
                [
                    Row(
                        b.key,
                        labels.get(b.key, b.key),
                        [_n("cases", b.cases), _n("queries", b.queries)],
                    )
                    for b in rows
                ],
                label_heading=heading,
            )
        )
    result.append(
        Table(
            "times",
            "Time to first response and to resolution, against the two-week letter",
            TIMING_COLUMNS,
            [
                _timing_row("first_response", "First response", report.first_response),
                _timing_row("resolution", "Resolution", report.resolution),
            ],
            note=(
                "Over the queries asked in the period. Median and 90th percentile by the "
                "nearest-rank method (an observed time; at least that share took no longer). "
                "Beyond 14 days includes queries still unanswered (unresolved) 14 days on."
            ),
        )
    )
    result.append(
        Table(
            "first_response_by_centre",
            "Time to first response by referring centre",
            ["Answered", *TIMING_COLUMNS[1:]],
            [
                _timing_row(t.centre, report.centres.get(t.centre, t.centre), t.timing)
                for t in report.first_response_by_centre
            ],
            note=(
                "Queries asked in the period, by the referring centre of the case; times as above."
            ),
            label_heading="Centre",
        )
    )
    names = {c.person_id: c.name + ("" if c.active else " (inactive)") for c in report.clinicians}
    result.append(
        Table(
            "first_response_by_clinician",
            "Time to first response by clinician",
            ["Answered", *TIMING_COLUMNS[1:]],
            [
                _timing_row(
                    NOBODY if t.person_id is None else f"person:{t.person_id}",
                    "Held by nobody (not allocated)"
                    if t.person_id is None
                    else names.get(t.person_id, f"person {t.person_id}"),
                    t.timing,
                )
                for t in report.first_response_by_clinician
            ],
            note=(
                "Queries asked in the period, by the clinician who holds the query (it was "
                "routed or passed to them), answered or not; times as above."
            ),
            label_heading="Clinician",
        )
    )
    result.append(
        Table(
            "response_distribution",
            "Time to first response: distribution",
            ["Queries"],
            [
                Row(f"bin_{i}", label, [_n("queries", n)])
                for i, (label, n) in enumerate(report.response_bins)
            ]
            + [Row("unanswered", "Not yet answered", [_n("queries", report.queries_unanswered)])],
        )
    )
    result.append(
        _simple(
            "escalations",
            "Escalations of unacknowledged queries",
            [
                ("to_deputy", "To the deputy", report.escalated_to_deputy),
                ("to_admins", "To the administrators", report.escalated_to_admins),
            ],
            note="Queries asked in the period that were escalated (to the admins: also counted "
            "to the deputy).",
        )
    )
    result.append(
        Table(
            "clinicians",
            "Allocation load and queries per clinician",
            [
                "New cases named",
                "New cases deputy",
                "Open cases named",
                "Open cases deputy",
                "Open queries",
                "Overdue queries",
            ],
            [
                Row(
                    f"person:{c.person_id}",
                    c.name + ("" if c.active else " (inactive)"),
                    [
                        _n("new_named", c.new_named),
                        _n("new_deputy", c.new_deputy),
                        _n("open_named", c.open_named),
                        _n("open_deputy", c.open_deputy),
                        _n("open_queries", c.open_queries),
                        _n("overdue_queries", c.overdue_queries),
                    ],
                )
                for c in report.clinicians
            ],
            note=(
                "New cases: opened in the period. Open cases and queries: now. Overdue: open "
                f"with no answer after {duration(report.ack_sla.total_seconds())} "
                "(half for urgent cases)."
            ),
            label_heading="Clinician",
        )
    )
    result.append(
        _simple(
            "now",
            "Open work now",
            [
                ("open_queries", "Open queries", report.open_queries),
                ("overdue_queries", "Overdue queries", report.overdue_queries),
                ("unheld_open_queries", "Open queries held by nobody", report.unheld_open_queries),
                (
                    "unallocated_open_cases",
                    "Open cases without a named clinician",
                    report.unallocated_open_cases,
                ),
                (
                    "pending_registrations",
                    "Registrations awaiting approval",
                    report.pending_registrations,
                ),
            ],
            note=(
                f"Oldest registration waiting since {_day(report.oldest_pending, report)}."
                if report.oldest_pending
                else ""
            ),
        )
    )
    r = report.reminders
    result.append(
        _simple(
            "reminders",
            "Patients' appointment reminders due in the period",
            [
                ("sent", "Sent", r.sent),
                ("confirmed", "Confirmed (I will attend)", r.confirmed),
                ("cannot_attend", "Can't attend", r.cannot_attend),
                ("no_answer", "Sent, no answer", r.no_answer),
                ("missed", "Missed (bot down over 6 hours)", r.missed),
                ("not_sent", "Not sent (patient stopped or unreachable)", r.not_sent),
            ],
        )
    )
    result.append(
        _simple(
            "unreachable",
            "People who cannot be reached (blocked the bot)",
            [(role, ROLE_LABELS[role], n) for role, n in report.unreachable.items()],
        )
    )
    ids = ", ".join(str(i) for i in report.missing_ids)
    more = report.missing_either - len(report.missing_ids)
    result.append(
        _simple(
            "contact_details",
            "Referrers with missing contact details",
            [
                ("missing_secretary", "No secretary's phone", report.missing_secretary),
                ("missing_fax", "No fax", report.missing_fax),
                ("missing_either", "Either missing", report.missing_either),
            ],
            note=(
                f"Referrer numbers (see /referrer <number>): {ids}"
                + (f" and {more} more" if more > 0 else "")
                if ids
                else ""
            ),
        )
    )
    result.append(
        Table(
            "weekly",
            "Weekly volume (weeks from Monday)",
            ["Cases", "Queries"],
            [
                Row(
                    w.start.isoformat(),
                    w.start.isoformat(),
                    [_n("cases", w.cases), _n("queries", w.queries)],
                )
                for w in report.weeks
            ],
            label_heading="Week of",
        )
    )
    return result


# --- CSV ------------------------------------------------------------------------------

CSV_HEADER = ["section", "row", "label", "metric", "value"]


def render_csv(report: Report) -> str:
    """One line per figure; durations in whole seconds; an empty value means none."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for key, value in (
        ("generated_at", report.generated_at.isoformat()),
        ("since", report.since.isoformat() if report.since else ""),
        ("until", report.until.isoformat()),
        ("timezone", report.timezone),
        ("ack_sla_seconds", round(report.ack_sla.total_seconds())),
        ("letter_seconds", round(LETTER.total_seconds())),
    ):
        writer.writerow(["report", "period", "", key, value])
    for table in tables(report):
        for row in table.rows:
            for cell in row.cells:
                shown: Value = "" if cell.value is None else cell.value
                writer.writerow([table.section, row.key, row.label, cell.metric, shown])
    return out.getvalue()


# --- text -----------------------------------------------------------------------------


def render_text(report: Report) -> str:
    """Aligned plain-text tables for a terminal or an email."""
    lines = [
        "Sarcoma referral service — governance report",
        f"Period: {period_text(report)}",
        f"Generated: {report.generated_at.isoformat(timespec='seconds')}",
    ]
    for table in tables(report):
        lines += ["", table.title, "=" * len(table.title)]
        if not table.rows:
            lines.append("(none)")
        else:
            heads = [table.label_heading, *table.columns]
            body = [[row.label, *(c.shown for c in row.cells)] for row in table.rows]
            widths = [max(len(r[i]) for r in [heads, *body]) for i in range(len(heads))]
            for r in [heads, *body]:
                if not any(r):
                    continue
                first = r[0].ljust(widths[0])
                rest = [v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True)]
                lines.append("  ".join([first, *rest]).rstrip())
        if table.note:
            lines.append(table.note)
    return "\n".join(lines) + "\n"


# --- HTML -----------------------------------------------------------------------------

CSS = """
:root { --ink: #1b1b1b; --muted: #555; --rule: #c8c8c8; --head: #eef1f5; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: var(--ink);
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 0.4rem; border-bottom: 2px solid var(--ink); }
p.meta, p.note { color: var(--muted); margin: 0.2rem 0; font-size: 0.9rem; }
table { border-collapse: collapse; width: 100%; margin: 0.3rem 0; font-size: 0.92rem; }
th, td { border: 1px solid var(--rule); padding: 0.25rem 0.5rem; }
th { background: var(--head); text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.9rem; }
section, figure, tr { break-inside: avoid; page-break-inside: avoid; }
@page { size: A4; margin: 15mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  figure img { max-height: 120mm; }
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table_html(table: Table) -> str:
    head = "".join(f"<th scope='col'>{_e(c)}</th>" for c in [table.label_heading, *table.columns])
    rows = []
    for row in table.rows:
        cells = "".join(
            f"<td class='n' data-key='{_e(f'{table.section}|{row.key}|{c.metric}')}'"
            f" data-value='{_e('' if c.value is None else c.value)}'>{_e(c.shown)}</td>"
            for c in row.cells
        )
        rows.append(f"<tr><th scope='row'>{_e(row.label)}</th>{cells}</tr>")
    body = "".join(rows) or f"<tr><td colspan='{len(table.columns) + 1}'>None</td></tr>"
    note = f"<p class='note'>{_e(table.note)}</p>" if table.note else ""
    return (
        f"<section id='{_e(table.section)}'><h2>{_e(table.title)}</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</section>"
    )


def render_html(report: Report) -> str:
    """One self-contained page: inline CSS, charts as embedded SVG images, no links out."""
    from services import report_charts as charts

    figures = [
        (
            "chart-response",
            "Time to first response against the two-week letter",
            charts.response_chart(report),
        ),
        ("chart-weekly", "Cases and queries per week", charts.weekly_chart(report)),
        ("chart-load", "Open cases per clinician", charts.load_chart(report)),
    ]
    images = "".join(
        f"<figure id='{fid}'><img alt='{_e(caption)}' src='data:image/svg+xml;base64,"
        f"{base64.b64encode(svg).decode()}'><figcaption>{_e(caption)}</figcaption></figure>"
        for fid, caption, svg in figures
    )
    body = "".join(_table_html(t) for t in tables(report))
    return (
        "<!DOCTYPE html><html lang='en-GB'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>Governance report</title>"
        f"<style>{CSS}</style></head><body>"
        "<header><h1>Sarcoma referral service — governance report</h1>"
        f"<p class='meta'>Period: {_e(period_text(report))}</p>"
        f"<p class='meta'>Generated {_e(report.generated_at.isoformat(timespec='seconds'))}"
        "</p></header>"
        f"<section id='charts'><h2>Charts</h2>{images}</section>"
        f"{body}</body></html>\n"
    )


FORMATS = ("text", "csv", "html")


def render(report: Report, fmt: str) -> str:
    """The report in one of `text`, `csv`, `html`."""
    if fmt == "text":
        return render_text(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown format {fmt!r}")


__all__ = ["OTHER_CENTRE", "render", "render_csv", "render_html", "render_text", "tables"]

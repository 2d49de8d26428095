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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from services.file_words import human_size
from services.mdt import OUTCOMES
from services.reports import ALL_CENTRES, LETTER, OTHER_CENTRE, ClinicianLoad, MdtDay, Report

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


class Cell(NamedTuple):
    """One figure: its metric, its raw value (None: none) and the text shown for it."""

    metric: str
    value: Value
    shown: str


class Row(NamedTuple):
    """One row of a table: its key (CSV `row`, `data-key`), its label and its figures."""

    key: str
    label: str
    cells: list[Cell]


class Table(NamedTuple):
    """One table of the report as drawn, in every format alike."""

    section: str
    title: str
    columns: list[str]  # headings of the figure columns
    rows: list[Row]
    note: str = ""
    label_heading: str = ""


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


def _count(value: Any) -> str:
    return f"{value:,}"


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Column:
    """One figure column: its heading, its metric (CSV, `data-key`) and how to get a cell.

    `get` takes the row's item; `value` turns that into the raw figure (CSV, `data-value`)
    and `show` into the text people read.
    """

    heading: str
    metric: str
    get: Callable[[Any], Any] = _same
    value: Callable[[Any], Value] = _same
    show: Callable[[Any], str] = _count

    def cell(self, item: Any) -> Cell:
        raw = self.get(item)
        return Cell(self.metric, self.value(raw), self.show(raw))


# The rows of a table: (key, label, item), the item being what the columns read.
RowSource = Callable[[Report], Iterable[tuple[str, str, Any]]]


@dataclass(frozen=True)
class TableSpec:
    """How to draw one table of the report from a `Report`."""

    section: str
    title: str
    columns: Sequence[Column]
    rows: RowSource
    note: str | Callable[[Report], str] = ""
    label_heading: str = ""

    def table(self, report: Report) -> Table:
        return Table(
            self.section,
            self.title,
            [c.heading for c in self.columns],
            [
                Row(key, label, [c.cell(item) for c in self.columns])
                for key, label, item in self.rows(report)
            ],
            self.note(report) if callable(self.note) else self.note,
            self.label_heading,
        )


def _fields(section: str) -> RowSource:
    """The rows of `section` in FIELD_ROWS: each a field of the report."""
    rows = [(key, label, attrgetter(path)) for key, label, path in FIELD_ROWS[section]]
    return lambda report: [(key, label, get(report)) for key, label, get in rows]


def _breakdown(section: str, labels: Callable[[Report], dict[str, str]]) -> RowSource:
    """The rows of the report's `by_centre`, `by_tumour` or `by_urgency`."""

    def rows(report: Report) -> list[tuple[str, str, Any]]:
        names = labels(report)
        return [(b.key, names.get(b.key, b.key), b) for b in getattr(report, section)]

    return rows


def _clinician_name(c: ClinicianLoad) -> str:
    return c.name + ("" if c.active else " (inactive)")


def _by_centre(report: Report) -> list[tuple[str, str, Any]]:
    return [
        (t.centre, report.centres.get(t.centre, t.centre), t.timing)
        for t in report.first_response_by_centre
    ]


def _by_clinician(report: Report) -> list[tuple[str, str, Any]]:
    names = {c.person_id: _clinician_name(c) for c in report.clinicians}
    return [
        (NOBODY, "Held by nobody (not allocated)", t.timing)
        if t.person_id is None
        else (f"person:{t.person_id}", names.get(t.person_id, f"person {t.person_id}"), t.timing)
        for t in report.first_response_by_clinician
    ]


def _attachments(report: Report) -> list[tuple[str, str, Any]]:
    names = {**report.centres, ALL_CENTRES: "All centres"}
    return [(a.centre, names.get(a.centre, a.centre), a) for a in report.attachments_by_centre]


def _response_bins(report: Report) -> list[tuple[str, str, Any]]:
    bins = [(f"bin_{i}", label, n) for i, (label, n) in enumerate(report.response_bins)]
    return [*bins, ("unanswered", "Not yet answered", report.queries_unanswered)]


def _clinicians(report: Report) -> list[tuple[str, str, Any]]:
    return [(f"person:{c.person_id}", _clinician_name(c), c) for c in report.clinicians]


def _unreachable(report: Report) -> list[tuple[str, str, Any]]:
    return [(role, ROLE_LABELS[role], n) for role, n in report.unreachable.items()]


def _weeks(report: Report) -> list[tuple[str, str, Any]]:
    return [(w.start.isoformat(), w.start.isoformat(), w) for w in report.weeks]


def _overdue_note(report: Report) -> str:
    return (
        "New cases: opened in the period. Open cases and queries: now. Overdue: open "
        f"with no answer after {duration(report.ack_sla.total_seconds())} "
        "(half for urgent cases)."
    )


def _pending_note(report: Report) -> str:
    if not report.oldest_pending:
        return ""
    return f"Oldest registration waiting since {_day(report.oldest_pending, report)}."


def _missing_note(report: Report) -> str:
    ids = ", ".join(str(i) for i in report.missing_ids)
    if not ids:
        return ""
    more = report.missing_either - len(report.missing_ids)
    return f"Referrer numbers (see /referrer <number>): {ids}" + (
        f" and {more} more" if more > 0 else ""
    )


NUMBER = [Column("Number", "count")]
CASES_QUERIES = [
    Column("Cases", "cases", attrgetter("cases")),
    Column("Queries", "queries", attrgetter("queries")),
]


def _timing_columns(first: str) -> list[Column]:
    """The columns of a `Timing`; `first` heads the count of queries with a time."""
    return [
        Column(first, "count", attrgetter("count")),
        Column("Median", "median_seconds", attrgetter("median"), _whole, duration),
        Column("90th percentile", "p90_seconds", attrgetter("p90"), _whole, duration),
        Column("Within 14 days", "within_14_days", attrgetter("within_letter")),
        Column("Beyond 14 days", "beyond_14_days", attrgetter("beyond_letter")),
        Column("Waiting (< 14 days)", "waiting", attrgetter("waiting")),
    ]


TIMES_NOTE = (
    "Over the queries asked in the period. Median and 90th percentile by the "
    "nearest-rank method (an observed time; at least that share took no longer). "
    "Beyond 14 days includes queries still unanswered (unresolved) 14 days on."
)
LOAD_METRICS = [
    ("New cases named", "new_named"),
    ("New cases deputy", "new_deputy"),
    ("Open cases named", "open_named"),
    ("Open cases deputy", "open_deputy"),
    ("Open queries", "open_queries"),
    ("Overdue queries", "overdue_queries"),
]

# The rows of the tables that show fields of the report: (key, label, field) by section.
FIELD_ROWS: dict[str, list[tuple[str, str, str]]] = {
    "summary": [
        ("cases", "Cases opened", "cases"),
        ("queries", "Queries asked", "queries"),
        ("messages", "Messages in threads", "messages"),
        ("queries_resolved", "Queries resolved", "queries_resolved"),
        ("queries_unanswered", "Queries not yet answered", "queries_unanswered"),
    ],
    "times": [
        ("first_response", "First response", "first_response"),
        ("resolution", "Resolution", "resolution"),
    ],
    "escalations": [
        ("to_deputy", "To the deputy", "escalated_to_deputy"),
        ("to_admins", "To the administrators", "escalated_to_admins"),
    ],
    "now": [
        ("open_queries", "Open queries", "open_queries"),
        ("overdue_queries", "Overdue queries", "overdue_queries"),
        ("unheld_open_queries", "Open queries held by nobody", "unheld_open_queries"),
        (
            "unallocated_open_cases",
            "Open cases without a named clinician",
            "unallocated_open_cases",
        ),
        ("pending_registrations", "Registrations awaiting approval", "pending_registrations"),
    ],
    "reminders": [
        ("sent", "Sent", "reminders.sent"),
        ("confirmed", "Confirmed (I will attend)", "reminders.confirmed"),
        ("cannot_attend", "Can't attend", "reminders.cannot_attend"),
        ("no_answer", "Sent, no answer", "reminders.no_answer"),
        ("missed", "Missed (bot down over 6 hours)", "reminders.missed"),
        ("not_sent", "Not sent (patient stopped or unreachable)", "reminders.not_sent"),
    ],
    "contact_details": [
        ("missing_secretary", "No secretary's phone", "missing_secretary"),
        ("missing_fax", "No fax", "missing_fax"),
        ("missing_either", "Either missing", "missing_either"),
    ],
}
# The "by ..." tables of cases and queries: (section, title, label heading, row labels).
BREAKDOWNS: list[tuple[str, str, str, Callable[[Report], dict[str, str]]]] = [
    ("by_centre", "Cases and queries by referring centre", "Centre", attrgetter("centres")),
    ("by_tumour", "Cases and queries by tumour type", "Tumour type", lambda _: TUMOUR_LABELS),
    ("by_urgency", "Cases and queries by urgency", "Urgency", lambda _: URGENCY_LABELS),
]
ESCALATIONS_NOTE = (
    "Queries asked in the period that were escalated (to the admins: also counted to the deputy)."
)
BY_CENTRE_NOTE = "Queries asked in the period, by the referring centre of the case; times as above."
BY_CLINICIAN_NOTE = (
    "Queries asked in the period, by the clinician who holds the query (it was "
    "routed or passed to them), answered or not; times as above."
)
ATTACHMENT_COLUMNS = [
    Column("PDF", "pdf", attrgetter("pdf")),
    Column("JPEG", "jpeg", attrgetter("jpeg")),
    Column("PNG", "png", attrgetter("png")),
    Column("Total", "total", attrgetter("total")),
    Column("Size", "bytes", attrgetter("size"), show=human_size),
]
ATTACHMENTS_NOTE = (
    "Files added in the period to cases, by the referring centre of the case; files "
    "since purged count too (their record stays). Size in units of 1024 bytes."
)
UNREACHABLE_TITLE = "People who cannot be reached (blocked the bot)"

# --- the MDT ---------------------------------------------------------------------------

# Short headings of the outcome categories (columns of the by-centre table); the full
# words are the rows of the by-category table.
OUTCOME_HEADINGS = {
    "biopsy_centre": "Biopsy (centre)",
    "imaging_local": "Imaging (local)",
    "surgery_centre": "Surgery (centre)",
    "oncology": "Oncology",
    "not_sarcoma": "Not sarcoma",
    "discuss_again": "Discuss again",
}
ALL_MEETINGS = "total"


def _days(value: float | None) -> int | float | None:
    """Days to one decimal (a whole number without one)."""
    if value is None:
        return None
    rounded = round(value, 1)
    return int(rounded) if rounded == int(rounded) else rounded


def _show_days(value: float | None) -> str:
    days = _days(value)
    return NONE if days is None else f"{days} d"


def _mdt_meetings(report: Report) -> list[tuple[str, str, Any]]:
    rows: list[tuple[str, str, Any]] = [
        (m.day.isoformat(), m.day.isoformat() + (" (cancelled)" if m.cancelled else ""), m)
        for m in report.mdt_meetings
    ]
    if rows:
        meetings = report.mdt_meetings
        total = MdtDay(
            report.until,
            False,
            sum(m.listed for m in meetings),
            sum(m.decided for m in meetings),
            sum(m.rolled for m in meetings),
            sum(m.rolled_then_decided for m in meetings),
        )
        rows.append((ALL_MEETINGS, "All meetings", total))
    return rows


def _mdt_days(report: Report) -> list[tuple[str, str, Any]]:
    return [
        ("to_discussion", "Referral to MDT discussion", report.mdt_to_discussion),
        ("to_outcome_sent", "Referral to outcome sent", report.mdt_to_outcome),
    ]


def _mdt_outcomes(report: Report) -> list[tuple[str, str, Any]]:
    return [(key, OUTCOMES.get(key, key), n) for key, n in report.mdt_outcomes]


def _mdt_by_centre(report: Report) -> list[tuple[str, str, Any]]:
    names = {**report.centres, ALL_CENTRES: "All centres"}
    return [(c.centre, names.get(c.centre, c.centre), c) for c in report.mdt_outcomes_by_centre]


def _outcome_of(key: str) -> Callable[[Any], int]:
    return lambda c: c.by_outcome.get(key, 0)


MDT_MEETING_COLUMNS = [
    Column("Listed", "listed", attrgetter("listed")),
    Column("Outcomes", "outcomes", attrgetter("decided")),
    Column("Rolled over", "rolled", attrgetter("rolled")),
]
MDT_DAYS_COLUMNS = [
    Column("Outcomes", "count", attrgetter("count")),
    Column("Median", "median_days", attrgetter("median"), _days, _show_days),
    Column("90th percentile", "p90_days", attrgetter("p90"), _days, _show_days),
    Column("Two-week letter", "letter_days", lambda _: LETTER.days, show=_show_days),
    Column("Within 14 days", "within_14_days", attrgetter("within_letter")),
    Column("Beyond 14 days", "beyond_14_days", attrgetter("beyond_letter")),
]
MDT_CENTRE_COLUMNS = [
    *(Column(OUTCOME_HEADINGS.get(k, k), k, _outcome_of(k)) for k in OUTCOMES),
    Column("Total", "total", attrgetter("total")),
]
MDT_MEETINGS_NOTE = (
    "MDT meetings dated in the period. Listed: cases on the meeting's list, not taken "
    "off; a case rolled over counts at each meeting (rolled at the first, an outcome "
    "where decided)."
)
MDT_DAYS_NOTE = (
    "Over the outcomes recorded at the period's meetings. Discussion: from the day of "
    "referral to the meeting date; outcome sent: to the outcome being recorded, when it "
    "goes to the referrer. Against the two-week dictated letter (14 days): within "
    "includes day 14. Median and 90th percentile by the nearest-rank method."
)
MDT_CENTRE_NOTE = "Outcomes recorded at the period's meetings, by the referring centre of the case."
MDT_ROLLOVERS_NOTE = (
    "Cases with no outcome on the meeting day (or whose meeting was cancelled) moved to "
    "the next meeting; then decided: an outcome at the meeting they moved to."
)
MDT_TABLES = [
    TableSpec(
        "mdt_meetings",
        "MDT: cases discussed per meeting",
        MDT_MEETING_COLUMNS,
        _mdt_meetings,
        note=MDT_MEETINGS_NOTE,
        label_heading="Meeting",
    ),
    TableSpec(
        "mdt_days",
        "MDT: days from referral to discussion and to outcome sent, against the two-week letter",
        MDT_DAYS_COLUMNS,
        _mdt_days,
        note=MDT_DAYS_NOTE,
    ),
    TableSpec(
        "mdt_outcomes",
        "MDT outcomes by category",
        [Column("Outcomes", "count")],
        _mdt_outcomes,
        label_heading="Outcome",
    ),
    TableSpec(
        "mdt_outcomes_by_centre",
        "MDT outcomes by referring centre",
        MDT_CENTRE_COLUMNS,
        _mdt_by_centre,
        note=MDT_CENTRE_NOTE,
        label_heading="Centre",
    ),
    TableSpec(
        "mdt_rollovers",
        "MDT roll-overs by meeting",
        [
            Column("Rolled over", "rolled", attrgetter("rolled")),
            Column("Then decided", "then_decided", attrgetter("rolled_then_decided")),
        ],
        _mdt_meetings,
        note=MDT_ROLLOVERS_NOTE,
        label_heading="Meeting",
    ),
]

# Every table of the report, in reading order.
TABLES: list[TableSpec] = [
    TableSpec("summary", "Summary of the period", NUMBER, _fields("summary")),
    *(
        TableSpec(section, title, CASES_QUERIES, _breakdown(section, labels), label_heading=head)
        for section, title, head, labels in BREAKDOWNS
    ),
    TableSpec(
        "attachments_by_centre",
        "Attachments by centre and type",
        ATTACHMENT_COLUMNS,
        _attachments,
        note=ATTACHMENTS_NOTE,
        label_heading="Centre",
    ),
    TableSpec(
        "times",
        "Time to first response and to resolution, against the two-week letter",
        _timing_columns("Queries"),
        _fields("times"),
        note=TIMES_NOTE,
    ),
    TableSpec(
        "first_response_by_centre",
        "Time to first response by referring centre",
        _timing_columns("Answered"),
        _by_centre,
        note=BY_CENTRE_NOTE,
        label_heading="Centre",
    ),
    TableSpec(
        "first_response_by_clinician",
        "Time to first response by clinician",
        _timing_columns("Answered"),
        _by_clinician,
        note=BY_CLINICIAN_NOTE,
        label_heading="Clinician",
    ),
    TableSpec(
        "response_distribution",
        "Time to first response: distribution",
        [Column("Queries", "queries")],
        _response_bins,
    ),
    TableSpec(
        "escalations",
        "Escalations of unacknowledged queries",
        NUMBER,
        _fields("escalations"),
        note=ESCALATIONS_NOTE,
    ),
    TableSpec(
        "clinicians",
        "Allocation load and queries per clinician",
        [Column(heading, name, attrgetter(name)) for heading, name in LOAD_METRICS],
        _clinicians,
        note=_overdue_note,
        label_heading="Clinician",
    ),
    TableSpec("now", "Open work now", NUMBER, _fields("now"), note=_pending_note),
    TableSpec(
        "reminders",
        "Patients' appointment reminders due in the period",
        NUMBER,
        _fields("reminders"),
    ),
    TableSpec("unreachable", UNREACHABLE_TITLE, NUMBER, _unreachable),
    TableSpec(
        "contact_details",
        "Referrers with missing contact details",
        NUMBER,
        _fields("contact_details"),
        note=_missing_note,
    ),
    TableSpec(
        "weekly",
        "Weekly volume (weeks from Monday)",
        CASES_QUERIES,
        _weeks,
        label_heading="Week of",
    ),
    *MDT_TABLES,
]


def _day(value: datetime | None, report: Report) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(report.timezone)).date().isoformat()


def period_text(report: Report) -> str:
    since = report.since.isoformat() if report.since else "the first record"
    return f"{since} to {report.until.isoformat()} (inclusive, {report.timezone})"


def tables(report: Report) -> list[Table]:
    """Every figure of the report, in reading order."""
    return [spec.table(report) for spec in TABLES]


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
        (
            "chart-mdt",
            "MDT: days from referral to outcome sent, per case, against the two-week letter",
            charts.mdt_chart(report),
        ),
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


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "csv": render_csv,
    "html": render_html,
}
FORMATS = tuple(RENDERERS)


def render(report: Report, fmt: str) -> str:
    """The report in one of `text`, `csv`, `html`."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}")
    return RENDERERS[fmt](report)


__all__ = ["OTHER_CENTRE", "render", "render_csv", "render_html", "render_text", "tables"]

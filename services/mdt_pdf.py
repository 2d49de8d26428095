"""The MDT's documents as PDF: the agenda (a cover page listing the cases, then one
page per case) and a recorded outcome (one page).

Fonts, text cleaning and the confidentiality footer are the advice summary's
(`services.advice_pdf`: DejaVu Sans shipped in `fonts/`, Helvetica as the last resort).
A case's page never runs onto a second one: when its text is too long the oldest of its
key points are left out (the page says how many), and only if that is not enough the
summary and the question are cut, saying so. An outcome is never cut: a long one flows
onto a second page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from services.advice_pdf import _GREY, _INK, ServicePDF, local_time
from services.mdt_agenda import AgendaPage, KeyPoint, day_words

SERVICE = "regional bone and soft-tissue sarcoma service"
OUTCOME_TITLE = f"MDT outcome — {SERVICE}"
CUT_NOTE = " [cut to fit the page: the whole text is in the case]"
# Longer texts could not fit a page anyway: cut before measuring (measuring is slow).
QUESTION_MAX, SUMMARY_MAX, KEPT = 2500, 4000, 200
_LINE = 0.5  # line height in mm per point of font size, as the advice summary
_COVER_COLUMNS = (  # (heading, width in mm); the question takes what is left
    ("#", 8.0),
    ("Case", 15.0),
    ("Urgency", 17.0),
    ("Tumour", 22.0),
    ("Question", 0.0),
    ("Presenting", 36.0),
)

Block = tuple[str, float, tuple[int, int, int], float]  # text, size, colour, space above


@dataclass(frozen=True)
class OutcomeSummary:
    """An MDT outcome as recorded, for the referrer's file."""

    case_ref: str  # "C-12"
    meeting_date: date
    outcome: str  # the category's words, e.g. "Biopsy at the sarcoma centre"
    text: str  # what the MDT said
    recorded_by: str  # e.g. "Dr Alice Jones (named clinician)"
    recorded_at: datetime  # aware
    referrer: str
    timezone: ZoneInfo


class _MdtPDF(ServicePDF):
    """The service's document (advice_pdf.ServicePDF) that also measures blocks."""

    def __init__(self, title: str, subtitle: str, created: datetime | None) -> None:
        super().__init__(title, subtitle, created)
        self.heights: dict[tuple[str, float], float] = {}

    def height(self, text: str, size: float) -> float:
        """How tall `write_block(text, size)` would be, drawing nothing (remembered:
        fitting a page measures the same blocks again)."""
        if (text, size) in self.heights:
            return self.heights[text, size]
        key, text = (text, size), self.clean(text)
        self.shape_for(text)
        self.set_font(self.body_font, size=size)
        measured = self.multi_cell(0, size * _LINE, text, align="L", dry_run=True, output="HEIGHT")
        self.heights[key] = cast(float, measured)
        return self.heights[key]

    def blocks_height(self, blocks: Sequence[Block]) -> float:
        return sum(space + self.height(text, size) for text, size, _, space in blocks)

    def write_blocks(self, blocks: Sequence[Block]) -> None:
        for text, size, colour, space in blocks:
            if space:
                self.ln(space)
            self.write_block(text, size, colour)

    def fitted(self, text: str, width: float) -> str:
        """One line of `text` that fits `width` at the current font (cut with …)."""
        text = self.clean(" ".join(text.split()))[:200]
        room = width - 2 * self.c_margin
        if self.get_string_width(text) <= room:
            return text
        while text and self.get_string_width(text + "…") > room:
            text = text[:-1]
        return text.rstrip() + "…"

    def row(self, cells: Sequence[str], widths: Sequence[float], h: float, size: float) -> None:
        self.set_text_color(*_INK)
        for text, width in zip(cells, widths, strict=True):
            self.set_font(self.body_font, size=size)
            fitted = self.fitted(text, width)
            self.shape_for(fitted)
            self.set_font(self.body_font, size=size)
            self.cell(width, h, fitted)
        self.ln(h)


# --- the agenda ---------------------------------------------------------------------------


def agenda_pdf(
    title: str, meeting_date: date, pages: Sequence[AgendaPage], created: datetime | None = None
) -> bytes:
    """The agenda: a cover page listing the cases, then one page per case."""
    pdf = _MdtPDF(title, f"Agenda of the MDT of {day_words(meeting_date)}", created)
    _cover(pdf, pages)
    for page in pages:
        pdf.add_page()
        pdf.write_blocks(_fit(pdf, page))
    return bytes(pdf.output())


def _cover(pdf: _MdtPDF, pages: Sequence[AgendaPage]) -> None:
    """The cases in agenda order, one line each; on one page however many there are
    (the lines get smaller, down to a legible size, before they run onto a second)."""
    pdf.add_page()
    if not pages:
        pdf.write_block("No cases are listed for this meeting.", 11)
        return
    urgent = sum(p.urgency == "Urgent" for p in pages)
    pdf.write_block(
        f"{_cases(len(pages))} ({urgent} urgent), urgent first, then the longest waiting; "
        "a page for each follows.",
        10,
    )
    pdf.ln(3)
    room = pdf.page_break_trigger - pdf.get_y()
    h = max(3.4, min(6.0, (room - 0.5) / (len(pages) + 1)))
    size = min(9.0, h / _LINE * 0.95)
    question = pdf.epw - sum(width for _, width in _COVER_COLUMNS)
    widths = [width or question for _, width in _COVER_COLUMNS]
    pdf.row([name for name, _ in _COVER_COLUMNS], widths, h, size)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    for p in pages:
        cells = [str(p.position), p.ref, p.urgency, p.tumour_type, p.question, p.presenting]
        pdf.row(cells, widths, h, size)


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def _fit(pdf: _MdtPDF, page: AgendaPage) -> list[Block]:
    """The case's page as blocks that fit below the header: the oldest key points left
    out first, then the summary and the question cut, as far as needed."""
    room = pdf.page_break_trigger - pdf.get_y()
    question, summary = page.question[:QUESTION_MAX], page.summary[:SUMMARY_MAX]
    points = list(page.key_points)
    while True:
        blocks = _case_blocks(page, question, summary, points)
        excess = pdf.blocks_height(blocks) - room
        if excess <= 0:
            return blocks
        if points:
            points.pop(0)
        elif len(summary) > KEPT:
            summary = _shorter(pdf, summary, page.summary, 10, excess)
        elif len(question) > KEPT:
            question = _shorter(pdf, question, page.question, 11, excess)
        else:
            return blocks  # (cannot happen: a header, facts and two short texts fit)


def _shorter(pdf: _MdtPDF, shown: str, whole: str, size: float, excess: float) -> str:
    """`shown` cut by about its share of the `excess` height (and a little more)."""
    height = pdf.height(_noted(shown, whole), size)
    keep = int(len(shown) * (1 - excess / height) * 0.95) if height > excess else 0
    return shown[: max(KEPT, min(keep, len(shown) - 20))]


def _case_blocks(
    page: AgendaPage, question: str, summary: str, points: Sequence[KeyPoint]
) -> list[Block]:
    """What a case's page shows, in order."""
    heading = f"{page.position}. {page.ref} — {page.urgency}, {page.tumour_type}"
    facts = [("Site", page.site)]
    if page.nhs_number is not None:
        facts.append(("NHS number", _nhs(page.nhs_number)))
    facts += [
        ("Presenting", page.presenting),
        ("Files", str(page.files)),
        ("Days since referral", str(page.days_since_referral)),
    ]
    if page.outcome:
        facts.append(("Outcome", page.outcome))
    blocks: list[Block] = [(heading, 14, _INK, 0)]
    blocks += [
        (f"{label}: {value}", 10, _INK, 1.5 if i == 0 else 0)
        for i, (label, value) in enumerate(facts)
    ]
    blocks += [
        ("Question for the MDT", 9, _GREY, 4),
        (_noted(question, page.question), 11, _INK, 0.5),
        ("Clinical summary", 9, _GREY, 4),
        (_noted(summary, page.summary), 10, _INK, 0.5),
    ]
    left_out = page.earlier_messages + len(page.key_points) - len(points)
    if points or left_out:
        blocks.append(("Latest in the thread", 9, _GREY, 4))
    if left_out:
        note = "earlier message(s) not shown" if points else "message(s) not shown: see the case"
        blocks.append((f"({left_out} {note})", 8.5, _GREY, 0.5))
    for p in points:
        blocks += [(f"{p.author}, {p.at}", 8.5, _GREY, 2), (p.text, 10, _INK, 0)]
    return blocks


def _noted(shown: str, whole: str) -> str:
    return shown if shown == whole else shown.rstrip() + "…" + CUT_NOTE


def _nhs(number: str) -> str:
    """`943 476 5919` (a number of 10 digits; anything else as it is)."""
    digits = number.replace(" ", "")
    if len(digits) == 10 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return number


# --- an outcome ---------------------------------------------------------------------------


def outcome_pdf(summary: OutcomeSummary) -> bytes:
    """The outcome as a one-page document (a very long text flows on, never cut)."""
    subtitle = f"Case {summary.case_ref} · MDT of {day_words(summary.meeting_date)}"
    pdf = _MdtPDF(OUTCOME_TITLE, subtitle, summary.recorded_at)
    pdf.set_title(f"MDT outcome {summary.case_ref} {summary.meeting_date.isoformat()}")
    pdf.add_page()
    pdf.write_blocks(
        [
            (f"Outcome: {summary.outcome}", 13, _INK, 0),
            (f"Referrer: {summary.referrer}", 10, _INK, 3),
            (f"Recorded by: {summary.recorded_by}", 10, _INK, 0),
            (f"Recorded: {local_time(summary.recorded_at, summary.timezone)}", 10, _INK, 0),
            ("What the MDT said", 9, _GREY, 5),
            (summary.text.strip() or "No further words were recorded.", 11, _INK, 0.5),
        ]
    )
    return bytes(pdf.output())

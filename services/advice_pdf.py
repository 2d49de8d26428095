"""The advice summary of a resolved query: plain text for the chat, a PDF to file.

Font: the PDF embeds DejaVu Sans (Latin, Greek, Cyrillic, Arabic, Hebrew, many symbols
and basic emoji) because PDF core fonts are Latin-1 only. It is shipped beside this module
in `fonts/` (Bitstream Vera/Arev licence, which allows redistribution with the licence
alongside; 760 kB), so a fresh machine needs nothing installed. If that file is missing
(e.g. a wheel built without package data) the system's DejaVu is used, and failing that
Helvetica with non-Latin-1 characters replaced by "?", so a summary is always produced.
Characters the font lacks (CJK, newer emoji) print as U+FFFD rather than vanish; the chat
text keeps them. Arabic and other complex scripts are shaped with HarfBuzz (uharfbuzz).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from services.file_words import describe_file

# fpdf2 shapes text with HarfBuzz when uharfbuzz is installed; without it right-to-left
# text prints unjoined and in the wrong order, but still prints.
_SHAPING = find_spec("uharfbuzz") is not None
log = logging.getLogger(__name__)

TITLE = "Advice summary — regional bone and soft-tissue sarcoma service"
CONFIDENTIAL = "Confidential: contains patient information"
FONT_FILES = (
    Path(__file__).with_name("fonts") / "DejaVuSans.ttf",  # shipped with the code
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),  # Fedora, RHEL
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),  # Alpine
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),  # Arch
)
# Helvetica fallback only: keep common typography readable instead of "?".
_LATIN1 = str.maketrans({"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "..."})
_INK, _GREY = (20, 20, 20), (100, 100, 100)


@dataclass(frozen=True)
class AdviceEntry:
    """One answer or follow-up in the thread."""

    author: str  # e.g. "Dr Alice Jones (named clinician)"
    at: datetime  # aware
    text: str


@dataclass(frozen=True)
class AdviceFile:
    """One file on the query (its name is never kept: names often carry the patient's)."""

    kind: str  # "pdf", "jpeg", "png"
    size: int  # bytes
    author: str  # who sent it, e.g. "Dr Alice Jones (named clinician)"
    at: datetime  # aware
    pages: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class AdviceSummary:
    """Everything the summary shows about one resolved query."""

    case_ref: str  # "C-12"
    query_ref: str  # "Q-34"
    referrer: str
    named_clinician: str
    question: str
    entries: Sequence[AdviceEntry]  # answers and follow-ups in order
    resolved_at: datetime
    timezone: ZoneInfo
    files: Sequence[AdviceFile] = ()  # in the order they came


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """`05 Mar 2026 14:05 GMT` in the service's time zone."""
    if at.tzinfo is None:  # the project stores UTC; never let a naive time shift silently
        at = at.replace(tzinfo=UTC)
    return at.astimezone(tz).strftime("%d %b %Y %H:%M %Z")


def file_line(f: AdviceFile, tz: ZoneInfo) -> str:
    """`PDF, 3 pages, 1.2 MB — Dr Alice Jones (named clinician), 05 Mar 2026 14:05 GMT`."""
    what = describe_file(f.kind, f.size, f.pages, f.width, f.height)
    return f"{what} — {f.author}, {local_time(f.at, tz)}"


def _sections(s: AdviceSummary) -> list[tuple[str, str]]:
    """(label, body) in reading order, shared by the text and the PDF."""
    tz = s.timezone
    answers = [(f"{e.author}, {local_time(e.at, tz)}", e.text) for e in s.entries]
    files = [("Files", "\n".join(file_line(f, tz) for f in s.files))] if s.files else []
    return [
        ("Question", s.question),
        *(answers or [("Answer", "No written answer was recorded.")]),
        *files,
    ]


def _facts(s: AdviceSummary) -> list[tuple[str, str]]:
    """(label, value) lines above the question."""
    return [
        ("Referrer", s.referrer),
        ("Named clinician", s.named_clinician),
        ("Resolved", local_time(s.resolved_at, s.timezone)),
    ]


def advice_text(summary: AdviceSummary) -> str:
    """Plain text (no markup) of the summary, for a chat message."""
    lines = [TITLE, f"Case {summary.case_ref} · Query {summary.query_ref}", ""]
    lines += [f"{label}: {value}" for label, value in _facts(summary)]
    for label, body in _sections(summary):
        lines += ["", f"{label}:", body.strip()]
    return "\n".join([*lines, "", CONFIDENTIAL])


@cache
def font_file() -> Path | None:
    """The first Unicode TTF found, or None (then Helvetica, Latin-1 only)."""
    found = next((p for p in FONT_FILES if p.is_file()), None)
    if found is None:
        log.warning("No DejaVu Sans found; advice PDFs fall back to Latin-1 Helvetica")
    return found


def _needs_shaping(ch: str) -> bool:
    """Hebrew, Arabic, Indic, Thai...; and Arabic presentation forms."""
    return 0x0590 <= ord(ch) < 0x1100 or 0xFB1D <= ord(ch) <= 0xFEFC


class ServicePDF(FPDF):
    """The service's A4 documents (advice summary, MDT agenda and outcome): a title and
    subtitle on top of every page, the confidentiality line and page number below, a
    Unicode font when one is found, text cleaned to what the font can draw."""

    def __init__(
        self, title: str, subtitle: str, created: datetime | None, meta_title: str | None = None
    ) -> None:
        super().__init__(format="A4")
        self.top = (title, subtitle)
        self.cmap: dict[int, int] | None = None
        path = font_file()
        if path is not None:
            self.add_font("Body", fname=str(path))
            self.body_font = "Body"
            self.set_font(self.body_font, size=10)
            self.cmap = dict(getattr(self.current_font, "cmap", {}))
        else:
            self.body_font = "helvetica"
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=20)
        self.set_title(meta_title or title)
        if created is not None:
            self.set_creation_date(created)

    def clean(self, text: str) -> str:
        """Text the font can draw: no control characters, missing glyphs shown as U+FFFD."""
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
        out = []
        for ch in text:
            if ch == "\n" or (self.cmap is not None and ord(ch) in self.cmap):
                out.append(ch)
            elif unicodedata.category(ch) in ("Cc", "Cf", "Mn"):
                continue  # controls, joiners, combining marks: no letter is lost
            else:
                out.append("\ufffd" if self.cmap is not None else ch)
        kept = "".join(out)
        if self.cmap is None:
            kept = kept.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")
        return kept

    def shape_for(self, text: str) -> None:
        """Shaping (joined letters, right-to-left order) is slow: only for text that needs
        it. The documents are in English, so paragraphs run left to right even when one
        starts with an Arabic name; right-to-left runs inside are still ordered right to
        left."""
        if self.cmap is not None and _SHAPING:
            self.set_text_shaping(any(_needs_shaping(ch) for ch in text), direction="ltr")

    def write_block(self, text: str, size: float, colour: tuple[int, int, int] = _INK) -> None:
        """A paragraph that wraps, and flows onto new pages."""
        text = self.clean(text)
        self.shape_for(text)
        self.set_font(self.body_font, size=size)
        self.set_text_color(*colour)
        self.multi_cell(0, size * 0.5, text, align="L", new_x="LMARGIN", new_y="NEXT")

    def header(self) -> None:
        title, subtitle = self.top
        self.write_block(title, 12)
        self.write_block(subtitle, 10, _GREY)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(5)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(self.body_font, size=8)
        self.set_text_color(*_GREY)
        self.cell(0, 5, self.clean(CONFIDENTIAL), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def advice_pdf(summary: AdviceSummary) -> bytes:
    """The summary as a PDF document."""
    pdf = ServicePDF(
        TITLE,
        f"Case {summary.case_ref} · Query {summary.query_ref}",
        summary.resolved_at,
        f"Advice summary {summary.case_ref} {summary.query_ref}",
    )
    pdf.add_page()
    for label, value in _facts(summary):
        pdf.write_block(f"{label}: {value}", 10)
    for label, body in _sections(summary):
        pdf.ln(4)
        pdf.write_block(label, 9, _GREY)
        pdf.write_block(body.strip(), 10)
    return bytes(pdf.output())

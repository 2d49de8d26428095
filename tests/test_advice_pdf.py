"""The advice summary as chat text and as a PDF, read back with pypdf."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from services import advice_pdf as ap
from services.advice_pdf import AdviceEntry, AdviceFile, AdviceSummary, advice_pdf, advice_text
from services.file_words import describe_file, human_size

LONDON = ZoneInfo("Europe/London")
REFERRER = "Dr Seán O'Brien & <Partner>"
SUMMARY = AdviceSummary(
    case_ref="C-12",
    query_ref="Q-34",
    referrer=REFERRER,
    named_clinician="Dr Alice Jones",
    question="Is the lesion in the left distal femur suspicious?",
    entries=[
        AdviceEntry(
            "Dr Alice Jones (named clinician)",
            datetime(2026, 7, 1, 13, 5, tzinfo=UTC),
            "Please arrange an MRI of the whole femur.",
        ),
        AdviceEntry(f"{REFERRER} (referrer)", datetime(2026, 11, 30, 9, 0, tzinfo=UTC), "Done."),
    ],
    resolved_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
    timezone=LONDON,
)


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(text: str) -> str:
    """Line breaks from wrapping become spaces, so phrases can be found."""
    return " ".join(text.split())


def test_the_shipped_font_is_used() -> None:
    assert ap.font_file() == Path(ap.__file__).with_name("fonts") / "DejaVuSans.ttf"


def test_pdf_has_the_summary() -> None:
    pdf = advice_pdf(SUMMARY)
    assert pdf.startswith(b"%PDF")
    (text,) = pages(pdf)
    for expected in [
        "Advice summary — regional bone and soft-tissue sarcoma service",
        "Case C-12 · Query Q-34",
        f"Referrer: {REFERRER}",
        "Named clinician: Dr Alice Jones",
        "Resolved: 01 Dec 2026 11:00 GMT",
        "Is the lesion in the left distal femur suspicious?",
        "Dr Alice Jones (named clinician), 01 Jul 2026 14:05 BST",  # summer time
        "Please arrange an MRI of the whole femur.",
        f"{REFERRER} (referrer), 30 Nov 2026 09:00 GMT",
        "Confidential: contains patient information",
        "Page 1 of 1",
    ]:
        assert expected in flat(text)
    # In reading order: question, then the answers as they came.
    assert flat(text).index("suspicious?") < flat(text).index("MRI") < flat(text).index("Done.")


def test_long_answer_flows_over_pages() -> None:
    words = "The margins are clear and no further surgery is advised at this stage. "
    answer = (words * 300)[:19_990] + " LAST-WORDS"
    assert len(answer) == 20_001
    entry = AdviceEntry("Dr Bob Smith (deputy)", datetime(2026, 12, 1, 10, tzinfo=UTC), answer)
    texts = pages(advice_pdf(replace(SUMMARY, entries=[entry])))
    assert len(texts) >= 4
    for number, text in enumerate(texts, start=1):
        assert "Case C-12 · Query Q-34" in text  # every page says what it belongs to
        assert "Confidential: contains patient information" in text
        assert f"Page {number} of {len(texts)}" in text
    assert "LAST-WORDS" in texts[-1]
    assert flat(" ".join(texts)).count("no further surgery") == answer.count("no further surgery")


def test_unbroken_text_wraps() -> None:
    entry = AdviceEntry("X", SUMMARY.resolved_at, "https://example.org/" + "a" * 5000)
    assert len(pages(advice_pdf(replace(SUMMARY, entries=[entry])))) >= 2


def test_any_script_survives() -> None:
    question = "محمد أحمد, Ж, Ω, 😀, ✅ 中文, tab\there, bell\a, zero\x00, cr\r\nlf"
    question += "\nPatient: محمد أحمد (Mohammed Ahmed), left femur."
    pdf = advice_pdf(replace(SUMMARY, question=question, referrer="Dr Zoë Ćirić"))
    text = flat(pages(pdf)[0])
    assert "محمد أحمد" in text  # shaped glyphs still map back to the letters
    assert "Ж, Ω, 😀" in text
    assert "\ufffd" in text  # what the font cannot draw is marked, not silently dropped
    assert "Mohammed Ahmed), left femur." in text
    assert "Dr Zoë Ćirić" in text


def test_no_answers() -> None:
    summary = replace(SUMMARY, entries=[])
    assert "No written answer was recorded." in flat(pages(advice_pdf(summary))[0])
    assert "No written answer was recorded." in advice_text(summary)


@pytest.fixture
def no_unicode_font(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ap, "FONT_FILES", (Path("/nonexistent/DejaVuSans.ttf"),))
    ap.font_file.cache_clear()
    yield
    ap.font_file.cache_clear()


@pytest.mark.usefixtures("no_unicode_font")
def test_without_a_unicode_font_still_a_pdf() -> None:
    assert ap.font_file() is None
    summary = replace(SUMMARY, question="محمد 😀 “quoted” — Seán")
    text = flat(pages(advice_pdf(summary))[0])
    assert "Advice summary - regional bone and soft-tissue sarcoma service" in text
    assert f"Referrer: {REFERRER}" in text  # Latin-1 accents still print
    assert '"quoted" - Seán' in text
    assert "?" in text


def test_text_is_plain_and_complete() -> None:
    text = advice_text(SUMMARY)
    assert text.splitlines()[:2] == [
        "Advice summary — regional bone and soft-tissue sarcoma service",
        "Case C-12 · Query Q-34",
    ]
    assert f"Referrer: {REFERRER}" in text  # left for the sender to escape
    assert "Resolved: 01 Dec 2026 11:00 GMT" in text
    assert "Dr Alice Jones (named clinician), 01 Jul 2026 14:05 BST:\n" in text
    assert "Please arrange an MRI of the whole femur." in text
    assert text.index("suspicious?") < text.index("MRI") < text.index("Done.")
    assert text.endswith("Confidential: contains patient information")
    assert "<b>" not in text


FILES = [
    AdviceFile(
        "pdf",
        1_258_291,  # 1.2 MB in units of 1024
        "Dr Alice Jones (named clinician)",
        datetime(2026, 3, 5, 14, 5, tzinfo=UTC),
        pages=3,
    ),
    AdviceFile(
        "jpeg",
        245_760,  # 240 kB
        f"{REFERRER} (referrer)",
        datetime(2026, 7, 1, 8, 30, tzinfo=UTC),
        width=1600,
        height=1200,
    ),
    AdviceFile("png", 900, "Dr Bob Smith (deputy)", datetime(2026, 11, 30, 9, 1, tzinfo=UTC)),
]
FILE_LINES = [
    "PDF, 3 pages, 1.2 MB — Dr Alice Jones (named clinician), 05 Mar 2026 14:05 GMT",
    f"JPEG photo, 1600×1200, 240 kB — {REFERRER} (referrer), 01 Jul 2026 09:30 BST",
    "PNG image, 900 bytes — Dr Bob Smith (deputy), 30 Nov 2026 09:01 GMT",
]


def test_files_are_listed_after_the_answers_in_the_text() -> None:
    text = advice_text(replace(SUMMARY, files=FILES))
    assert "\nFiles:\n" + "\n".join(FILE_LINES) + "\n\nConfidential" in text
    assert text.index("Done.") < text.index("Files:")


def test_files_are_listed_after_the_answers_in_the_pdf() -> None:
    text = flat(" ".join(pages(advice_pdf(replace(SUMMARY, files=FILES)))))
    for line in FILE_LINES:
        assert line in text, line
    assert text.index("Done.") < text.index("Files") < text.index(FILE_LINES[0])


def test_no_files_no_section() -> None:
    assert "Files" not in advice_text(SUMMARY)
    assert "Files" not in flat(pages(advice_pdf(SUMMARY))[0])


@pytest.mark.usefixtures("no_unicode_font")
def test_files_without_a_unicode_font() -> None:
    text = flat(pages(advice_pdf(replace(SUMMARY, files=FILES[1:2])))[0])
    assert f"JPEG photo, 1600×1200, 240 kB - {REFERRER} (referrer)" in text


def test_file_descriptions() -> None:
    assert describe_file("pdf", 2048, pages=1) == "PDF, 1 page, 2 kB"
    assert describe_file("pdf", 5_000_000) == "PDF, 4.8 MB"  # page count unknown
    assert describe_file("png", 10, width=3, height=None) == "PNG image, 10 bytes"
    assert describe_file("tiff", 1) == "TIFF, 1 byte"
    assert [human_size(n) for n in (0, 1023, 1024, 1535, 1536, 1_048_064)] == [
        "0 bytes",
        "1,023 bytes",
        "1 kB",
        "1 kB",
        "2 kB",
        "1.0 MB",  # 1,023.5 kB would round to 1,024 kB
    ]
    assert human_size(1_048_576) == "1.0 MB"
    assert human_size(20 * 1024**2 - 1) == "20.0 MB"
    assert human_size(3 * 1024**3 + 1024**3 // 2) == "3.5 GB"
    assert human_size(1024**3 - 1) == "1.0 GB"

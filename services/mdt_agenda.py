"""A meeting's agenda as pages: one per case, with what the MDT needs to discuss it
(question, clinical summary, the latest of the thread), and as CSV.

Built from `services.mdt.agenda` (urgent first, then the longest waiting). Link
clinicians get their centre's cases only, without NHS numbers, and of the thread only
what they may read (`services.cases.link_may_read`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from services.advice_pdf import local_time
from services.cases import link_may_read
from services.mdt import OUTCOMES, AgendaItem, agenda, agenda_for
from services.report_render import TUMOUR_LABELS, URGENCY_LABELS
from storage.models import MdtMeeting, Person, Role
from storage.uow import UnitOfWork

KEY_POINTS = 6  # the latest messages of the thread on a case's page
KEY_POINT_CHARS = 300  # each cut to about this
UNKNOWN = "not recorded"  # free text gone (retention purge) or never given
# A spreadsheet runs a cell starting with one of these as a formula: the free text
# comes from referrers, so such a cell is written with a leading apostrophe.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class KeyPoint:
    """One message of the case's thread: who wrote it, when (service time), what."""

    author: str
    at: str  # "05 Mar 2026 14:05 GMT"
    text: str


@dataclass(frozen=True)
class AgendaPage:
    """One case of a meeting's agenda, in words."""

    position: int  # 1-based, in agenda order
    ref: str  # "C-12"
    urgency: str  # "Urgent"
    tumour_type: str  # "Soft tissue"
    site: str
    question: str  # the question for the meeting
    presenting: str  # the presenting clinician's name
    files: int
    days_since_referral: int
    nhs_number: str | None  # None on a link clinician's agenda
    summary: str  # the referral's clinical summary
    key_points: tuple[KeyPoint, ...]  # the latest messages of the thread, oldest first
    earlier_messages: int = 0  # messages of the thread before the key points
    outcome: str | None = None  # the outcome's words, once recorded


def day_words(day: date) -> str:
    """`Monday 14 December 2026`."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def cut(text: str, limit: int) -> str:
    """The text with its whitespace runs made single, cut to `limit` characters (…)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def agenda_pages(
    uow: UnitOfWork,
    meeting: MdtMeeting,
    tz: ZoneInfo,
    today: date,
    for_link_clinician: Person | bool = False,
) -> list[AgendaPage]:
    """The meeting's cases as agenda pages, urgent first then the longest waiting.

    `for_link_clinician`: a link clinician (their centre's cases only), or True for a
    link clinicians' agenda already narrowed by the caller. Either way without NHS
    numbers and with only the thread messages link clinicians may read.
    """
    items = await agenda(uow, meeting, today, tz)
    if isinstance(for_link_clinician, Person):
        if for_link_clinician.role != Role.LINK_CLINICIAN:
            raise ValueError("for_link_clinician: not a link clinician")
        items = agenda_for(for_link_clinician, items)
    link = bool(for_link_clinician)
    names: dict[int, str] = {}
    return [
        await _page(uow, position, item, tz, link, names)
        for position, item in enumerate(items, start=1)
    ]


async def _page(
    uow: UnitOfWork,
    position: int,
    item: AgendaItem,
    tz: ZoneInfo,
    link: bool,
    names: dict[int, str],
) -> AgendaPage:
    case, listing = item.case, item.listing
    rows = await uow.queries.thread_with_askers(case.id)
    shown = [m for m, asked_by in rows if not link or link_may_read(asked_by, case)]
    points = []
    for m in shown[-KEY_POINTS:]:
        text = cut(m.body, KEY_POINT_CHARS) if m.body else UNKNOWN
        points.append(
            KeyPoint(await _name(uow, m.author_id, names), local_time(m.created_at, tz), text)
        )
    presenting = item.presenting.name if item.presenting is not None else None
    return AgendaPage(
        position=position,
        ref=case.ref,
        urgency=URGENCY_LABELS.get(case.urgency, case.urgency),
        tumour_type=TUMOUR_LABELS.get(case.tumour_type, case.tumour_type),
        site=case.site or UNKNOWN,
        question=listing.question or UNKNOWN,
        presenting=presenting or "not named",
        files=item.files,
        days_since_referral=item.days_since_referral,
        nhs_number=None if link else (case.nhs_number or UNKNOWN),
        summary=case.summary or UNKNOWN,
        key_points=tuple(points),
        earlier_messages=len(shown) - len(points),
        outcome=OUTCOMES.get(listing.outcome) if listing.outcome else None,
    )


async def _name(uow: UnitOfWork, person_id: int | None, names: dict[int, str]) -> str:
    """A thread author's name (looked up once per agenda)."""
    if person_id is None:
        return "the service"
    if person_id not in names:
        person = await uow.people.get(person_id)
        names[person_id] = (person.name if person else None) or "someone no longer listed"
    return names[person_id]


def _safe(value: object) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def key_point_lines(page: AgendaPage) -> list[str]:
    """`Dr Alice Jones, 05 Mar 2026 14:05 GMT: text` per key point."""
    return [f"{p.author}, {p.at}: {p.text}" for p in page.key_points]


def agenda_csv(pages: Sequence[AgendaPage], nhs_numbers: bool | None = None) -> str:
    """One row per case, in agenda order. No NHS number column on a link clinicians'
    agenda (`nhs_numbers` False; by default, when the pages carry none)."""
    with_nhs = any(p.nhs_number is not None for p in pages) if nhs_numbers is None else nhs_numbers
    header = ["position", "case", "urgency", "tumour_type", "site"]
    header += ["nhs_number"] if with_nhs else []
    header += ["question", "presenting", "files", "days_since_referral", "summary"]
    header += ["outcome", "latest_messages"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for p in pages:
        row: list[object] = [p.position, p.ref, p.urgency, p.tumour_type, p.site]
        row += [p.nhs_number or ""] if with_nhs else []
        row += [p.question, p.presenting, p.files, p.days_since_referral, p.summary]
        row += [p.outcome or "", "\n".join(key_point_lines(p))]
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()

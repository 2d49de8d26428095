"""The MDT agenda as pages, CSV and PDF (one page per case), and the outcome PDF, on
both backends. Made-up people; NHS test number 943 476 5919."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from services import mdt
from services.mdt_agenda import AgendaPage, KeyPoint, agenda_csv, agenda_pages
from services.mdt_pdf import OutcomeSummary, agenda_pdf, outcome_pdf
from storage.models import Case, Centre, Clinic, MdtMeeting, Person, PersonStatus, Query, Role
from storage.uow import Database, UnitOfWork

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)  # a Tuesday; the next MDT is Monday 14th
MONDAY = date(2026, 12, 14)
TODAY = NOW.date()
NHS = "9434765919"
PATIENT_ONLY = "PATIENT-ONLY: I cannot come on Thursday"


def pdf_pages(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


async def _world(uow: UnitOfWork) -> dict[str, Person]:
    """Two centres, an MDT clinic (Monday 13:00, cut-off Thursday 17:00), a clinician,
    a referrer and a link clinician at each centre, and an admin."""
    for centre_id, name in (("rbh", "Royal Berkshire Hospital"), ("gwh", "Great Western")):
        uow.centres.add(Centre(id=centre_id, name=name, created_at=NOW))
    uow.clinics.add(
        Clinic(
            id="sarcoma-mdt",
            kind="mdt",
            name="Sarcoma MDT",
            weekday=0,
            time="13:00",
            location="Seminar room 2",
            cutoff_weekday=3,
            cutoff_time="17:00",
        )
    )
    people = {
        "jones": Person(role=Role.CLINICIAN, name="Dr Alice Jones", specialties="soft_tissue"),
        "rbh_referrer": Person(role=Role.REFERRER, name="Dr Ravi Patel", centre_id="rbh"),
        "gwh_referrer": Person(role=Role.REFERRER, name="Dr Gwen Hart", centre_id="gwh"),
        "rbh_link": Person(role=Role.LINK_CLINICIAN, name="Dr Lena Link", centre_id="rbh"),
        "gwh_link": Person(role=Role.LINK_CLINICIAN, name="Dr Gary Link", centre_id="gwh"),
        "admin": Person(role=Role.ADMIN, name="Sam Lee"),
        "patient": Person(role=Role.PATIENT, name="Pat Example"),
    }
    for person in people.values():
        person.status, person.created_at = PersonStatus.ACTIVE, NOW
        uow.people.add(person)
    await uow.flush()
    return people


async def _case(
    uow: UnitOfWork,
    people: dict[str, Person],
    *,
    centre: str,
    urgency: str,
    days_ago: int,
    question: str = "Biopsy here or at the centre?",
    messages: int = 0,
    summary: str = "Deep 6 cm mass, left thigh, growing over 3 months.",
) -> Case:
    """An open case held by Dr Jones, `messages` thread messages on the referrer's query,
    listed for the next MDT by Dr Jones."""
    referrer = people[f"{centre}_referrer"]
    case = Case(
        referrer_id=referrer.id,
        centre_id=centre,
        nhs_number=NHS,
        date_of_birth="1970-05-04",
        site="Left thigh",
        summary=summary,
        tumour_type="soft_tissue",
        urgency=urgency,
        status="open",
        named_clinician_id=people["jones"].id,
        created_at=NOW - timedelta(days=days_ago),
    )
    uow.cases.add(case)
    await uow.flush()
    query = Query(case_id=case.id, asked_by_id=referrer.id, created_at=case.created_at)
    uow.queries.add(query)
    await uow.flush()
    for n in range(messages):
        author = referrer if n % 2 == 0 else people["jones"]
        at = case.created_at + timedelta(hours=n + 1)
        body = f"Message {n + 1} on {case.ref}. " + "More detail. " * (40 if n == 2 else 1)
        uow.queries.add_message(case.id, author.id, body, at, query_id=query.id)
    listed = await mdt.list_case(uow, people["jones"], case, question, NOW, LONDON)
    assert isinstance(listed, mdt.Listed) and listed.meeting.day == MONDAY, listed
    return case


async def _meeting(uow: UnitOfWork) -> MdtMeeting:
    meeting = await mdt.meeting_of_day(uow, MONDAY)
    assert meeting is not None
    return meeting


async def test_pages_are_urgent_first_then_longest_waiting(db: Database) -> None:
    async with db.uow() as uow:
        people = await _world(uow)
        routine_old = await _case(uow, people, centre="rbh", urgency="routine", days_ago=30)
        urgent_new = await _case(uow, people, centre="gwh", urgency="urgent", days_ago=2)
        urgent_old = await _case(
            uow, people, centre="rbh", urgency="urgent", days_ago=9, messages=9
        )
        await uow.attachments.add(
            case_id=urgent_old.id,
            uploaded_by_id=people["rbh_referrer"].id,
            kind="pdf",
            content=b"%PDF-1.7 an imaging report",
            now=NOW,
        )
        # A message of a query the patient raised: not for link clinicians.
        patient_query = Query(
            case_id=urgent_old.id, asked_by_id=people["patient"].id, created_at=NOW
        )
        uow.queries.add(patient_query)
        await uow.flush()
        uow.queries.add_message(
            urgent_old.id, people["patient"].id, PATIENT_ONLY, NOW, query_id=patient_query.id
        )
        await uow.commit()

    async with db.uow() as uow:
        pages = await agenda_pages(uow, await _meeting(uow), LONDON, TODAY)
    assert [p.ref for p in pages] == [urgent_old.ref, urgent_new.ref, routine_old.ref]
    assert [p.position for p in pages] == [1, 2, 3]
    first = pages[0]
    assert (first.urgency, first.tumour_type, first.site) == ("Urgent", "Soft tissue", "Left thigh")
    assert (first.nhs_number, first.presenting, first.files) == (NHS, "Dr Alice Jones", 1)
    assert first.days_since_referral == 9 and pages[2].days_since_referral == 30
    assert first.question == "Biopsy here or at the centre?"
    assert first.summary.startswith("Deep 6 cm mass")
    # The last 6 of the 10 messages, oldest first, each cut to about 300 characters.
    assert len(first.key_points) == 6 and first.earlier_messages == 4
    assert first.key_points[-1].text == PATIENT_ONLY
    assert first.key_points[-1].author == "Pat Example"
    assert first.key_points[0].text.startswith(f"Message 5 on {first.ref}")
    assert first.key_points[0].author == "Dr Ravi Patel"
    assert all(len(p.text) <= 300 for p in first.key_points)
    assert first.key_points[0].at.endswith("GMT")
    assert pages[1].key_points == () and pages[1].outcome is None


async def test_link_clinicians_get_their_centre_without_nhs_numbers(db: Database) -> None:
    async with db.uow() as uow:
        people = await _world(uow)
        rbh = await _case(uow, people, centre="rbh", urgency="urgent", days_ago=9, messages=3)
        gwh = await _case(uow, people, centre="gwh", urgency="urgent", days_ago=2)
        patient_query = Query(case_id=rbh.id, asked_by_id=people["patient"].id, created_at=NOW)
        uow.queries.add(patient_query)
        await uow.flush()
        uow.queries.add_message(
            rbh.id, people["patient"].id, PATIENT_ONLY, NOW, query_id=patient_query.id
        )
        await uow.commit()
        rbh_link, gwh_link = people["rbh_link"], people["gwh_link"]

    async with db.uow() as uow:
        meeting = await _meeting(uow)
        for_rbh = await agenda_pages(uow, meeting, LONDON, TODAY, for_link_clinician=rbh_link)
        for_gwh = await agenda_pages(uow, meeting, LONDON, TODAY, for_link_clinician=gwh_link)
        narrowed = await agenda_pages(uow, meeting, LONDON, TODAY, for_link_clinician=True)
    assert [p.ref for p in for_rbh] == [rbh.ref] and [p.ref for p in for_gwh] == [gwh.ref]
    assert [p.ref for p in narrowed] == [rbh.ref, gwh.ref]
    for page in [*for_rbh, *for_gwh, *narrowed]:
        assert page.nhs_number is None
        assert PATIENT_ONLY not in [p.text for p in page.key_points]
    assert len(for_rbh[0].key_points) == 3 and for_rbh[0].position == 1

    text = agenda_csv(for_rbh)
    assert "nhs_number" not in text and NHS not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["case"] for r in rows] == [rbh.ref]
    pdf = pdf_pages(agenda_pdf("MDT agenda", MONDAY, for_rbh))
    assert len(pdf) == 2 and "NHS number" not in " ".join(pdf)
    assert "943 476 5919" not in " ".join(pdf)


async def test_agenda_csv_has_a_row_per_case(db: Database) -> None:
    async with db.uow() as uow:
        people = await _world(uow)
        routine = await _case(
            uow, people, centre="gwh", urgency="routine", days_ago=4, question="=HYPERLINK(1)"
        )
        urgent = await _case(uow, people, centre="rbh", urgency="urgent", days_ago=1, messages=2)
        await uow.commit()

    async with db.uow() as uow:
        pages = await agenda_pages(uow, await _meeting(uow), LONDON, TODAY)
    rows = list(csv.DictReader(io.StringIO(agenda_csv(pages))))
    assert [r["case"] for r in rows] == [urgent.ref, routine.ref]
    first, second = rows
    assert first["position"] == "1" and first["urgency"] == "Urgent"
    assert first["tumour_type"] == "Soft tissue" and first["site"] == "Left thigh"
    assert first["nhs_number"] == NHS and first["presenting"] == "Dr Alice Jones"
    assert first["question"] == "Biopsy here or at the centre?"
    assert first["files"] == "0" and first["days_since_referral"] == "1"
    assert first["latest_messages"].splitlines()[0].startswith("Dr Ravi Patel, ")
    assert f"Message 2 on {urgent.ref}" in first["latest_messages"]
    # A cell a spreadsheet would run as a formula is written as text.
    assert second["question"] == "'=HYPERLINK(1)"
    assert agenda_csv([]).splitlines()[0].startswith("position,case,urgency")
    assert "nhs_number" in agenda_csv([], nhs_numbers=True)


async def test_agenda_pdf_has_a_cover_then_exactly_one_page_per_case(db: Database) -> None:
    long_summary = "Deep mass with a heterogeneous signal on MRI and a cortical breach. " * 60
    async with db.uow() as uow:
        people = await _world(uow)
        cases = [
            await _case(
                uow,
                people,
                centre="rbh" if n % 2 else "gwh",
                urgency="urgent" if n % 3 == 0 else "routine",
                days_ago=60 - n,
                messages=8 if n % 5 == 0 else 1,
                summary=long_summary if n % 7 == 0 else "Deep 6 cm mass, left thigh.",
                question=f"Question {n}: " + ("Is a biopsy needed first? " * (40 if n == 7 else 1)),
            )
            for n in range(60)
        ]
        await uow.commit()

    async with db.uow() as uow:
        pages = await agenda_pages(uow, await _meeting(uow), LONDON, TODAY)
    pdf = agenda_pdf("MDT agenda, Monday 14 December 2026", MONDAY, pages)
    text = pdf_pages(pdf)
    assert len(text) == 61
    cover = text[0]
    assert "MDT agenda, Monday 14 December 2026" in cover
    assert "Agenda of the MDT of Monday 14 December 2026" in cover
    assert "60 cases (20 urgent)" in cover
    assert all(f" {c.ref} " in cover for c in cases)
    assert "Confidential: contains patient information" in cover
    for page, case_text in zip(pages, text[1:], strict=True):
        assert f"{page.position}. {page.ref} — {page.urgency}, Soft tissue" in case_text
        assert "NHS number: 943 476 5919" in case_text
        assert "Presenting: Dr Alice Jones" in case_text
        assert "Confidential: contains patient information" in case_text
    # The long ones kept to their page: key points left out first, then text cut.
    by_ref = dict(zip([p.ref for p in pages], text[1:], strict=True))
    crowded = by_ref[cases[0].ref]  # eight messages and the long summary
    assert "not shown" in crowded and "cut to fit the page" in crowded
    assert "Message 8 on" in by_ref[cases[5].ref]  # the latest kept on a short page


async def test_an_empty_agenda_is_a_cover_saying_so() -> None:
    text = pdf_pages(agenda_pdf("MDT agenda", MONDAY, []))
    assert len(text) == 1 and "No cases are listed for this meeting." in text[0]


def test_a_page_of_non_latin_names_and_text() -> None:
    page = AgendaPage(
        position=1,
        ref="C-7",
        urgency="Urgent",
        tumour_type="Bone",
        site="Distal femur",
        question="Seán's question: biopsy? 骨肉腫",
        presenting="Dr Σοφία Παπαδοπούλου",
        files=2,
        days_since_referral=3,
        nhs_number=NHS,
        summary="Pain at night.",
        key_points=(KeyPoint("Dr Ravi Patel", "05 Dec 2026 14:05 GMT", "X-ray attached."),),
    )
    (cover, case) = pdf_pages(agenda_pdf("MDT agenda", MONDAY, [page]))
    assert "Dr Σοφία Παπαδοπ…" in cover and "C-7" in cover  # (a cover line is cut to fit)
    assert "Presenting: Dr Σοφία Παπαδοπούλου" in case
    assert "Seán's question: biopsy?" in case and "X-ray attached." in case
    assert "Dr Ravi Patel, 05 Dec 2026 14:05 GMT" in case


def test_outcome_pdf() -> None:
    summary = OutcomeSummary(
        case_ref="C-12",
        meeting_date=MONDAY,
        outcome=mdt.OUTCOMES["biopsy_centre"],
        text="Core biopsy under CT at the sarcoma centre; we will send the date.",
        recorded_by="Dr Alice Jones (named clinician)",
        recorded_at=datetime(2026, 12, 14, 14, 30, tzinfo=UTC),
        referrer="Dr Ravi Patel",
        timezone=LONDON,
    )
    pdf = outcome_pdf(summary)
    (text,) = pdf_pages(pdf)
    for expected in [
        "MDT outcome — regional bone and soft-tissue sarcoma service",
        "Case C-12 · MDT of Monday 14 December 2026",
        "Outcome: Biopsy at the sarcoma centre",
        "Referrer: Dr Ravi Patel",
        "Recorded by: Dr Alice Jones (named clinician)",
        "Recorded: 14 Dec 2026 14:30 GMT",
        "Core biopsy under CT at the sarcoma centre; we will send the date.",
        "Confidential: contains patient information",
    ]:
        assert expected in text, expected
    assert PdfReader(io.BytesIO(pdf)).metadata.title == "MDT outcome C-12 2026-12-14"

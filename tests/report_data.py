"""A known dataset for the governance report, built through the services with a clock.

Every figure the report should show for the period 2026-11-02 to 2026-11-15 (viewed on
2026-11-20 09:00 UTC; Europe/London is on GMT then) is worked out by hand in EXPECTED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from services import cases as case_svc
from services import queries as query_svc
from services import registration as reg
from services.cases import CaseDraft
from storage.models import (
    Appointment,
    Case,
    Centre,
    Clinic,
    MdtListing,
    MdtMeeting,
    Person,
    PersonStatus,
    Query,
    ReferrerDetails,
    Reminder,
    Role,
)
from storage.uow import Database, UnitOfWork

SINCE, UNTIL = date(2026, 11, 2), date(2026, 11, 15)
REPORT_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SLA = timedelta(hours=4)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Ids:
    jones: int
    patel: int
    bone: int
    admin: int
    r1: int
    r2: int
    r3: int
    r5: int


async def build(db: Database, admin_tg: int | None = None) -> Ids:
    """The dataset; returns the people's ids."""
    async with db.uow() as uow:
        now0 = at(1, 9, month=10)
        uow.centres.add(Centre(id="rbh", name="Royal Berkshire Hospital", created_at=now0))
        uow.centres.add(Centre(id="gwh", name="Great Western Hospital", created_at=now0))

        def person(**kw: object) -> Person:
            p = Person(created_at=now0, **kw)
            uow.people.add(p)
            return p

        jones = person(
            directory_id="dr-jones",
            role=Role.CLINICIAN,
            name="Dr Alice Jones",
            specialties="bone,soft_tissue",
        )
        patel = person(
            directory_id="dr-patel",
            role=Role.CLINICIAN,
            name="Dr Raj Patel",
            specialties="soft_tissue",
        )
        await uow.flush()
        bone = person(
            directory_id="dr-bone", role=Role.CLINICIAN, name="Dr Bea Bone", specialties="bone"
        )
        admin = person(
            directory_id="coord-sam", role=Role.ADMIN, name="Sam Lee", telegram_user_id=admin_tg
        )
        await uow.flush()
        jones.deputy_id, patel.deputy_id = patel.id, jones.id

        async def referrer(
            name: str,
            centre: str | None,
            secretary: str | None,
            fax: str | None,
            status: str = PersonStatus.ACTIVE,
        ) -> Person:
            p = person(
                role=Role.REFERRER,
                status=status,
                name=name,
                centre_id=centre,
                phone="+441183225111",
                email="ref@nhs.net",
            )
            await uow.flush()
            uow.people.add_details(
                ReferrerDetails(
                    person_id=p.id,
                    job_title="Consultant",
                    mobile="+447911123456",
                    secretary_phone=secretary,
                    fax=fax,
                )
            )
            return p

        r1 = await referrer("Dr One", "rbh", "+441183225112", None)
        r2 = await referrer("Dr Two", "gwh", "+441793604020", "+441793604021")
        r4 = await referrer("Dr Four", "rbh", None, None, PersonStatus.REJECTED)
        r5 = await referrer("Dr Five", None, "+441793604020", "+441793604021")
        await uow.flush()
        del r4

        async def open_case(who: Person, tumour: str, urgency: str, when: datetime) -> Case:
            draft = CaseDraft("9434765919", "1970-05-04", tumour, "Thigh", "Mass", urgency)
            opened = await case_svc.open_case(uow, who, draft, when, when.date())
            return opened.case

        async def ask(case: Case, when: datetime) -> Query:
            referrer_ = await uow.people.get(case.referrer_id)
            assert referrer_ is not None
            routed = await query_svc.ask(uow, referrer_, case, "question", when, when.date())
            return routed.query

        async def answer(query: Query, case: Case, when: datetime) -> None:
            holder = await uow.people.get(query.holder_id)  # type: ignore[arg-type]
            assert holder is not None
            await query_svc.relay(uow, holder, query, case, "answer", when)

        async def resolve(query: Query, when: datetime) -> None:
            holder = await uow.people.get(query.holder_id)  # type: ignore[arg-type]
            assert holder is not None
            await query_svc.resolve(uow, holder, query, when)

        async def escalate(when: datetime) -> None:
            await query_svc.escalate_due(uow, when, SLA)

        c1 = await open_case(r1, "bone", "routine", at(26, 10, month=10))
        q1 = await ask(c1, at(27, 10, month=10))
        c2 = await open_case(r1, "soft_tissue", "urgent", at(2, 9))
        q2 = await ask(c2, at(2, 10))
        await answer(q2, c2, at(2, 11))
        q8 = await ask(c2, at(2, 12))
        await resolve(q2, at(2, 13))
        q3 = await ask(c2, at(3, 9))
        c3 = await open_case(r2, "bone", "routine", at(3, 10))
        await escalate(at(3, 11))
        q10 = await ask(c3, at(3, 12))
        await escalate(at(3, 13))
        # Patel passes Q-4 to his deputy, Jones, who answers it: by clinician, its time
        # to first response is Jones's (she holds it), though Patel is named on C-2.
        patel_ = await uow.people.get(q3.holder_id)  # type: ignore[arg-type]
        assert patel_ is not None
        assert await query_svc.pass_to_deputy(uow, patel_, q3, c2, at(4, 8)) is not None
        await answer(q3, c2, at(4, 9))
        q4 = await ask(c3, at(4, 10))
        await answer(q4, c3, at(4, 14))
        await resolve(q3, at(5, 9))
        c4 = await open_case(r2, "not_sure", "routine", at(10, 11))
        q5 = await ask(c4, at(10, 12))
        await answer(q5, c4, at(12, 12))
        c5 = await open_case(r1, "soft_tissue", "urgent", at(12, 14))
        q7 = await ask(c5, at(12, 15))
        await answer(q7, c5, at(12, 15, 30))
        await resolve(q7, at(12, 16))
        c6 = await open_case(r5, "bone", "urgent", at(13, 9, 30))
        q6 = await ask(c6, at(13, 10))
        await resolve(q5, at(13, 12))
        await escalate(at(13, 12))
        q9 = await ask(c3, at(14, 9))
        c5.status, c5.closed_at = "closed", at(14, 10)
        await answer(q8, c2, at(16, 13))
        del q1, q6, q9, q10

        # Allocation as the rules give it (checked here so a rule change is obvious).
        assert (c1.named_clinician_id, c1.deputy_id) == (jones.id, bone.id)
        for c in (c2, c4, c5):
            assert (c.named_clinician_id, c.deputy_id) == (patel.id, jones.id)
        for c in (c3, c6):
            assert (c.named_clinician_id, c.deputy_id) == (bone.id, jones.id)

        # Files on the cases: counted by when they were added, purged ones too.
        async def attach(case: Case, by: Person, kind: str, size: int, when: datetime) -> None:
            content = (f"{kind} {size} ".encode() * size)[:size]  # any bytes will do here
            await uow.attachments.add(
                case_id=case.id, uploaded_by_id=by.id, kind=kind, content=content, now=when
            )

        await attach(c1, r1, "jpeg", 800, at(1, 23, 59))  # before the period
        await attach(c1, r1, "png", 700, at(2, 0))  # its first moment
        await attach(c2, r1, "pdf", 3_000, at(2, 10, 30))
        await attach(c2, patel, "jpeg", 2_500, at(4, 9, 30))
        await attach(c3, r2, "png", 1_200, at(5, 12))
        await attach(c4, r2, "jpeg", 2_048, at(10, 13))
        await attach(c5, r1, "pdf", 1_150_000, at(12, 15, 10))
        await attach(c6, r5, "pdf", 100, at(13, 10, 5))
        await attach(c3, bone, "pdf", 5_000, at(16, 0))  # just after the period
        assert await uow.attachments.purge_of_cases([c5.id], at(14, 10)) == 1

        # A pending registration with neither secretary nor fax.
        submitted = await reg.submit_registration(
            uow,
            7_777_001,
            {
                "full_name": "Dr Three",
                "job_title": "Registrar",
                "centre_id": "rbh",
                "phone": "+441183225111",
                "mobile": "+447911123456",
                "secretary": None,
                "email": "three@nhs.net",
                "fax": None,
            },
            at(14, 15),
        )
        assert isinstance(submitted, reg.Submitted)
        r3 = submitted.person

        # A patient of C-2 with appointment reminders in every state.
        patient = person(
            role=Role.PATIENT, name="Patient of C-2", case_id=c2.id, telegram_user_id=7_777_002
        )
        await uow.flush()
        appointment = Appointment(
            case_id=c2.id,
            kind="one_stop",
            starts_at=at(16, 9),
            location="NOC",
            status="scheduled",
            created_at=at(2, 9),
        )
        uow._session.add(appointment)
        await uow.flush()
        reminders = [
            ("appointment", at(3, 9), "sent", "attending"),
            ("appointment", at(4, 9), "sent", "cannot_attend"),
            ("appointment", at(5, 9), "sent", None),
            ("appointment", at(15, 23, 59), "sent", None),
            ("appointment", at(6, 9), "missed", None),
            ("appointment", at(7, 9), "skipped", None),
            ("appointment", at(8, 9), "cancelled", None),
            ("appointment", at(16, 0), "sent", "attending"),  # after the period
            ("appointment", at(1, 23, 59), "sent", "attending"),  # before it
            ("followup", at(9, 9), "sent", None),  # a clinician's follow-up, not a patient's
        ]
        for kind, due, status, response in reminders:
            uow._session.add(
                Reminder(
                    kind=kind,
                    appointment_id=appointment.id,
                    case_id=c2.id,
                    recipient_id=patient.id,
                    due_at=due,
                    status=status,
                    response=response,
                    sent_at=due if status == "sent" else None,
                    created_at=at(2, 9),
                )
            )
        patient.reachable, patient.unreachable_since = False, at(10, 9)
        r2.reachable, r2.unreachable_since = False, at(10, 9)
        await _mdt(uow, (c1, c2, c3, c4, c6), jones, patel, bone, admin)
        ids = Ids(jones.id, patel.id, bone.id, admin.id, r1.id, r2.id, r3.id, r5.id)
        await uow.commit()
    return ids


async def _mdt(
    uow: UnitOfWork,
    cases: tuple[Case, ...],
    jones: Person,
    patel: Person,
    bone: Person,
    admin: Person,
) -> None:
    """The Monday MDT (13:00, GMT in November), rows as the services leave them:

    - 2 Nov (the period's first day): C-1 listed, no outcome, rolled to 9 Nov; C-2
      decided 2 Nov 15:00, biopsy at the centre.
    - 9 Nov: C-1 (rolled from 2 Nov) decided 9 Nov 14:00, surgery at the centre; C-3
      decided the next morning, 10 Nov 09:00, imaging locally; C-2 listed again and
      taken off (removed: not counted).
    - 16 Nov (the day after the period): C-4 decided, oncology; C-6 rolled to 23 Nov.
    """
    c1, c2, c3, c4, c6 = cases
    session = uow._session
    session.add(
        Clinic(
            id="mdt-monday",
            kind="mdt",
            name="Sarcoma MDT",
            weekday=0,
            time="13:00",
            location="Seminar room",
            cutoff_weekday=3,
            cutoff_time="17:00",
        )
    )
    await uow.flush()
    meetings = {}
    for day, month, cutoff, cutoff_month, closed in [
        (2, 11, 29, 10, True),
        (9, 11, 5, 11, True),
        (16, 11, 12, 11, True),
        (23, 11, 19, 11, False),
    ]:
        meeting = MdtMeeting(
            clinic_id="mdt-monday",
            meeting_date=date(2026, month, day),
            starts_at=at(day, 13, month=month),
            cutoff_at=at(cutoff, 17, month=cutoff_month),
            agenda_sent_at=at(cutoff, 17, month=cutoff_month),
            closed_at=at(day + 1, 0, month=month) if closed else None,
        )
        session.add(meeting)
        meetings[day] = meeting
    await uow.flush()

    def listing(
        case: Case, day: int, status: str, by: Person, created: datetime, **kw: object
    ) -> MdtListing:
        row = MdtListing(
            case_id=case.id,
            meeting_id=meetings[day].id,
            status=status,
            listed_by_id=by.id,
            presenting_id=by.id,
            created_at=created,
            **kw,
        )
        row.question = f"C-{case.id}: what next?"
        session.add(row)
        return row

    def decided(outcome: str, by: Person, when: datetime) -> dict[str, object]:
        return {"outcome": outcome, "outcome_by_id": by.id, "outcome_at": when}

    c1_first = listing(c1, 2, "rolled", jones, at(29, 9, month=10))
    listing(c2, 2, "decided", patel, at(2, 9, 30), **decided("biopsy_centre", patel, at(2, 15)))
    c6_first = listing(c6, 16, "rolled", bone, at(13, 11))
    await uow.flush()
    listing(
        c1,
        9,
        "decided",
        jones,
        at(3, 0),
        rolled_from_id=c1_first.id,
        **decided("surgery_centre", jones, at(9, 14)),
    )
    listing(c3, 9, "decided", bone, at(4, 12), **decided("imaging_local", bone, at(10, 9)))
    listing(c2, 9, "removed", admin, at(3, 9), removed_at=at(6, 10))
    listing(c4, 16, "decided", patel, at(11, 9), **decided("oncology", patel, at(16, 14)))
    listing(c6, 23, "listed", bone, at(17, 0), rolled_from_id=c6_first.id)
    await uow.flush()


def expected(ids: Ids) -> dict[tuple[str, str, str], str]:
    """Every figure of the report for SINCE..UNTIL, keyed (section, row, metric), as in the CSV."""
    figures: dict[tuple[str, str, str], object] = {
        ("report", "period", "generated_at"): REPORT_AT.isoformat(),
        ("report", "period", "since"): "2026-11-02",
        ("report", "period", "until"): "2026-11-15",
        ("report", "period", "timezone"): "Europe/London",
        ("report", "period", "ack_sla_seconds"): 14400,
        ("report", "period", "letter_seconds"): 1209600,
        ("summary", "cases", "count"): 5,
        ("summary", "queries", "count"): 9,
        ("summary", "messages", "count"): 14,
        ("summary", "queries_resolved", "count"): 4,
        ("summary", "queries_unanswered", "count"): 3,
    }
    for section, rows in {
        "by_centre": {"gwh": (2, 4), "rbh": (2, 4), "__other__": (1, 1)},
        "by_tumour": {"bone": (2, 4), "soft_tissue": (2, 4), "not_sure": (1, 1)},
        "by_urgency": {"urgent": (3, 5), "routine": (2, 4)},
    }.items():
        for row, (cases, queries) in rows.items():
            figures[(section, row, "cases")] = cases
            figures[(section, row, "queries")] = queries
    for row, values in {
        "first_response": (6, 14400, 1213200, 5, 2, 2),
        "resolution": (4, 10800, 259200, 4, 3, 2),
    }.items():
        metrics = (
            "count",
            "median_seconds",
            "p90_seconds",
            "within_14_days",
            "beyond_14_days",
            "waiting",
        )
        for metric, value in zip(metrics, values, strict=True):
            figures[("times", row, metric)] = value
    # Time to first response by centre (of the case) and by clinician (holding the query).
    # Queries asked in the period: C-2 (rbh, Patel) Q-2 1 h, Q-3 14 d 1 h, Q-4 1 d (passed
    # to Jones); C-3 (gwh, Bone) Q-5 unanswered and past the letter on 20 Nov, Q-6 4 h,
    # Q-10 unanswered; C-4 (gwh, Patel) Q-7 2 d; C-5 (rbh, Patel) Q-8 30 min; C-6 (other,
    # Bone) Q-9 unanswered. Nearest rank: median = ceil(n/2)-th, p90 = ceil(0.9 n)-th.
    by: list[tuple[str, str, tuple[object, ...]]] = [
        # 30 min, 1 h, 1 d, 14 d 1 h: 2nd and 4th of 4.
        ("first_response_by_centre", "rbh", (4, 3600, 1213200, 3, 1, 0)),
        # 4 h, 2 d: 1st and 2nd of 2.
        ("first_response_by_centre", "gwh", (2, 14400, 172800, 2, 1, 1)),
        ("first_response_by_centre", "__other__", (0, "", "", 0, 0, 1)),
        # 30 min, 1 h, 2 d, 14 d 1 h: 2nd and 4th of 4.
        ("first_response_by_clinician", f"person:{ids.patel}", (4, 3600, 1213200, 3, 1, 0)),
        ("first_response_by_clinician", f"person:{ids.jones}", (1, 86400, 86400, 1, 0, 0)),
        ("first_response_by_clinician", f"person:{ids.bone}", (1, 14400, 14400, 1, 1, 2)),
    ]
    for section, row, timing in by:
        metrics = (
            "count",
            "median_seconds",
            "p90_seconds",
            "within_14_days",
            "beyond_14_days",
            "waiting",
        )
        for metric, figure in zip(metrics, timing, strict=True):
            figures[(section, row, metric)] = figure
    for i, n in enumerate([2, 1, 1, 1, 0, 0, 1]):
        figures[("response_distribution", f"bin_{i}", "queries")] = n
    figures[("response_distribution", "unanswered", "queries")] = 3
    figures[("escalations", "to_deputy", "count")] = 4
    figures[("escalations", "to_admins", "count")] = 2
    for pid, values in {
        ids.jones: (0, 5, 1, 4, 1, 1),
        ids.bone: (2, 0, 2, 1, 4, 3),
        ids.patel: (3, 0, 2, 0, 1, 0),
    }.items():
        metrics = (
            "new_named",
            "new_deputy",
            "open_named",
            "open_deputy",
            "open_queries",
            "overdue_queries",
        )
        for metric, value in zip(metrics, values, strict=True):
            figures[("clinicians", f"person:{pid}", metric)] = value
    for row, value in {
        "open_queries": 6,
        "overdue_queries": 4,
        "unheld_open_queries": 0,
        "unallocated_open_cases": 0,
        "pending_registrations": 1,
    }.items():
        figures[("now", row, "count")] = value
    for row, value in {
        "sent": 4,
        "confirmed": 1,
        "cannot_attend": 1,
        "no_answer": 2,
        "missed": 1,
        "not_sent": 1,
    }.items():
        figures[("reminders", row, "count")] = value
    for row, value in {
        "admin": 0,
        "clinician": 0,
        "link_clinician": 0,
        "referrer": 1,
        "patient": 1,
    }.items():
        figures[("unreachable", row, "count")] = value
    for row, value in {"missing_secretary": 1, "missing_fax": 2, "missing_either": 2}.items():
        figures[("contact_details", row, "count")] = value
    # Files added from 2 to 15 November by the referring centre of the case (C-1, C-2 and
    # C-5 are Royal Berkshire's, C-3 and C-4 Great Western's, C-6 from no listed centre):
    # (pdf, jpeg, png, total, bytes). Royal Berkshire's PDF of 1,150,000 bytes on C-5 was
    # purged and still counts; the JPEG of 1 November and the PDF of 16 November do not.
    for row, values in {
        "gwh": (0, 1, 1, 2, 1_200 + 2_048),
        "rbh": (2, 1, 1, 4, 700 + 3_000 + 2_500 + 1_150_000),
        "__other__": (1, 0, 0, 1, 100),
        "__all__": (3, 2, 2, 7, 1_159_548),
    }.items():
        for metric, value in zip(("pdf", "jpeg", "png", "total", "bytes"), values, strict=True):
            figures[("attachments_by_centre", row, metric)] = value
    for week, (cases, queries) in {"2026-11-02": (2, 5), "2026-11-09": (3, 4)}.items():
        figures[("weekly", week, "cases")] = cases
        figures[("weekly", week, "queries")] = queries
    _expected_mdt(figures)
    return {key: str(value) for key, value in figures.items()}


def _expected_mdt(figures: dict[tuple[str, str, str], object]) -> None:
    """The MDT figures of the period 2 to 15 November, by hand.

    Meetings dated in the period: 2 Nov (its first day) and 9 Nov; 16 Nov is the day
    after it and does not count. Listed (not removed): 2 Nov C-1 (rolled) and C-2
    (decided); 9 Nov C-1 (decided, rolled from 2 Nov) and C-3 (decided); C-2's second
    listing of 9 Nov was removed.

    Outcomes (referral, GMT -> meeting date, outcome recorded = sent):
      C-2 rbh   2 Nov 09:00 -> 2 Nov   0 d;  2 Nov 15:00   6 h        =    21,600 s
      C-3 gwh   3 Nov 10:00 -> 9 Nov   6 d;  10 Nov 09:00  6 d 23 h   =   601,200 s
      C-1 rbh  26 Oct 10:00 -> 9 Nov  14 d;  9 Nov 14:00   14 d 4 h   = 1,224,000 s
    Nearest rank of 3: median the 2nd, 90th percentile the 3rd.
      discussion: 0, 6, 14 -> median 6, p90 14; all three within 14 days (day 14 counts)
      outcome sent: 0.25, 6.96, 14.17 d -> median 7 d, p90 14.2 d (one decimal); within
      2, beyond 1 (C-1, whose discussion was on day 14 but outcome sent after it).
    """
    for day, values in {
        "2026-11-02": (2, 1, 1, 1),
        "2026-11-09": (2, 2, 0, 0),
        "total": (4, 3, 1, 1),
    }.items():
        listed, outcomes, rolled, then_decided = values
        figures[("mdt_meetings", day, "listed")] = listed
        figures[("mdt_meetings", day, "outcomes")] = outcomes
        figures[("mdt_meetings", day, "rolled")] = rolled
        figures[("mdt_rollovers", day, "rolled")] = rolled
        figures[("mdt_rollovers", day, "then_decided")] = then_decided
    metrics = ("count", "median_days", "p90_days", "letter_days", "within_14_days")
    for row, values in {
        "to_discussion": (3, 6, 14, 14, 3, 0),
        "to_outcome_sent": (3, 7, 14.2, 14, 2, 1),
    }.items():
        for metric, value in zip((*metrics, "beyond_14_days"), values, strict=True):
            figures[("mdt_days", row, metric)] = value
    categories = (
        "biopsy_centre",
        "imaging_local",
        "surgery_centre",
        "oncology",
        "not_sarcoma",
        "discuss_again",
    )
    for category, n in zip(categories, (1, 1, 1, 0, 0, 0), strict=True):
        figures[("mdt_outcomes", category, "count")] = n
    # By the referring centre of the case: C-2 and C-1 Royal Berkshire, C-3 Great
    # Western; the "Other" row is there because C-6 (no centre) was opened in the period.
    for centre, counts in {
        "gwh": (0, 1, 0, 0, 0, 0),
        "rbh": (1, 0, 1, 0, 0, 0),
        "__other__": (0, 0, 0, 0, 0, 0),
        "__all__": (1, 1, 1, 0, 0, 0),
    }.items():
        for category, n in zip(categories, counts, strict=True):
            figures[("mdt_outcomes_by_centre", centre, category)] = n
        figures[("mdt_outcomes_by_centre", centre, "total")] = sum(counts)

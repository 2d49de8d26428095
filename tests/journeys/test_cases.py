"""Cases and queries through the real Application: referral, allocation, notifications,
/ask, acknowledgements, replies both ways, resolve with a PDF, access control,
escalation and availability."""

from __future__ import annotations

import io
from datetime import date, timedelta

from pypdf import PdfReader

from handlers.jobs import run_escalations
from storage.models import Centre, Clinic, Person, PersonStatus, ReferrerDetails, Role
from tests.fakes import FakeUser
from tests.journeys.conftest import Harness
from tests.journeys.test_registration import ADMIN_A, REFERRER, _summary, press, say

JONES, PATEL, BONE_ONLY = 9_100_001, 9_100_002, 9_100_003
KHAN, LEE = 9_100_011, 9_100_012
OTHER_REFERRER, PATIENT, STRANGER = 9_100_101, 9_100_201, 9_100_301
NHS = "943 476 5919"


async def _directory(h: Harness) -> dict[str, int]:
    """Centres, clinicians, link clinicians, an admin and the Monday one-stop clinic."""
    ids: dict[str, int] = {}
    async with h.db.uow() as uow:
        now = h.clock.now()
        uow.centres.add(Centre(id="rbh", name="Royal Berkshire Hospital", created_at=now))
        uow.clinics.add(
            Clinic(
                id="one-stop",
                kind="one_stop",
                name="One-stop diagnostic clinic",
                weekday=0,
                time="09:00",
                location="Nuffield Orthopaedic Centre",
            )
        )
        people = [
            ("dr-jones", Role.CLINICIAN, "Dr Alice Jones", JONES, "bone,soft_tissue", None),
            ("dr-patel", Role.CLINICIAN, "Dr Raj Patel", PATEL, "soft_tissue", None),
            ("dr-bone", Role.CLINICIAN, "Dr Bea Bone", BONE_ONLY, "bone", None),
            ("lc-khan", Role.LINK_CLINICIAN, "Dr Omar Khan", KHAN, "soft_tissue", "rbh"),
            ("lc-lee", Role.LINK_CLINICIAN, "Dr Mei Lee", LEE, "bone", "rbh"),
            ("coord-sam", Role.ADMIN, "Sam Lee", ADMIN_A, "", None),
        ]
        for directory_id, role, name, tg, specialties, centre in people:
            person = Person(
                directory_id=directory_id,
                role=role,
                name=name,
                telegram_user_id=tg,
                specialties=specialties,
                centre_id=centre,
                created_at=now,
                phone="+441865738000",
                email=f"{directory_id}@nhs.net",
            )
            uow.people.add(person)
            await uow.flush()
            ids[directory_id] = person.id
        jones = await uow.people.get(ids["dr-jones"])
        patel = await uow.people.get(ids["dr-patel"])
        assert jones and patel
        jones.deputy_id, patel.deputy_id = patel.id, jones.id
        await uow.commit()
    return ids


async def _referrer(
    h: Harness, tg: int = REFERRER, name: str = "Dr Seán O'Brien & <Partner>"
) -> int:
    async with h.db.uow() as uow:
        person = Person(
            role=Role.REFERRER,
            status=PersonStatus.ACTIVE,
            name=name,
            telegram_user_id=tg,
            centre_id="rbh",
            phone="+441183225111",
            email="sean@nhs.net",
            created_at=h.clock.now(),
        )
        uow.people.add(person)
        await uow.flush()
        uow.people.add_details(
            ReferrerDetails(
                person_id=person.id,
                job_title="Consultant",
                mobile="+447911123456",
                secretary_phone="+441183225112",
                fax=None,
            )
        )
        await uow.commit()
        return person.id


async def _refer(
    h: Harness,
    user: FakeUser,
    tumour: str = "Soft tissue",
    urgency: str = "Urgent",
    nhs: str = NHS,
) -> str:
    await say(h, user, "/refer")
    await say(h, user, nhs)
    await say(h, user, "04/05/1970")
    await press(h, user, tumour)
    await say(h, user, "Left thigh")
    await say(h, user, "Enlarging painless mass, 6 cm, deep to fascia. MRI done. Biopsy?")
    summary = await press(h, user, urgency)
    assert nhs in summary and "04/05/1970" in summary
    prompt = await press(h, user, "Confirm")
    # The case is opened, then its files are asked for; these journeys have none.
    assert "Send any imaging reports" in prompt and user.buttons() == ["No files"]
    opened = user.messages()[-2].plain
    await press(h, user, "No files")
    return opened


async def test_the_whole_journey(bot: Harness) -> None:
    bot.clock.set(bot.clock.now().replace(year=2026, month=11, day=25, hour=10))  # a Wednesday
    await _directory(bot)
    # Register and approve through the bot.
    user = bot.fake.user(REFERRER)
    await _summary(bot, user)
    await press(bot, user, "Confirm")
    await press(bot, bot.fake.user(ADMIN_A), "Approve")
    # Refer.
    opened = await _refer(bot, user)
    assert "Case C-1" in opened and "Dr Alice Jones" in opened and "Dr Raj Patel" in opened
    assert "01865 738000" in opened and "dr-jones@nhs.net" in opened
    assert "Monday 30 November 2026, 09:00" in opened and "Nuffield Orthopaedic Centre" in opened

    jones, patel, khan, lee = (bot.fake.user(t) for t in (JONES, PATEL, KHAN, LEE))
    for clinician, role in ((jones, "named clinician"), (patel, "deputy")):
        note = clinician.last()
        assert f"You are the {role} for case C-1" in note.plain
        assert "943 476 5919" in note.plain and "04/05/1970" in note.plain
        assert "Dr Seán O'Brien & <Partner>" in note.plain and "07911 123456" in note.plain
        assert "Dr Omar Khan" in note.plain and note.protect_content
    link_note = khan.last().plain
    assert "C-1" in link_note and "Soft tissue" in link_note and "Urgent" in link_note
    assert "Dr Alice Jones" in link_note and "943" not in link_note and "1970" not in link_note
    assert not lee.messages()  # bone-only link clinician: specialty did not match

    # Ask.
    await say(bot, user, "/ask C-1")
    routed = await say(bot, user, "Should we biopsy locally or refer straight to you?")
    assert "Q-1" in routed and "Dr Alice Jones" in routed
    question = jones.last()
    assert "Q-1" in question.plain and "biopsy locally" in question.plain
    assert jones.buttons() == [
        "Acknowledge",
        "Reply",
        "Pass to deputy",
        "Resolve",
        "Discuss at MDT",
    ]
    assert "biopsy locally" in khan.last().plain

    # A command sent as a Telegram reply runs as that command: nothing is relayed.
    sent_to_referrer = len(user.messages())
    await bot.handled(jones.reply_to(question.message_id, "/appointments C-1"))
    assert "C-1" in jones.last().plain and "appointment" in jones.last().plain.lower()
    assert len(user.messages()) == sent_to_referrer

    await press(bot, jones, "Acknowledge")
    assert "Dr Alice Jones has seen your question Q-1" in user.last().plain

    # Answer by Telegram reply; the referrer answers back the same way.
    await bot.handled(
        jones.reply_to(question.message_id, "Please do not biopsy. Refer <now> & send MRI.")
    )
    answer = user.last()
    assert "Please do not biopsy. Refer <now> & send MRI." in answer.plain
    assert "Dr Alice Jones (named clinician)" in answer.plain
    assert "Refer <now>" in khan.last().plain
    await bot.handled(user.reply_to(answer.message_id, "Thanks. MRI report attached below."))
    follow_up = jones.last()
    assert "answered back" in follow_up.plain and "MRI report" in follow_up.plain

    # Answer with the Reply button; a file that is not a real image is refused, saying
    # what is accepted, and the answer can still be typed.
    await press(bot, jones, "Reply")
    await bot.handled(jones.send_photo())
    assert "not attached" in jones.last().plain and "PDF, JPEG or PNG" in jones.last().plain
    await say(bot, jones, "Booked for Monday's one-stop clinic.")
    assert "Booked for Monday" in user.last().plain

    # Resolve: the advice summary as text and as a PDF.
    await press(bot, jones, "Resolve")
    await bot.runtime.drained()  # type: ignore[union-attr]
    document = user.messages()[-1]
    assert document.document is not None and document.document.content.startswith(b"%PDF")
    pdf_text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(document.document.content)).pages
    )
    assert "C-1" in pdf_text and "Q-1" in pdf_text and "Please do not biopsy" in pdf_text
    assert "Booked for Monday" in user.messages()[-2].plain
    assert khan.messages()[-1].document is not None

    # The whole thread.
    view = await say(bot, user, "/case C-1")
    for words in ("biopsy locally", "Please do not biopsy", "MRI report", "Booked for Monday"):
        assert words in view
    # A reply after resolution reopens the query for the clinicians.
    await bot.handled(user.reply_to(answer.message_id, "One more question: chest CT first?"))
    assert "reopened" in user.texts()[-2] or "reopened" in user.texts()[-1]
    assert "chest CT" in jones.last().plain


async def test_access_is_refused_the_same_way_to_everyone_else(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    async with bot.db.uow() as uow:
        uow.people.add(
            Person(
                role=Role.PATIENT,
                name="Patient",
                telegram_user_id=PATIENT,
                created_at=bot.clock.now(),
            )
        )
        await uow.commit()
    user = bot.fake.user(REFERRER)
    await _refer(bot, user)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Question one")
    question = bot.fake.user(JONES).last()

    for tg in (STRANGER, OTHER_REFERRER, BONE_ONLY, PATIENT):
        intruder = bot.fake.user(tg)
        seen = await say(bot, intruder, "/case C-1")
        assert seen.replace("C-1", "C-99") == await say(bot, intruder, "/case C-99")
        assert seen == "There is no case C-1 that you can see."
        asked = await say(bot, intruder, "/ask C-1")
        assert "C-1" not in asked.replace("There is no case C-1 that you can see.", "")
        await bot.handled(intruder.forward_text(question.plain, JONES))
        forwarded = intruder.last()
        await bot.handled(intruder.reply_to(forwarded.message_id, "let me in"))
        assert "Question one" not in intruder.last().plain
        await bot.handled(intruder.press_data("q:ack:1", forwarded.message_id))
        assert intruder.callback_answers()[-1] == "Only the clinicians of this case can do that."
        for text in intruder.texts():
            assert "943" not in text and "Question one" not in text and "Left thigh" not in text
    async with bot.db.uow() as uow:
        from storage.models import Query

        query = await uow._session.get(Query, 1)
        assert query is not None and query.status == "open"


async def test_escalation_to_deputy_then_admins_each_once_across_a_restart(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await _refer(bot, user, urgency="Urgent")  # urgent: half of ACK_SLA (4h) = 2h
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Urgent: pathological fracture risk?")
    patel, admin = bot.fake.user(PATEL), bot.fake.user(ADMIN_A)
    sla = bot.settings.ACK_SLA
    resources = bot.runtime.resources  # type: ignore[union-attr]
    before = len(patel.messages())
    bot.clock.advance(timedelta(hours=1, minutes=59))
    assert await run_escalations(resources, sla) == 0
    bot.clock.advance(timedelta(minutes=2))
    assert await run_escalations(resources, sla) == 1
    assert await run_escalations(resources, sla) == 0
    await bot.runtime.drained()  # type: ignore[union-attr]
    assert len(patel.messages()) == before + 1 and "not been acknowledged" in patel.last().plain
    await bot.restart()
    resources = bot.runtime.resources  # type: ignore[union-attr]
    assert await run_escalations(resources, sla) == 0
    bot.clock.advance(timedelta(hours=2))
    assert await run_escalations(resources, sla) == 1
    assert await run_escalations(resources, sla) == 0
    await bot.runtime.drained()  # type: ignore[union-attr]
    escalations = [t for t in admin.texts() if "still unacknowledged" in t]
    assert len(escalations) == 1 and "Q-1" in escalations[0]


async def test_away_clinician_is_skipped_and_referrers_told(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await _refer(bot, user)  # C-1: Jones named, Patel deputy
    jones = bot.fake.user(JONES)
    until = (bot.clock.now() + timedelta(days=7)).date().isoformat()
    assert "away until" in await say(bot, jones, f"/away {until}")
    await say(bot, user, "/ask C-1")
    routed = await say(bot, user, "Question while away")
    assert "Dr Raj Patel" in routed and "away" in routed
    assert "Question while away" in bot.fake.user(PATEL).last().plain
    opened = await _refer(bot, user, nhs="943 476 5927")  # Jones away: not allocated
    assert "Case C-2" in opened and "Named clinician: Dr Raj Patel" in opened
    assert "Welcome back" in await say(bot, jones, "/back")
    assert "Usage" in await say(bot, jones, "/away")
    assert "not valid" in await say(bot, jones, "/away 2001-01-01")


async def test_nobody_fits_goes_to_admins_then_allocate_by_hand(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    async with bot.db.uow() as uow:
        for person in await uow.people.by_role(Role.CLINICIAN):
            person.away_until = date(2099, 1, 1)
        await uow.commit()
    user = bot.fake.user(REFERRER)
    opened = await _refer(bot, user)
    assert "coordinator will allocate" in opened
    admin = bot.fake.user(ADMIN_A)
    assert "needs allocation by hand" in admin.last().plain
    assert "Usage" in await say(bot, admin, "/allocate C-1 dr-jones")
    assert "different people" in await say(bot, admin, "/allocate C-1 dr-jones dr-jones")
    assert "not a clinician" in await say(bot, admin, "/allocate C-1 lc-khan dr-jones")
    done = await say(bot, admin, "/allocate C-1 dr-patel dr-jones")
    assert "named clinician Dr Raj Patel" in done
    assert "Dr Raj Patel" in user.last().plain
    assert "You are the named clinician for case C-1" in bot.fake.user(PATEL).last().plain
    # Reallocation tells whoever leaves the case.
    await say(bot, admin, "/allocate C-1 dr-jones dr-bone")
    assert "no longer its named clinician or deputy" in bot.fake.user(PATEL).last().plain
    assert "You are the deputy for case C-1" in bot.fake.user(BONE_ONLY).last().plain


async def test_bad_referral_answers_get_the_same_question(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await say(bot, user, "/refer")
    for bad in ("943 476 5918", "943 476 591", "ABC 476 5919", "943476591999"):
        await say(bot, user, bad)
        error, again = user.texts()[-2:]
        assert "New referral 1/6" in again and "New referral" not in error
    await bot.handled(user.send_photo())
    assert "New referral 1/6" in user.last().plain
    await say(bot, user, NHS)
    future = (bot.clock.now() + timedelta(days=3)).strftime("%d/%m/%Y")
    for bad in ("31/02/1970", future, "01/01/1890", "1970-05-04"):
        await say(bot, user, bad)
        error, again = user.texts()[-2:]
        assert "New referral 2/6" in again and "New referral" not in error
    await say(bot, user, "04/05/1970")
    await say(bot, user, "bone please")
    assert "choose one of the buttons" in user.texts()[-2]
    await press(bot, user, "Bone")
    await say(bot, user, "x" * 201)
    assert "New referral 4/6" in user.last().plain
    await say(bot, user, "Right femur")
    await say(bot, user, "y" * 5000)
    error, again = user.texts()[-2:]
    assert "3,000" in error and "New referral 5/6" in again


async def test_editing_a_referral_offers_back_to_the_summary(bot: Harness) -> None:
    """The field choice's Back button says what it does and returns to the summary.

    It once read "Welcome back: new queries come to you again.", /back's text, because
    two texts of one name shared a module."""
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await say(bot, user, "/refer")
    await say(bot, user, NHS)
    await say(bot, user, "04/05/1970")
    await press(bot, user, "Soft tissue")
    await say(bot, user, "Left thigh")
    await say(bot, user, "Enlarging painless mass, 6 cm, deep to fascia. MRI done. Biopsy?")
    await press(bot, user, "Urgent")
    await press(bot, user, "Edit")
    labels = user.buttons()
    assert "Back to summary" in labels and not any("Welcome" in label for label in labels)
    summary = await press(bot, user, "Back to summary")
    assert "04/05/1970" in summary and "Left thigh" in summary


async def test_refer_is_for_approved_referrers_only(bot: Harness) -> None:
    await _directory(bot)
    stranger = bot.fake.user(STRANGER)
    assert "/register" in await say(bot, stranger, "/refer")
    clinician = bot.fake.user(JONES)
    assert "for registered referrers" in await say(bot, clinician, "/ask C-1")
    assert "no open queries" in await say(bot, clinician, "/queue")


async def test_same_patient_again_offers_the_open_case(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await _refer(bot, user)
    await say(bot, user, "/refer")
    offer = await say(bot, user, "9434765919")
    assert "already has an open case, C-1, that you referred" in offer
    assert "Type your question about C-1" in await press(bot, user, "Add a question to C-1")
    routed = await say(bot, user, "New swelling in the same thigh")
    assert "Q-1" in routed and "C-1" in routed
    async with bot.db.uow() as uow:
        from sqlalchemy import func, select

        from storage.models import Case

        assert await uow._session.scalar(select(func.count()).select_from(Case)) == 1
    # Another referrer's referral of the same patient is flagged to the clinicians.
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    other = bot.fake.user(OTHER_REFERRER)
    await say(bot, other, "/refer")
    note = await say(bot, other, NHS)
    assert "already has an open case with the service" in other.texts()[-2]
    assert "C-1" not in note and "C-1" not in other.texts()[-2]


async def test_contact_change_shows_in_the_next_routed_message(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await say(bot, user, "/contact")
    await press(bot, user, "Mobile")
    await say(bot, user, "07911 123459")
    await _refer(bot, user)
    named = bot.fake.user(JONES).last().plain
    assert "07911 123459" in named and "07911 123456" not in named


async def test_pass_to_deputy_moves_the_query_and_tells_the_referrer(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    user = bot.fake.user(REFERRER)
    await _refer(bot, user)
    await say(bot, user, "/ask C-1")
    await say(bot, user, "Who will see the patient on Monday?")
    jones, patel = bot.fake.user(JONES), bot.fake.user(PATEL)
    assert "You passed Q-1 to Dr Raj Patel" in await press(bot, jones, "Pass to deputy")
    handed = patel.last()
    assert "passed to you by Dr Alice Jones" in handed.plain and "Monday" in handed.plain
    assert "now with the deputy, Dr Raj Patel" in user.last().plain
    assert "Q-1 on C-1" in await say(bot, patel, "/queue")
    assert "no open queries" in await say(bot, jones, "/queue")
    await bot.handled(patel.reply_to(handed.message_id, "I will, at 09:00."))
    assert "I will, at 09:00." in user.last().plain and "Dr Raj Patel (deputy)" in user.last().plain


async def test_cases_lists_only_what_each_person_may_see(bot: Harness) -> None:
    await _directory(bot)
    await _referrer(bot)
    await _referrer(bot, OTHER_REFERRER, "Dr Other Referrer")
    await _refer(bot, bot.fake.user(REFERRER))
    await _refer(bot, bot.fake.user(OTHER_REFERRER), tumour="Bone", nhs="943 476 5927")
    mine = await say(bot, bot.fake.user(REFERRER), "/cases")
    assert "C-1 — Soft tissue, Urgent, open" in mine and "C-2" not in mine
    assert "C-2 — Bone" in await say(bot, bot.fake.user(OTHER_REFERRER), "/cases")
    centre = await say(bot, bot.fake.user(KHAN), "/cases")
    assert "C-1" in centre and "C-2" in centre  # both referrers are at the link's centre
    assert "C-1" not in await say(bot, bot.fake.user(BONE_ONLY), "/cases")
    assert await say(bot, bot.fake.user(STRANGER), "/cases") == "There are no cases you can see."
    help_text = await say(bot, bot.fake.user(REFERRER), "/help")
    assert "/refer" in help_text and "/ask" in help_text and "/allocate" not in help_text

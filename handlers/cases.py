"""/refer (the six questions), allocation notices, /case, /cases and /allocate."""

from __future__ import annotations

from datetime import date

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler, ContextTypes, filters

from delivery.text import Html, render
from handlers import cases_texts as T
from handlers import registration_texts, texts
from handlers.base import (
    END,
    HANDED_OVER,
    Conversation,
    Turn,
    active_in,
    choice_button,
    edit_choice,
    for_roles,
    has_role,
    run_turn,
    summary_buttons,
    summary_choice,
)
from handlers.menus import ROLE_COMMANDS
from handlers.registration import _referrer_gate, render_card
from services import cases as svc
from services import patient_checks as checks
from services import registration as reg
from services.cases import CaseDraft
from storage.models import Case, Person, Role

NHS, DOB, TUMOUR, SITE, SUMMARY, URGENCY = "nhs", "dob", "tumour", "site", "summary", "urgency"
CONFIRM, CHOOSE_FIELD, DUPLICATE = "confirm", "choose_field", "duplicate"
ORDER = [NHS, DOB, TUMOUR, SITE, SUMMARY, URGENCY]

referral = Conversation("refer", start_state=NHS, allowed=active_in(Role.REFERRER))

ROLE_COMMANDS[Role.REFERRER][:0] = [
    ("refer", "Refer a new patient"),
    ("ask", "Ask a question about a case"),
    ("cases", "Your cases"),
    ("case", "A case and its thread: /case C-12"),
]
ROLE_COMMANDS[Role.CLINICIAN] += [
    ("queue", "Your open queries, urgent first"),
    ("cases", "Your cases"),
    ("case", "A case and its thread: /case C-12"),
    ("away", "Away until a date: /away YYYY-MM-DD"),
    ("back", "Back from leave"),
]
ROLE_COMMANDS[Role.LINK_CLINICIAN] += [
    ("cases", "Cases from your centre"),
    ("case", "A case and its thread: /case C-12"),
]
ROLE_COMMANDS[Role.ADMIN] += [
    ("cases", "Recent cases"),
    ("case", "A case and its thread: /case C-12"),
    ("allocate", "Allocate a case: /allocate C-12 named deputy"),
]


def today(turn: Turn) -> date:
    return turn.now.astimezone(turn.resources.timezone).date()


def _after(turn: Turn, state: str) -> str:
    if turn.data.get("editing"):
        return CONFIRM
    return ORDER[ORDER.index(state) + 1] if state != URGENCY else CONFIRM


def _keep(turn: Turn, state: str, checked: reg.Checked) -> str:
    """Keep a valid answer and move on, or say what is wrong and ask again."""
    if isinstance(checked, reg.Invalid):
        return turn.again(checked.problem)
    turn.data[state] = checked.value
    return _after(turn, state)


def _keep_choice(turn: Turn, state: str, options: dict[str, str], prefix: str) -> str:
    """Keep a pressed option (buttons carry `prefix` + key)."""
    key = (turn.choice or "").removeprefix(prefix)
    if key not in options:
        return turn.again(texts.PLEASE_USE_BUTTONS)
    turn.data[state] = key
    return _after(turn, state)


async def ask_nhs(turn: Turn) -> None:
    """Ask the NHS number."""
    turn.say(render(T.ASK_NHS))


@referral.step(NHS, ask_nhs, text_hint="Please type the NHS number.")
async def got_nhs(turn: Turn) -> str:
    """Check the Modulus 11 digit; name an open case of the same patient."""
    checked = checks.check_nhs_number(turn.text or "")
    if isinstance(checked, reg.Invalid):
        return turn.again(checked.problem)
    turn.data["nhs"] = checked.value
    existing = await svc.open_case_with_nhs(turn.uow, str(checked.value))
    turn.data["duplicate_of"] = existing.id if existing else None
    if existing is not None and turn.person is not None:
        if existing.referrer_id == turn.person.id:
            return DUPLICATE
        # About this patient (another referrer's open case): protected, case not named.
        turn.say(T.DUPLICATE_OTHER, protect=True)
    return _after(turn, NHS)


async def ask_duplicate(turn: Turn) -> None:
    """Offer the referrer's own open case for this patient."""
    ref = f"C-{turn.data['duplicate_of']}"
    turn.say(
        render(T.DUPLICATE_OWN, ref=ref),
        [
            [choice_button(T.ADD_TO_EXISTING.format(ref=ref), "existing")],
            [choice_button(T.NEW_CASE_ANYWAY, "new")],
        ],
        case_id=turn.data["duplicate_of"],
    )


@referral.step(DUPLICATE, ask_duplicate, accepts_text=False)
async def got_duplicate(turn: Turn) -> str:
    """Go to /ask on the existing case, or carry on."""
    if turn.choice == "existing":
        from handlers.queries import asking

        await asking.begin(turn, {"case_id": turn.data["duplicate_of"]})
        return HANDED_OVER
    if turn.choice == "new":
        return _after(turn, NHS)
    return turn.again(texts.PLEASE_USE_BUTTONS)


async def ask_dob(turn: Turn) -> None:
    """Ask the date of birth."""
    turn.say(render(T.ASK_DOB))


@referral.step(DOB, ask_dob, text_hint="Please type the date of birth as DD/MM/YYYY.")
async def got_dob(turn: Turn) -> str:
    """A real date in the past, age at most 120."""
    return _keep(turn, DOB, checks.check_date_of_birth(turn.text or "", today(turn)))


async def ask_tumour(turn: Turn) -> None:
    """Bone, Soft tissue or Not sure."""
    turn.say(
        render(T.ASK_TUMOUR),
        [[choice_button(label, f"t:{key}") for key, label in T.TUMOUR_TYPES.items()]],
    )


@referral.step(TUMOUR, ask_tumour, accepts_text=False)
async def got_tumour(turn: Turn) -> str:
    """Keep the tumour type."""
    return _keep_choice(turn, TUMOUR, T.TUMOUR_TYPES, "t:")


async def ask_site(turn: Turn) -> None:
    """Ask the anatomical site."""
    turn.say(render(T.ASK_SITE))


@referral.step(SITE, ask_site, text_hint="Please type the anatomical site.")
async def got_site(turn: Turn) -> str:
    """Free text up to 200 characters."""
    return _keep(turn, SITE, checks.check_free_text(turn.text or "", "site", 200))


async def ask_summary(turn: Turn) -> None:
    """Ask the clinical summary and question."""
    turn.say(render(T.ASK_SUMMARY))


@referral.step(SUMMARY, ask_summary, text_hint="Please type the clinical summary.")
async def got_summary(turn: Turn) -> str:
    """Free text up to 3000 characters."""
    return _keep(turn, SUMMARY, checks.check_free_text(turn.text or "", "clinical summary", 3000))


async def ask_urgency(turn: Turn) -> None:
    """Urgent or Routine."""
    turn.say(
        render(T.ASK_URGENCY),
        [[choice_button(label, f"u:{key}") for key, label in T.URGENCIES.items()]],
    )


@referral.step(URGENCY, ask_urgency, accepts_text=False)
async def got_urgency(turn: Turn) -> str:
    """Keep the urgency."""
    return _keep_choice(turn, URGENCY, T.URGENCIES, "u:")


async def ask_confirm(turn: Turn) -> None:
    """The referral with Confirm / Edit / Cancel."""
    turn.data["editing"] = False
    d = turn.data
    turn.say(
        render(
            T.REFERRAL_SUMMARY,
            nhs=checks.format_nhs(d["nhs"]),
            dob=_show_date(d["dob"]),
            tumour=T.TUMOUR_TYPES[d["tumour"]],
            site=d["site"],
            urgency=T.URGENCIES[d["urgency"]],
            summary=d["summary"],
        ),
        summary_buttons(),
        protect=True,
    )


def _show_date(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


@referral.step(CONFIRM, ask_confirm, accepts_text=False)
async def got_confirm(turn: Turn) -> str:
    """Confirm opens the case, allocates, and tells everyone concerned."""
    if (elsewhere := summary_choice(turn, CHOOSE_FIELD)) is not None:
        return elsewhere
    if not _referrer_gate(turn):
        return END
    assert turn.person is not None
    d = turn.data
    draft = CaseDraft(d["nhs"], d["dob"], d["tumour"], d["site"], d["summary"], d["urgency"])
    opened = await svc.open_case(turn.uow, turn.person, draft, turn.now, today(turn))
    await announce_case(turn, opened)
    return END


async def ask_field(turn: Turn) -> None:
    """Offer each detail as a button."""
    rows = [[choice_button(T.FIELD_LABELS[f], f"f:{f}")] for f in ORDER]
    rows.append([choice_button(T.BACK, "f:back")])
    turn.say(T.CHOOSE_FIELD, rows)


@referral.step(CHOOSE_FIELD, ask_field, accepts_text=False)
async def got_field(turn: Turn) -> str:
    """Re-ask one detail, then back to the summary."""
    return edit_choice(turn, ORDER, CONFIRM)


def contact_suffix(person: Person | None) -> Html:
    if person is None or not (person.phone or person.email):
        return Html("")
    return render(
        T.CONTACT_SUFFIX,
        phone=reg.show_phone(person.phone) if person.phone else "",
        sep=", " if person.phone and person.email else "",
        email=person.email or "",
    )


async def clinic_line(turn: Turn) -> str:
    found = svc.next_clinic(await turn.uow.clinics.all(), turn.now, turn.resources.timezone)
    if found is None:
        return T.NO_CLINIC
    start, clinic = found
    return f"{start.strftime('%A %d %B %Y, %H:%M')} — {clinic.name}, {clinic.location}"


async def announce_case(turn: Turn, opened: svc.CaseOpened) -> None:
    """Tell the referrer, the named clinician and deputy, link clinicians or admins."""
    case = opened.case
    tumour, urgency = T.TUMOUR_TYPES[case.tumour_type], T.URGENCIES[case.urgency]
    clinic = await clinic_line(turn)
    if opened.named is None or opened.deputy is None:
        turn.say(render(T.CASE_OPENED_UNALLOCATED, ref=case.ref, clinic=clinic), case_id=case.id)
        for admin in opened.admins:
            turn.tell(
                admin,
                render(T.CASE_NEEDS_ALLOCATION, ref=case.ref, tumour=tumour, urgency=urgency),
                case_id=case.id,
            )
        return
    turn.say(
        render(
            T.CASE_OPENED,
            ref=case.ref,
            named=opened.named.name,
            named_contact=contact_suffix(opened.named),
            deputy=opened.deputy.name,
            deputy_contact=contact_suffix(opened.deputy),
            clinic=clinic,
        ),
        case_id=case.id,
    )
    await tell_clinicians(
        turn, case, opened.named, opened.deputy, opened.link_clinicians, opened.duplicate_of
    )
    for link in opened.link_clinicians:
        turn.tell(
            link,
            render(
                T.CASE_FOR_LINK,
                ref=case.ref,
                tumour=tumour,
                urgency=urgency,
                referrer=turn.person.name if turn.person else "",
                named=opened.named.name,
            ),
            case_id=case.id,
        )


async def tell_clinicians(
    turn: Turn,
    case: Case,
    named: Person,
    deputy: Person,
    links: list[Person] | tuple[Person, ...] | object,
    duplicate_of: Case | None = None,
) -> None:
    """The full case with the referrer's card, to the named clinician and deputy."""
    referrer = await turn.uow.people.get(case.referrer_id)
    card = await reg.load_card(turn.uow, referrer) if referrer else None
    link_people = list(links) if isinstance(links, list | tuple) else []
    link_lines = Html(
        "\n".join(render("• {n}{c}", n=p.name, c=contact_suffix(p)) for p in link_people)
        or T.NO_LINKS
    )
    for person, role_line in ((named, T.ROLE_NAMED), (deputy, T.ROLE_DEPUTY)):
        turn.tell(
            person,
            render(
                T.CASE_FOR_CLINICIAN,
                role_line=role_line,
                ref=case.ref,
                urgency=T.URGENCIES[case.urgency],
                tumour=T.TUMOUR_TYPES[case.tumour_type],
                duplicate=render(T.DUPLICATE_NOTE, ref=duplicate_of.ref) if duplicate_of else "",
                nhs=checks.format_nhs(case.nhs_number or ""),
                dob=_show_date(case.date_of_birth or "1900-01-01"),
                site=case.site,
                summary=case.summary,
                card=render_card(card) if card else "",
                links=link_lines,
            ),
            protect=True,
            case_id=case.id,
        )


async def refer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/refer: approved referrers only."""

    async def body(turn: Turn) -> None:
        if _referrer_gate(turn):
            await referral.begin(turn, {})

    await run_turn(update, context, body)


async def case_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/case C-n: the case and its whole thread, for those allowed to see it."""

    async def body(turn: Turn) -> None:
        ref = turn.args[0] if turn.args else ""
        case = await svc.visible_case(turn.uow, turn.person, ref)
        if case is None or turn.person is None:
            turn.say(T.NOT_YOURS.format(ref=ref or "C-?"))
            return
        await turn.uow.audit.record(turn.now, turn.person.ref, "case.viewed", case.ref)
        turn.say(await case_view(turn, case), protect=True, case_id=case.id)

    await run_turn(update, context, body)


async def case_view(turn: Turn, case: Case) -> Html:
    """The case and its thread; link clinicians see no NHS number or date of birth."""
    people: dict[int, Person | None] = {}

    async def name_of(person_id: int | None) -> str:
        if person_id is None:
            return "—"
        if person_id not in people:
            people[person_id] = await turn.uow.people.get(person_id)
        person = people[person_id]
        return person.name or "—" if person else "—"

    lines = []
    tz = turn.resources.timezone
    assert turn.person is not None
    messages, left_out = await svc.thread_for(turn.uow, turn.person, case)
    for message in messages:
        lines.append(
            render(
                T.THREAD_LINE,
                at=message.created_at.astimezone(tz).strftime("%d %b %H:%M"),
                query=f"Q-{message.query_id}" if message.query_id else "",
                author=await name_of(message.author_id),
                text=message.body if message.body is not None else "(removed)",
            )
        )
    restricted = turn.person is not None and turn.person.role == Role.LINK_CLINICIAN
    # Past the retention period only references remain (services/retention.py).
    removed = T.REMOVED_BY_RETENTION if case.purged_at is not None else ""
    hidden = removed or ("(not shown)" if restricted else "")
    return render(
        T.CASE_VIEW,
        ref=case.ref,
        status=case.status,
        tumour=T.TUMOUR_TYPES[case.tumour_type],
        urgency=T.URGENCIES[case.urgency],
        opened=case.created_at.astimezone(tz).strftime("%d %b %Y"),
        nhs=hidden or checks.format_nhs(case.nhs_number or ""),
        dob=hidden or _show_date(case.date_of_birth or "1900-01-01"),
        site=removed or case.site,
        referrer=await name_of(case.referrer_id),
        named=await name_of(case.named_clinician_id),
        deputy=await name_of(case.deputy_id),
        summary=removed or case.summary,
        thread=Html("\n".join(lines)) if lines else T.THREAD_EMPTY,
        need_to_know=T.PATIENT_THREAD_NOT_SHOWN if left_out else "",
    )


@for_roles(
    Role.REFERRER, Role.CLINICIAN, Role.LINK_CLINICIAN, Role.ADMIN, refusal=T.NO_CASES_FOR_YOU
)
async def cases_command(turn: Turn) -> None:
    """/cases: one's cases, newest first."""
    person = turn.person
    assert person is not None
    cases = await svc.cases_of(turn.uow, person)
    if not cases:
        turn.say(T.NO_OPEN_CASES)
        return
    tz = turn.resources.timezone
    lines = [
        render(
            T.CASE_LINE,
            ref=c.ref,
            tumour=T.TUMOUR_TYPES[c.tumour_type],
            urgency=T.URGENCIES[c.urgency],
            status=c.status,
            opened=c.created_at.astimezone(tz).strftime("%d %b %Y"),
        )
        for c in cases
    ]
    turn.say(Html("\n".join([T.CASES_HEADER, "", *lines])), protect=True)


async def allocate_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/allocate C-n <named> <deputy> (admins): allocate or reallocate by hand."""

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]):
            turn.say(registration_texts.FOR_ADMINS)
            return
        assert turn.person is not None
        if len(turn.args) != 3:
            turn.say(T.ALLOCATE_USAGE)
            return
        case = await svc.visible_case(turn.uow, turn.person, turn.args[0])
        if case is None:
            turn.say(T.NOT_YOURS.format(ref=turn.args[0]))
            return
        before = {case.named_clinician_id, case.deputy_id} - {None}
        result = await svc.allocate_by_hand(
            turn.uow, turn.person, case, turn.args[1], turn.args[2], turn.now
        )
        if isinstance(result, str):
            turn.say(result)
            return
        named, deputy = result
        turn.say(
            render(T.ALLOCATED, ref=case.ref, named=named.name, deputy=deputy.name),
            case_id=case.id,
        )
        for person_id in before - {named.id, deputy.id}:
            former = await turn.uow.people.get(person_id)  # type: ignore[arg-type]
            if former is not None:
                turn.tell(former, render(T.NO_LONGER_ON_CASE, ref=case.ref), case_id=case.id)
        links = await svc.link_clinicians_for(turn.uow, case.centre_id, case.tumour_type)
        await tell_clinicians(turn, case, named, deputy, links)
        referrer = await turn.uow.people.get(case.referrer_id)
        if referrer is not None:
            turn.tell(
                referrer,
                render(
                    T.ALLOCATION_CHANGED,
                    ref=case.ref,
                    named=named.name,
                    named_contact=contact_suffix(named),
                    deputy=deputy.name,
                    deputy_contact=contact_suffix(deputy),
                ),
                case_id=case.id,
            )

    await run_turn(update, context, body)


CONVERSATIONS = [referral]


def handlers() -> list[tuple[int, BaseHandler]]:
    private = filters.ChatType.PRIVATE
    return [
        (0, CommandHandler("refer", refer, filters=private)),
        (0, CommandHandler("case", case_command, filters=private)),
        (0, CommandHandler("cases", cases_command, filters=private)),
        (0, CommandHandler("allocate", allocate_command, filters=private)),
    ]

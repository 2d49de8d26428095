"""/refer: the six questions of a referral, the duplicate check (which may hand over to
/ask), and the notices of a new case to everyone concerned."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from delivery.text import render
from handlers import referral_texts, texts
from handlers.base import (
    END,
    Conversation,
    Turn,
    active_in,
    choice_button,
    edit_choice,
    run_turn,
    summary_buttons,
    summary_choice,
)
from handlers.shared import contact_suffix, referrer_gate, show_date, tell_clinicians, today
from services import cases, patient_checks
from services.cases import CaseDraft
from services.registration import Checked, Invalid
from storage.models import Role

NHS, DOB, TUMOUR, SITE, SUMMARY, URGENCY = "nhs", "dob", "tumour", "site", "summary", "urgency"
CONFIRM, CHOOSE_FIELD, DUPLICATE = "confirm", "choose_field", "duplicate"
ORDER = [NHS, DOB, TUMOUR, SITE, SUMMARY, URGENCY]

referral = Conversation("refer", start_state=NHS, allowed=active_in(Role.REFERRER))


def _after(turn: Turn, state: str) -> str:
    if turn.data.get("editing"):
        return CONFIRM
    return ORDER[ORDER.index(state) + 1] if state != URGENCY else CONFIRM


def _keep(turn: Turn, state: str, checked: Checked) -> str:
    """Keep a valid answer and move on, or say what is wrong and ask again."""
    if isinstance(checked, Invalid):
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
    turn.say(render(referral_texts.ASK_NHS))


@referral.step(NHS, ask_nhs, text_hint="Please type the NHS number.")
async def got_nhs(turn: Turn) -> str:
    """Check the Modulus 11 digit; name an open case of the same patient."""
    checked = patient_checks.check_nhs_number(turn.text or "")
    if isinstance(checked, Invalid):
        return turn.again(checked.problem)
    turn.data["nhs"] = checked.value
    existing = await cases.open_case_with_nhs(turn.uow, str(checked.value))
    turn.data["duplicate_of"] = existing.id if existing else None
    if existing is not None and turn.person is not None:
        if existing.referrer_id == turn.person.id:
            return DUPLICATE
        # About this patient (another referrer's open case): protected, case not named.
        turn.say(referral_texts.DUPLICATE_OTHER, protect=True)
    return _after(turn, NHS)


async def ask_duplicate(turn: Turn) -> None:
    """Offer the referrer's own open case for this patient."""
    ref = f"C-{turn.data['duplicate_of']}"
    turn.say(
        render(referral_texts.DUPLICATE_OWN, ref=ref),
        [
            [choice_button(referral_texts.ADD_TO_EXISTING.format(ref=ref), "existing")],
            [choice_button(referral_texts.NEW_CASE_ANYWAY, "new")],
        ],
        case_id=turn.data["duplicate_of"],
    )


@referral.step(DUPLICATE, ask_duplicate, accepts_text=False)
async def got_duplicate(turn: Turn) -> str:
    """Go to /ask on the existing case, or carry on."""
    if turn.choice == "existing":
        return await turn.hand_over("ask", {"case_id": turn.data["duplicate_of"]})
    if turn.choice == "new":
        return _after(turn, NHS)
    return turn.again(texts.PLEASE_USE_BUTTONS)


async def ask_dob(turn: Turn) -> None:
    """Ask the date of birth."""
    turn.say(render(referral_texts.ASK_DOB))


@referral.step(DOB, ask_dob, text_hint="Please type the date of birth as DD/MM/YYYY.")
async def got_dob(turn: Turn) -> str:
    """A real date in the past, age at most 120."""
    return _keep(turn, DOB, patient_checks.check_date_of_birth(turn.text or "", today(turn)))


async def ask_site(turn: Turn) -> None:
    """Ask the anatomical site."""
    turn.say(render(referral_texts.ASK_SITE))


@referral.step(SITE, ask_site, text_hint="Please type the anatomical site.")
async def got_site(turn: Turn) -> str:
    """Free text up to 200 characters."""
    return _keep(turn, SITE, patient_checks.check_free_text(turn.text or "", "site", 200))


async def ask_summary(turn: Turn) -> None:
    """Ask the clinical summary and question."""
    turn.say(render(referral_texts.ASK_SUMMARY))


@referral.step(SUMMARY, ask_summary, text_hint="Please type the clinical summary.")
async def got_summary(turn: Turn) -> str:
    """Free text up to 3000 characters."""
    return _keep(
        turn, SUMMARY, patient_checks.check_free_text(turn.text or "", "clinical summary", 3000)
    )


def _choice_step(state: str, question: str, options: dict[str, str], prefix: str) -> None:
    """A question answered by one of `options`' buttons (data `prefix` + key)."""

    async def ask(turn: Turn) -> None:
        rows = [[choice_button(label, f"{prefix}{key}") for key, label in options.items()]]
        turn.say(render(question), rows)

    async def answer(turn: Turn) -> str:
        return _keep_choice(turn, state, options, prefix)

    referral.step(state, ask, accepts_text=False)(answer)


_choice_step(TUMOUR, referral_texts.ASK_TUMOUR, referral_texts.TUMOUR_TYPES, "t:")
_choice_step(URGENCY, referral_texts.ASK_URGENCY, referral_texts.URGENCIES, "u:")


async def ask_confirm(turn: Turn) -> None:
    """The referral with Confirm / Edit / Cancel."""
    turn.data["editing"] = False
    d = turn.data
    turn.say(
        render(
            referral_texts.REFERRAL_SUMMARY,
            nhs=patient_checks.format_nhs(d["nhs"]),
            dob=show_date(d["dob"]),
            tumour=referral_texts.TUMOUR_TYPES[d["tumour"]],
            site=d["site"],
            urgency=referral_texts.URGENCIES[d["urgency"]],
            summary=d["summary"],
        ),
        summary_buttons(),
        protect=True,
    )


@referral.step(CONFIRM, ask_confirm, accepts_text=False)
async def got_confirm(turn: Turn) -> str:
    """Confirm opens the case, allocates, and tells everyone concerned."""
    if (elsewhere := summary_choice(turn, CHOOSE_FIELD)) is not None:
        return elsewhere
    if not referrer_gate(turn):
        return END
    assert turn.person is not None
    d = turn.data
    draft = CaseDraft(d["nhs"], d["dob"], d["tumour"], d["site"], d["summary"], d["urgency"])
    opened = await cases.open_case(turn.uow, turn.person, draft, turn.now, today(turn))
    await announce_case(turn, opened)
    # Files are asked for once the case exists, so a referral left half-way never holds
    # patient files on no case.
    return await turn.hand_over("attach", {"case_id": opened.case.id})


async def ask_field(turn: Turn) -> None:
    """Offer each detail as a button."""
    rows = [[choice_button(referral_texts.FIELD_LABELS[f], f"f:{f}")] for f in ORDER]
    rows.append([choice_button(referral_texts.BACK, "f:back")])
    turn.say(referral_texts.CHOOSE_FIELD, rows)


@referral.step(CHOOSE_FIELD, ask_field, accepts_text=False)
async def got_field(turn: Turn) -> str:
    """Re-ask one detail, then back to the summary."""
    return edit_choice(turn, ORDER, CONFIRM)


async def clinic_line(turn: Turn) -> str:
    found = cases.next_clinic(await turn.uow.clinics.all(), turn.now, turn.resources.timezone)
    if found is None:
        return referral_texts.NO_CLINIC
    start, clinic = found
    return f"{start.strftime('%A %d %B %Y, %H:%M')} — {clinic.name}, {clinic.location}"


async def announce_case(turn: Turn, opened: cases.CaseOpened) -> None:
    """Tell the referrer, the named clinician and deputy, link clinicians or admins."""
    case = opened.case
    about = {
        "ref": case.ref,
        "tumour": referral_texts.TUMOUR_TYPES[case.tumour_type],
        "urgency": referral_texts.URGENCIES[case.urgency],
    }
    clinic = await clinic_line(turn)
    if opened.named is None or opened.deputy is None:
        unallocated = render(referral_texts.CASE_OPENED_UNALLOCATED, ref=case.ref, clinic=clinic)
        turn.say(unallocated, case_id=case.id)
        for admin in opened.admins:
            needs = render(referral_texts.CASE_NEEDS_ALLOCATION, **about)
            turn.tell(admin, needs, case_id=case.id)
        return
    turn.say(
        render(
            referral_texts.CASE_OPENED,
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
    referrer = turn.person.name if turn.person else ""
    for link in opened.link_clinicians:
        for_link = render(
            referral_texts.CASE_FOR_LINK, **about, referrer=referrer, named=opened.named.name
        )
        turn.tell(link, for_link, case_id=case.id)


async def refer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/refer: approved referrers only."""

    async def body(turn: Turn) -> None:
        if referrer_gate(turn):
            await referral.begin(turn, {})

    await run_turn(update, context, body)

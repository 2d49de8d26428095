"""Helpers more than one command uses: the referrer gate, dates in the service's time
zone, contact lines and cards, the holder's query buttons, the full case for its
clinicians, and the confirm buttons of /close and /erase_patient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button
from delivery.text import Html, render
from handlers import cases_texts, queries_texts, referral_texts, registration_texts
from handlers.base import Handler, Turn, choice_button, run_turn
from services import cases, patient_checks
from services.registration import ContactCard, load_card, show_phone
from storage.models import Case, Person, PersonStatus, Query, Role


def referrer_gate(turn: Turn) -> bool:
    """True for an approved referrer; otherwise says why not."""
    person = turn.person
    if person is None or person.role != Role.REFERRER:
        turn.notice = registration_texts.NOT_A_REFERRER
        turn.say(registration_texts.NOT_A_REFERRER)
        return False
    if person.status != PersonStatus.ACTIVE:
        message = (
            registration_texts.AWAITING_APPROVAL
            if person.status == PersonStatus.PENDING
            else registration_texts.ALREADY_REGISTERED.get(
                person.status, registration_texts.NOT_A_REFERRER
            )
        )
        turn.notice = message
        turn.say(message)
        return False
    return True


def today(turn: Turn) -> date:
    """The date in the service's time zone."""
    return turn.now.astimezone(turn.resources.timezone).date()


def show_date(iso: str) -> str:
    """An ISO date as DD/MM/YYYY."""
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def contact_suffix(person: Person | None) -> Html:
    """(phone, email) after a clinician's name, or nothing."""
    if person is None or not (person.phone or person.email):
        return Html("")
    return render(
        referral_texts.CONTACT_SUFFIX,
        phone=show_phone(person.phone) if person.phone else "",
        sep=", " if person.phone and person.email else "",
        email=person.email or "",
    )


def render_card(card: ContactCard) -> Html:
    """The contact card, every value escaped."""
    return render(
        registration_texts.CARD,
        full_name=card.full_name,
        job_title=card.job_title,
        centre=card.centre,
        phone=show_phone(card.phone),
        mobile=show_phone(card.mobile),
        secretary=show_phone(card.secretary),
        email=card.email,
        fax=show_phone(card.fax),
    )


def card_warning(card: ContactCard) -> Html:
    """The warning under a card that lacks optional details."""
    return render(registration_texts.MISSING_WARNING) if card.missing else Html("")


def decision_buttons(referrer_id: int) -> list[list[Button]]:
    """Approve / Reject under a registration card (admins)."""
    return [
        [
            Button(registration_texts.APPROVE, data=f"reg:a:{referrer_id}"),
            Button(registration_texts.REJECT, data=f"reg:r:{referrer_id}"),
        ]
    ]


def holder_buttons(query: Query) -> list[list[Button]]:
    """The holder's actions; the data is an opaque id checked against whoever presses."""
    return [
        [
            Button(queries_texts.ACKNOWLEDGE, data=f"q:ack:{query.id}"),
            Button(queries_texts.REPLY, data=f"q:rep:{query.id}"),
        ],
        [
            Button(queries_texts.PASS, data=f"q:pass:{query.id}"),
            Button(queries_texts.RESOLVE, data=f"q:res:{query.id}"),
        ],
        # handlers/mdt.py answers it (the case, not the query, goes to the meeting).
        [Button(DISCUSS_AT_MDT, data=f"mdt:add:{query.case_id}")],
    ]


DISCUSS_AT_MDT = "Discuss at MDT"


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
    card = await load_card(turn.uow, referrer) if referrer else None
    link_people = list(links) if isinstance(links, list | tuple) else []
    link_lines = Html(
        "\n".join(render("• {n}{c}", n=p.name, c=contact_suffix(p)) for p in link_people)
        or referral_texts.NO_LINKS
    )
    for person, role_line in (
        (named, referral_texts.ROLE_NAMED),
        (deputy, referral_texts.ROLE_DEPUTY),
    ):
        duplicate = (
            render(referral_texts.DUPLICATE_NOTE, ref=duplicate_of.ref) if duplicate_of else ""
        )
        turn.tell(
            person,
            render(
                referral_texts.CASE_FOR_CLINICIAN,
                role_line=role_line,
                ref=case.ref,
                urgency=referral_texts.URGENCIES[case.urgency],
                tumour=referral_texts.TUMOUR_TYPES[case.tumour_type],
                duplicate=duplicate,
                nhs=patient_checks.format_nhs(case.nhs_number or ""),
                dob=show_date(case.date_of_birth or "1900-01-01"),
                site=case.site,
                summary=case.summary,
                card=render_card(card) if card else "",
                links=link_lines,
            ),
            protect=True,
            case_id=case.id,
        )


def say_list(turn: Turn, header: str, lines: list[Html], *, empty: str) -> None:
    """A protected list under its header, or `empty` when there is nothing to list."""
    if not lines:
        turn.say(empty)
        return
    turn.say(Html("\n".join([header, "", *lines])), protect=True)


# --- Confirm buttons on a case (/close, /erase_patient) ------------------------------


async def case_named(turn: Turn, usage: str) -> Case | None:
    """The one case a command names (`/close C-12`) if the user may see it; otherwise
    None, having said the usage or that there is no such case."""
    if len(turn.args) != 1:
        turn.say(usage)
        return None
    case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
    if case is None:
        turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0][:20]))
    return case


Confirmed = Callable[[Turn, Case, bool], Awaitable[None]]


def ask_to_confirm(turn: Turn, question: str, prefix: str, case: Case, yes: str, no: str) -> None:
    """`question` about a case with Yes / No buttons; their data is `prefix:y|n:case id`."""
    buttons = [
        [Button(yes, data=f"{prefix}:y:{case.id}"), Button(no, data=f"{prefix}:n:{case.id}")]
    ]
    turn.say(render(question, ref=case.ref), buttons, case_id=case.id)


def confirm_pattern(prefix: str) -> str:
    """The callback pattern of the buttons of `ask_to_confirm(..., prefix, ...)`."""
    return rf"^{prefix}:[yn]:\d{{1,9}}$"


def on_confirm(answer: Confirmed, missing: Callable[[Turn], None]) -> Handler:
    """A button handler: finds the case of a pressed confirm button and gives `answer`
    the turn, the case and whether Yes was pressed (`missing` handles a case gone)."""

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        _, action, raw_id = (update.callback_query.data or "::").split(":", 2)  # type: ignore[union-attr]

        async def body(turn: Turn) -> None:
            case = await turn.uow.cases.get(int(raw_id))
            if case is None:
                missing(turn)
                return
            await answer(turn, case, action == "y")

        await run_turn(update, context, body, label=answer.__name__)

    pressed.__name__ = answer.__name__
    pressed.__doc__ = answer.__doc__
    return pressed


def role_name(person: Person | None, case: Case) -> str:
    """A person's name with their part in the case: "Dr A Jones (named clinician)"."""
    if person is None:
        return "unknown"
    if person.id == case.named_clinician_id:
        return f"{person.name} (named clinician)"
    if person.id == case.deputy_id:
        return f"{person.name} (deputy)"
    if person.id == case.referrer_id:
        return f"{person.name} (referrer)"
    return person.name or ""


def offer_cases(turn: Turn, cases: Sequence[Case], question: str) -> None:
    """Ask which case, a button each (the first 20); the choice is read by `picked_case`."""
    shown = list(cases)[:20]
    turn.data["choices"] = [c.id for c in shown]
    rows = [
        [choice_button(f"{c.ref} — {referral_texts.TUMOUR_TYPES[c.tumour_type]}", f"k:{i}")]
        for i, c in enumerate(shown)
    ]
    turn.say(question, rows, protect=True)  # the buttons list the cases


def picked_case(turn: Turn) -> int | None:
    """The id of the case pressed among those `offer_cases` offered; None otherwise."""
    index = (turn.choice or "").removeprefix("k:")
    choices = turn.data.get("choices", [])
    if not index.isdigit() or int(index) >= len(choices):
        return None
    return int(choices[int(index)])

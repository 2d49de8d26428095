"""/case (a case and its thread), /cases (one's cases) and /allocate (admins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

from delivery.sender import Button
from delivery.text import Html, render
from handlers import attachments_texts as AT
from handlers import cases_texts, referral_texts, registration_texts
from handlers.attachments import file_caption
from handlers.base import Turn, for_roles, has_role, message_to, run_turn
from handlers.mdt import discuss_button
from handlers.shared import contact_suffix, role_name, say_list, show_date, tell_clinicians
from services import attachments, cases, mdt, patient_checks, viewing
from services.file_words import describe_file
from storage.models import Attachment, Case, Person, Role


async def case_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/case C-n: the case and its whole thread, for those allowed to see it."""

    async def body(turn: Turn) -> None:
        ref = turn.args[0] if turn.args else ""
        case = await cases.visible_case(turn.uow, turn.person, ref)
        if case is None or turn.person is None:
            turn.say(cases_texts.NOT_YOURS.format(ref=ref or "C-?"))
            return
        await viewing.case_viewed(turn.uow, turn.person, case, turn.now)
        files = await attachments.files_of(turn.uow, case)
        buttons = file_buttons(files) if attachments.may_receive(turn.person, case) else []
        if case.status == "open" and mdt.may_list(turn.person, case):
            buttons.append([discuss_button(case)])
        turn.say(await case_view(turn, case, files), buttons or None, protect=True, case_id=case.id)

    await run_turn(update, context, body)


def file_buttons(files: Sequence[Attachment]) -> list[list[Button]]:
    """A button per stored file that sends it again (three to a row)."""
    buttons = [
        Button(AT.SEND_AGAIN.format(n=n), data=f"{RESEND}{f.id}")
        for n, f in enumerate(files, 1)
        if f.purged_at is None
    ]
    return [buttons[i : i + 3] for i in range(0, len(buttons), 3)]


async def case_view(turn: Turn, case: Case, files: Sequence[Attachment] = ()) -> Html:
    """The case, its thread and its files; link clinicians see no NHS number or date
    of birth."""
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
    messages, left_out = await cases.thread_for(turn.uow, turn.person, case)
    for message in messages:
        lines.append(
            render(
                cases_texts.THREAD_LINE,
                at=message.created_at.astimezone(tz).strftime("%d %b %H:%M"),
                query=f"Q-{message.query_id}" if message.query_id else "",
                author=await name_of(message.author_id),
                text=message.body if message.body is not None else "(removed)",
            )
        )
    restricted = turn.person is not None and turn.person.role == Role.LINK_CLINICIAN
    # Past the retention period only references remain (services/retention.py).
    removed = cases_texts.REMOVED_BY_RETENTION if case.purged_at is not None else ""
    hidden = removed or ("(not shown)" if restricted else "")
    return render(
        cases_texts.CASE_VIEW,
        ref=case.ref,
        status=case.status,
        tumour=referral_texts.TUMOUR_TYPES[case.tumour_type],
        urgency=referral_texts.URGENCIES[case.urgency],
        opened=case.created_at.astimezone(tz).strftime("%d %b %Y"),
        nhs=hidden or patient_checks.format_nhs(case.nhs_number or ""),
        dob=hidden or show_date(case.date_of_birth or "1900-01-01"),
        site=removed or case.site,
        referrer=await name_of(case.referrer_id),
        named=await name_of(case.named_clinician_id),
        deputy=await name_of(case.deputy_id),
        summary=removed or case.summary,
        thread=Html("\n".join(lines)) if lines else cases_texts.THREAD_EMPTY,
        need_to_know=cases_texts.PATIENT_THREAD_NOT_SHOWN if left_out else "",
        files=await _file_lines(files, name_of, tz),
    )


async def _file_lines(
    files: Sequence[Attachment], name_of: Callable[[int | None], Awaitable[str]], tz: ZoneInfo
) -> Html | str:
    """The Files section of /case: type, size, who, when; numbered as the buttons are."""
    if not files:
        return ""
    lines = [
        render(
            AT.FILE_LINE,
            n=n,
            what=describe_file(f.kind, f.size, f.pages, f.width, f.height),
            who=await name_of(f.uploaded_by_id),
            at=f.created_at.astimezone(tz).strftime("%d %b %H:%M"),
            purged=AT.FILE_PURGED if f.purged_at is not None else "",
        )
        for n, f in enumerate(files, 1)
    ]
    return Html("\n\n" + "\n".join([AT.FILES_HEADER, *lines]))


RESEND = "att:"
RESEND_BUTTON = rf"^{RESEND}\d+$"


async def resend_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send file n of a case again, to someone allowed to have it."""
    raw = (update.callback_query.data or "") if update.callback_query else ""

    async def body(turn: Turn) -> None:
        found = await attachments.send_again(
            turn.uow, turn.person, int(raw.removeprefix(RESEND)), turn.now
        )
        if isinstance(found, str) or turn.person is None:
            turn.notice = AT.FILE_GONE if found == "gone" else AT.NOT_FOR_YOU
            return
        attachment, case = found.attachment, found.case
        uploader = await turn.uow.people.get(attachment.uploaded_by_id)
        turn.say(render(AT.SENT_AGAIN, n=found.number, ref=case.ref), case_id=case.id)
        outgoing = message_to(
            turn.person,
            file_caption(case.ref, None, role_name(uploader, case), attachment.caption),
            case_id=case.id,
            query_id=attachment.query_id,
        )
        if outgoing is not None:
            outgoing.attachment = attachment.id
            turn.replies.append(outgoing)

    await run_turn(update, context, body)


@for_roles(
    Role.REFERRER,
    Role.CLINICIAN,
    Role.LINK_CLINICIAN,
    Role.ADMIN,
    refusal=cases_texts.NO_CASES_FOR_YOU,
)
async def cases_command(turn: Turn) -> None:
    """/cases: one's cases, newest first."""
    person = turn.person
    assert person is not None
    mine = await cases.cases_of(turn.uow, person)
    tz = turn.resources.timezone
    lines = [
        render(
            cases_texts.CASE_LINE,
            ref=c.ref,
            tumour=referral_texts.TUMOUR_TYPES[c.tumour_type],
            urgency=referral_texts.URGENCIES[c.urgency],
            status=c.status,
            opened=c.created_at.astimezone(tz).strftime("%d %b %Y"),
        )
        for c in mine
    ]
    say_list(turn, cases_texts.CASES_HEADER, lines, empty=cases_texts.NO_OPEN_CASES)


async def allocate_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/allocate C-n <named> <deputy> (admins): allocate or reallocate by hand."""

    async def body(turn: Turn) -> None:
        if not has_role(turn.person, [Role.ADMIN]):
            turn.say(registration_texts.FOR_ADMINS)
            return
        assert turn.person is not None
        if len(turn.args) != 3:
            turn.say(cases_texts.ALLOCATE_USAGE)
            return
        case = await cases.visible_case(turn.uow, turn.person, turn.args[0])
        if case is None:
            turn.say(cases_texts.NOT_YOURS.format(ref=turn.args[0]))
            return
        before = {case.named_clinician_id, case.deputy_id} - {None}
        result = await cases.allocate_by_hand(
            turn.uow, turn.person, case, turn.args[1], turn.args[2], turn.now
        )
        if isinstance(result, str):
            turn.say(result)
            return
        named, deputy = result
        turn.say(
            render(cases_texts.ALLOCATED, ref=case.ref, named=named.name, deputy=deputy.name),
            case_id=case.id,
        )
        for person_id in before - {named.id, deputy.id}:
            former = await turn.uow.people.get(person_id)  # type: ignore[arg-type]
            if former is not None:
                turn.tell(
                    former, render(cases_texts.NO_LONGER_ON_CASE, ref=case.ref), case_id=case.id
                )
        links = await cases.link_clinicians_for(turn.uow, case.centre_id, case.tumour_type)
        await tell_clinicians(turn, case, named, deputy, links)
        referrer = await turn.uow.people.get(case.referrer_id)
        if referrer is not None:
            turn.tell(
                referrer,
                render(
                    cases_texts.ALLOCATION_CHANGED,
                    ref=case.ref,
                    named=named.name,
                    named_contact=contact_suffix(named),
                    deputy=deputy.name,
                    deputy_contact=contact_suffix(deputy),
                ),
                case_id=case.id,
            )

    await run_turn(update, context, body)

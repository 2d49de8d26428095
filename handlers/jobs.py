"""Timed jobs whose messages are the bot's: due reminders, escalation of unacknowledged
queries, and the end of idle conversations. Each opens its own unit of work and queues
its messages on the outbox; `bot/jobs.py` schedules them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from delivery.sender import Button, Outgoing
from delivery.text import Html, render
from handlers import mdt_texts, queries_texts, referral_texts, texts
from handlers.appointments import reminder_text
from handlers.base import Resources, message_to, protected
from handlers.mdt import agenda_line, day_words
from handlers.shared import holder_buttons
from services import appointments, mdt, queries
from services.queries import Escalation
from storage.models import Case, MdtListing, MdtMeeting, Role
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)


async def dispatch_reminders(resources: Resources) -> int:
    """Scheduled: queue due reminders in the same transaction that marks them."""
    now = resources.clock.now()
    async with resources.db.uow() as uow:
        claimed = await appointments.claim_due(uow, now)
        for item in claimed:
            message = _reminder_message(item, resources)
            if item.missed and item.case is not None and item.case.named_clinician_id:
                named = await uow.people.get(item.case.named_clinician_id)
                if named:
                    message = message_to(
                        named,
                        render(
                            "A reminder for case {ref} could not be sent in time (the bot "
                            "was down) and was marked missed.",
                            ref=item.case.ref,
                        ),
                        case_id=item.case.id,
                    )
            if message is not None:
                resources.sender.enqueue(uow, message, now)
        await uow.commit()
    if claimed:
        resources.sender.wake()
    return len(claimed)


def _reminder_message(item: appointments.DueReminder, resources: Resources) -> Outgoing | None:
    if item.missed or item.reminder.status != "sent" or item.recipient is None:
        return None
    if item.reminder.kind == "followup":
        return message_to(
            item.recipient,
            render(
                "📌 Follow-up reminder for case C-{c}: {n}",
                c=item.reminder.case_id,
                n=item.reminder.note or "",
            ),
            case_id=item.reminder.case_id,
        )
    if item.appointment is None:
        return None
    return message_to(
        item.recipient,
        reminder_text(item.appointment, resources),
        [
            [
                Button("I will attend", data=f"rm:y:{item.reminder.id}"),
                Button("I can't attend", data=f"rm:n:{item.reminder.id}"),
            ]
        ],
        case_id=item.reminder.case_id,
    )


async def run_escalations(resources: Resources, sla: timedelta) -> int:
    """Scheduled: escalate unacknowledged queries, each step once (also after restarts)."""
    now: datetime = resources.clock.now()
    async with resources.db.uow() as uow:
        done = await queries.escalate_due(uow, now, sla)
        for item in done:
            for message in await _escalation_messages(uow, item):
                resources.sender.enqueue(uow, message, now)
            log.info("%s escalated to level %s", item.query.ref, item.level)
        await uow.commit()
    if done:
        resources.sender.wake()
    return len(done)


async def _escalation_messages(uow: UnitOfWork, item: Escalation) -> list[Outgoing]:
    """Level 1: the question to the deputy, with the holder's buttons; level 2: a notice
    to the admins naming the case's clinicians."""
    query, case = item.query, item.case
    words = {
        "qref": query.ref,
        "ref": case.ref,
        "urgency": referral_texts.URGENCIES[case.urgency],
        "sla": f"{item.sla.total_seconds() / 3600:g} hours",
    }
    buttons = None
    if item.level == 1:
        messages = await queries.messages_of(uow, query)
        body = render(
            queries_texts.ESCALATED_DEPUTY, **words, text=messages[0].body if messages else ""
        )
        buttons = holder_buttons(query)
    else:
        named = await uow.people.get(case.named_clinician_id) if case.named_clinician_id else None
        deputy = await uow.people.get(case.deputy_id) if case.deputy_id else None
        body = render(
            queries_texts.ESCALATED_ADMINS,
            **words,
            named=named.name if named else "—",
            deputy=deputy.name if deputy else "—",
        )
    found = []
    for person in item.to:
        message = message_to(person, body, buttons, case_id=case.id, query_id=query.id)
        if message is not None:
            found.append(message)
    return found


async def expire_conversations(resources: Resources) -> int:
    """End conversations idle past their time and tell the user (runs after restarts too)."""
    now = resources.clock.now()
    expired = 0
    async with resources.db.uow() as uow:
        for row in await uow.conversations.expired(now):
            conversation = resources.conversations.get(row.name)
            notice = conversation.on_timeout if conversation else texts.CONVERSATION_TIMED_OUT
            person = await uow.people.by_telegram_id(row.telegram_user_id)
            resources.sender.enqueue(
                uow,
                Outgoing(
                    row.telegram_user_id,
                    render(notice),
                    protect=protected(person, False, None, None),
                    recipient_id=person.id if person else None,
                ),
                now,
            )
            await uow.conversations.delete(row.telegram_user_id)
            log.info("conversation %s timed out for user %s", row.name, row.telegram_user_id)
            expired += 1
        await uow.commit()
    if expired:
        resources.sender.wake()
    return expired


async def run_mdt(resources: Resources) -> int:
    """Scheduled: the agenda to the presenting clinicians and admins at each cut-off;
    after a meeting day, what had no outcome rolls to the next meeting (the referrer is
    told the new date); the next morning its presenting clinician is reminded."""
    now, tz = resources.clock.now(), resources.timezone
    done = 0
    async with resources.db.uow() as uow:
        for meeting in await mdt.agendas_due(uow, now):
            done += await _agenda_at_cutoff(uow, resources, meeting, now)
        for rolled in await mdt.close_finished_days(uow, now, tz):
            done += 1
            await _tell_rolled(uow, resources, rolled, now)
        for listing, case in await mdt.rolled_reminders_due(uow, now):
            done += 1
            await _remind_rolled(uow, resources, listing, case, now)
        await uow.commit()
    if done:
        resources.sender.wake()
    return done


async def _agenda_at_cutoff(
    uow: UnitOfWork, resources: Resources, meeting: MdtMeeting, now: datetime
) -> int:
    """The agenda, once, to each presenting clinician and every admin."""
    tz = resources.timezone
    meeting.agenda_sent_at = now
    items = await mdt.agenda(uow, meeting, now.astimezone(tz).date(), tz)
    if not items:
        return 0
    when = day_words(meeting.meeting_date)
    presenting = {i.presenting.id: i.presenting for i in items if i.presenting is not None}
    admins = [a for a in await uow.people.by_role(Role.ADMIN) if a.status == "active"]
    lines = [agenda_line(n, i) for n, i in enumerate(items, 1)]
    body = Html("\n\n".join([render(mdt_texts.AGENDA_AT_CUTOFF, when=when), *lines]))
    buttons = [[Button(mdt_texts.AGENDA_PDF, data=f"mdt:pdf:{meeting.meeting_date.isoformat()}")]]
    for person in [*presenting.values(), *[a for a in admins if a.id not in presenting]]:
        message = message_to(
            person, body, buttons if person.role == Role.ADMIN else None, protect=True
        )
        if message is not None:
            resources.sender.enqueue(uow, message, now)
    log.info("MDT agenda of %s sent (%s cases)", meeting.meeting_date, len(items))
    return 1


async def _tell_rolled(
    uow: UnitOfWork, resources: Resources, rolled: mdt.Rolled, now: datetime
) -> None:
    """The referrer and link clinicians hear the new date."""
    old = await uow.mdt.meeting_by_id(rolled.old.meeting_id)
    words = {
        "ref": rolled.case.ref,
        "old": day_words(old.meeting_date) if old else "?",
        "when": day_words(rolled.meeting.day),
    }
    for person in await mdt.referrer_and_links(uow, rolled.case):
        message = message_to(
            person, render(mdt_texts.ROLLED_FOR_OTHERS, **words), case_id=rolled.case.id
        )
        if message is not None:
            resources.sender.enqueue(uow, message, now)


async def _remind_rolled(
    uow: UnitOfWork, resources: Resources, listing: MdtListing, case: Case, now: datetime
) -> None:
    """The presenting clinician, the morning after: record the outcome if it was given."""
    presenting = await uow.people.get(listing.presenting_id) if listing.presenting_id else None
    old = await uow.mdt.listing(listing.rolled_from_id) if listing.rolled_from_id else None
    old_meeting = await uow.mdt.meeting_by_id(old.meeting_id) if old else None
    meeting = await uow.mdt.meeting_by_id(listing.meeting_id)
    if presenting is None or meeting is None:
        return
    message = message_to(
        presenting,
        render(
            mdt_texts.ROLLED_REMINDER,
            ref=case.ref,
            old=day_words(old_meeting.meeting_date) if old_meeting else "?",
            when=day_words(meeting.meeting_date),
        ),
        case_id=case.id,
    )
    if message is not None:
        resources.sender.enqueue(uow, message, now)

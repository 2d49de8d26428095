"""Removing a patient from the bot: their Telegram binding and personal fields go; the
clinical record (the case, its thread, its appointments) stays under the retention rule.

What goes at once, here and in `/privacy` and docs/SECURITY.md (the same words):
everything that links the bot to the patient's Telegram account — the account number in
their record and on every stored message to or from them, the bot's copies of those
messages, their conversation in progress, invitation traces — with their name, pending
reminders and unsent messages. The case (NHS number, date of birth, site, summary), its
queries and thread (the patient's answers included) and its appointments are the health
record: they stay until the retention purge, like every case's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from storage.models import Case, Person, PersonStatus
from storage.uow import UnitOfWork


@dataclass
class Erased:
    """What an erasure removed (counts and references only)."""

    case: Case
    people: list[str] = field(default_factory=list)
    telegram_ids: list[int] = field(default_factory=list)
    reminders_cancelled: int = 0
    messages_held: int = 0


async def patients_of_case(uow: UnitOfWork, case_id: int) -> Sequence[Person]:
    """Every patient record of a case not yet erased (active, stopped or unreachable)."""
    return await uow.people.patients_of_case(case_id)


async def unbind(uow: UnitOfWork, person: Person, now: datetime) -> int | None:
    """Forget a person's Telegram account: cancel what was due to them, drop their
    conversation, queued messages and invite traces, and every stored trace of the chat
    (copies of messages sent to them, the chat number on message rows). What they sent
    is not kept past its handling (`inbound_updates` keeps only the update id). Returns
    the former Telegram id."""
    telegram_id = person.telegram_user_id
    await uow.appointments.cancel_reminders_to(person.id)
    await uow.outbox.hold_for(person.id, "recipient removed", drop_text=True)
    # Rows stay (reports count them) but no longer name the account or hold its texts;
    # before consent the bot wrote to the chat without knowing the person yet.
    await uow.outbox.forget_chat(person.id, telegram_id)
    await uow.sent_messages.forget_chat(person.id, telegram_id)
    if telegram_id is not None:
        await uow.conversations.delete(telegram_id)
        await uow.invites.forget_account(telegram_id)
    person.telegram_user_id = None
    person.updated_at = now
    return telegram_id


async def erase_person(uow: UnitOfWork, person: Person, now: datetime) -> int | None:
    """Unbind and blank the personal fields; the row stays so the case's history holds."""
    telegram_id = await unbind(uow, person, now)
    person.name = None
    person.phone = None
    person.email = None
    person.status = PersonStatus.ERASED
    person.reachable, person.unreachable_since = False, None
    return telegram_id


async def erase_patient(uow: UnitOfWork, case: Case, by: Person, now: datetime) -> Erased:
    """/erase_patient C-n: every patient record of the case loses binding and personal
    fields; audited with references only."""
    result = Erased(case)
    for patient in await patients_of_case(uow, case.id):
        result.reminders_cancelled += await uow.appointments.pending_reminders_to(patient.id)
        result.messages_held += await uow.outbox.pending_count_to(patient.id)
        telegram_id = await erase_person(uow, patient, now)
        if telegram_id is not None:
            result.telegram_ids.append(telegram_id)
        result.people.append(patient.ref)
    await uow.audit.record(
        now,
        by.ref,
        "patient.erased",
        case.ref,
        people=result.people,
        reminders_cancelled=result.reminders_cancelled,
    )
    return result

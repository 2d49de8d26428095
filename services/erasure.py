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

from sqlalchemy import delete, func, or_, select, update

from storage.models import (
    Case,
    Invite,
    InviteFailure,
    OutboxMessage,
    Person,
    PersonStatus,
    Reminder,
    Role,
    SentMessage,
)
from storage.uow import UnitOfWork

NO_CHAT = 0  # Telegram has no chat 0: a message row that no longer names an account


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
    return (
        await uow.session.scalars(
            select(Person)
            .where(
                Person.role == Role.PATIENT,
                Person.case_id == case_id,
                Person.status != PersonStatus.ERASED,
            )
            .order_by(Person.id)
        )
    ).all()


async def unbind(uow: UnitOfWork, person: Person, now: datetime) -> int | None:
    """Forget a person's Telegram account: cancel what was due to them, drop their
    conversation, queued messages and invite traces, and every stored trace of the chat
    (copies of messages sent to them, the chat number on message rows). What they sent
    is not kept past its handling (`inbound_updates` keeps only the update id). Returns
    the former Telegram id."""
    telegram_id = person.telegram_user_id
    await uow.session.execute(
        update(Reminder)
        .where(Reminder.recipient_id == person.id, Reminder.status == "pending")
        .values(status="cancelled")
    )
    await uow.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.recipient_id == person.id,
            OutboxMessage.status == "pending",
        )
        .values(status="undeliverable", last_error="recipient removed", payload_enc=None)
    )
    await _forget_chat(uow, person, telegram_id)
    if telegram_id is not None:
        await uow.conversations.delete(telegram_id)
        await uow.session.execute(
            update(Invite)
            .where(Invite.used_by_telegram_id == telegram_id)
            .values(used_by_telegram_id=None)
        )
        await uow.session.execute(
            delete(InviteFailure).where(InviteFailure.telegram_user_id == telegram_id)
        )
    person.telegram_user_id = None
    person.updated_at = now
    return telegram_id


async def _forget_chat(uow: UnitOfWork, person: Person, telegram_id: int | None) -> None:
    """Rows stay (reports count them) but no longer name the account or hold its texts."""
    to_them = OutboxMessage.recipient_id == person.id
    if telegram_id is not None:
        # Before consent the bot wrote to the chat without knowing the person yet.
        to_them = or_(to_them, OutboxMessage.chat_id == telegram_id)
    await uow.session.execute(
        update(OutboxMessage).where(to_them).values(chat_id=NO_CHAT, payload_enc=None)
    )
    mapped = SentMessage.recipient_id == person.id
    if telegram_id is not None:
        mapped = or_(mapped, SentMessage.chat_id == telegram_id)
    await uow.session.execute(delete(SentMessage).where(mapped))


async def erase_person(uow: UnitOfWork, person: Person, now: datetime) -> int | None:
    """Unbind and blank the personal fields; the row stays so the case's history holds."""
    telegram_id = await unbind(uow, person, now)
    person.name = None
    person.phone = None
    person.email = None
    person.status = PersonStatus.ERASED
    person.reachable, person.unreachable_since = False, None
    return telegram_id


async def _pending_reminders(uow: UnitOfWork, person_id: int) -> int:
    return int(
        await uow.session.scalar(
            select(func.count())
            .select_from(Reminder)
            .where(Reminder.recipient_id == person_id, Reminder.status == "pending")
        )
        or 0
    )


async def erase_patient(uow: UnitOfWork, case: Case, by: Person, now: datetime) -> Erased:
    """/erase_patient C-n: every patient record of the case loses binding and personal
    fields; audited with references only."""
    result = Erased(case)
    for patient in await patients_of_case(uow, case.id):
        result.reminders_cancelled += await _pending_reminders(uow, patient.id)
        result.messages_held += await _pending_messages(uow, patient.id)
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


async def _pending_messages(uow: UnitOfWork, person_id: int) -> int:
    return int(
        await uow.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.recipient_id == person_id, OutboxMessage.status == "pending")
        )
        or 0
    )

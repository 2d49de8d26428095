"""The clinic's rules for messages that cannot be delivered, handed to the outbox dispatcher
(`delivery.outbox.Dispatcher`) as its `on_failed` and `on_unreachable` callbacks.

The dispatcher knows how to send and when to give up; who must hear about it, and what
they are told, is the service's business: admins about a message that failed, and the
people who depend on a recipient (`services.reachability`) about one who cannot be
reached. Both run in the dispatcher's transaction, so the warnings are queued with the
change of status that caused them.
"""

from __future__ import annotations

from datetime import datetime

from core.role_names import ROLE_NAMES
from delivery.outbox import INLINE_ATTEMPTS
from delivery.sender import Outgoing, enqueue, to_person
from delivery.text import render
from services.reachability import admins, dependants_of
from storage.models import OutboxMessage, Person, Role
from storage.uow import UnitOfWork

UNREACHABLE = (
    "⚠️ <b>{role} cannot be reached on Telegram</b>\n"
    "{name} ({ref}) has blocked the bot or closed their account, so messages to them are "
    "held. Please contact them another way. They become reachable again when they next "
    "write to the bot."
)
DELIVERY_FAILED = (
    "⚠️ <b>A message could not be delivered</b>\n"
    "To: {name} ({ref}){about}\n"
    "Telegram kept failing for {minutes} minutes ({attempts} attempts). Please make sure "
    "they get the information another way."
)


async def tell_admins_it_failed(uow: UnitOfWork, message: OutboxMessage, now: datetime) -> None:
    """`message` was given up on: every admin (but its recipient) is asked to step in."""
    recipient = await uow.people.get(message.recipient_id) if message.recipient_id else None
    about = f", case C-{message.case_id}" if message.case_id else ""
    minutes = int((now - message.created_at).total_seconds() // 60)
    # A case reference or a patient's name identifies a patient: never forwardable.
    identifies = message.case_id is not None or (
        recipient is not None and recipient.role == Role.PATIENT
    )
    text = render(
        DELIVERY_FAILED,
        name=recipient.name if recipient else f"chat {message.chat_id}",
        ref=recipient.ref if recipient else "unregistered",
        about=about,
        minutes=minutes,
        attempts=message.attempts + INLINE_ATTEMPTS,
    )
    for admin in await admins(uow):
        if recipient is None or admin.id != recipient.id:
            _queue(uow, to_person(admin, text, protect=identifies), now)


async def tell_dependants_unreachable(uow: UnitOfWork, person: Person, now: datetime) -> None:
    """`person` just became unreachable: whoever depends on them is told to call instead."""
    text = render(
        UNREACHABLE,
        role=ROLE_NAMES.get(person.role, person.role).capitalize(),
        name=person.name,
        ref=person.ref,
    )
    for dependant in await dependants_of(uow, person):
        _queue(uow, to_person(dependant, text, protect=person.role == Role.PATIENT), now)


def _queue(uow: UnitOfWork, message: Outgoing | None, now: datetime) -> None:
    if message is not None:  # None: no Telegram account to tell
        enqueue(uow, message, now)

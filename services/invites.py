"""One-time invitation links that bind a Telegram account to a person of the directory."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.models import Invite, Person, PersonStatus, Role
from storage.uow import UnitOfWork

INVITE_LIFETIME = timedelta(days=14)
FAILURE_WINDOW = timedelta(hours=1)
MAX_FAILURES = 20
INVITABLE = {"admin": Role.ADMIN, "clinician": Role.CLINICIAN, "link": Role.LINK_CLINICIAN}


class InviteError(Exception):
    """The invite cannot be made (unknown person, wrong role)."""


def hash_token(token: str) -> bytes:
    """Only the hash is stored: a database reader cannot use a pending invite."""
    return hashlib.sha256(token.encode()).digest()


def invite_link(bot_username: str, token: str) -> str:
    """The link a person opens in Telegram."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={token}"


async def create_staff_invite(
    uow: UnitOfWork, role_word: str, directory_id: str, now: datetime, actor: str = "cli"
) -> str:
    """Make a single-use token for a directory person; returns the token."""
    role = INVITABLE.get(role_word)
    if role is None:
        raise InviteError(f"role must be one of {', '.join(INVITABLE)}")
    person = await uow.people.by_directory_id(directory_id)
    if person is None:
        raise InviteError(f"no person with id {directory_id!r} in the directory")
    if person.role != role:
        raise InviteError(
            f"{directory_id!r} is in the directory as {person.role}, not {role.value}"
        )
    token = secrets.token_urlsafe(24)  # 192 random bits, valid in a /start payload
    uow.invites.add(
        Invite(
            token_hash=hash_token(token),
            role=role,
            person_id=person.id,
            created_by=actor,
            created_at=now,
            expires_at=now + INVITE_LIFETIME,
        )
    )
    await uow.audit.record(now, actor, "invite.created", person.ref, role=role.value)
    return token


@dataclass(frozen=True)
class Redeemed:
    """The account is now bound to `person` (who may have had another account before)."""

    person: Person
    previous_telegram_id: int | None = None


@dataclass(frozen=True)
class Refused:
    """The token was not accepted; `reason` is a key of the refusal texts."""

    reason: str


async def redeem_invite(
    uow: UnitOfWork, token: str, telegram_user_id: int, now: datetime
) -> Redeemed | Refused:
    """Bind the Telegram account to the invited person, once."""
    if await uow.invites.failures_since(telegram_user_id, now - FAILURE_WINDOW) >= MAX_FAILURES:
        # Refused before any token lookup: guessing costs the guesser, not the database.
        return Refused("rate_limited")
    invite = await uow.invites.by_hash(hash_token(token))
    reason = None
    if invite is None:
        reason = "unknown"
    elif invite.used_at is not None:
        reason = "used"
    elif invite.expires_at <= now:
        reason = "expired"
    elif invite.person_id is None:
        reason = "unknown"  # a patient invitation, handled (unused) by its own feature
    if reason is not None or invite is None:
        uow.invites.add_failure(telegram_user_id, now)
        await uow.audit.record(now, f"tg:{telegram_user_id}", "invite.refused", "", reason=reason)
        return Refused(reason or "unknown")
    person = await uow.people.get(invite.person_id)  # type: ignore[arg-type]
    assert person is not None
    existing = await uow.people.by_telegram_id(telegram_user_id)
    if existing is not None and existing.id != person.id:
        await uow.audit.record(
            now, f"tg:{telegram_user_id}", "invite.refused", person.ref, reason="already_bound"
        )
        return Refused("already_bound")
    previous = person.telegram_user_id
    person.telegram_user_id = telegram_user_id
    person.status = PersonStatus.ACTIVE
    person.reachable = True
    person.updated_at = now
    invite.used_at = now
    invite.used_by_telegram_id = telegram_user_id
    await uow.audit.record(
        now,
        f"tg:{telegram_user_id}",
        "invite.redeemed",
        person.ref,
        role=person.role,
        rebound=previous is not None and previous != telegram_user_id,
    )
    return Redeemed(person, previous)

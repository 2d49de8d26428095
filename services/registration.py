"""Referrer registration: validating each answer, submitting, approval, contact changes."""

# Valid / Invalid / Checked are re-exported for the handlers.

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from services.answers import Checked, Invalid, Valid
from storage.models import Person, PersonStatus, ReferrerDetails, Role
from storage.uow import UnitOfWork

MAX_NAME = 120
DEFAULT_REGION = "GB"
NONE_WORDS = {"none", "no", "n/a", "na", "-"}

# The contact card's fields, in the SPEC's order; `centre` covers centre and "Other".
FIELDS = ("full_name", "job_title", "centre", "phone", "mobile", "secretary", "email", "fax")
OPTIONAL = {"secretary", "fax"}


def check_text(text: str, what: str, limit: int = MAX_NAME) -> Checked:
    """A name, title or centre: any script, kept as typed, within `limit` characters."""
    value = text.strip()
    if not value:
        return Invalid(f"Please type the {what}.")
    if len(value) > limit:
        return Invalid(f"That is {len(value)} characters; the {what} can be at most {limit}.")
    if value.startswith("/"):
        return Invalid(f"That looks like a command. Please type the {what}.")
    return Valid(value)


def check_phone(text: str, *, mobile: bool = False, optional: bool = False) -> Checked:
    """A valid phone number (GB by default, international accepted), stored as E.164."""
    raw = text.strip()
    if raw.casefold() in NONE_WORDS:
        if optional:
            return Valid(None)
        return Invalid("This number is required; `none` is accepted only for secretary and fax.")
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except NumberParseException:
        return Invalid("That is not a phone number. Please type it with its area code.")
    if not phonenumbers.is_valid_number(number):
        return Invalid(
            "That is not a valid phone number. Check the digits and the area code "
            "(for a number outside the UK, start with + and the country code)."
        )
    kind = phonenumbers.number_type(number)
    if mobile and kind not in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return Invalid("That is not a mobile number. Please give a mobile (in the UK, 07...).")
    return Valid(phonenumbers.format_number(number, PhoneNumberFormat.E164))


def check_email(text: str) -> Checked:
    """Valid syntax (no DNS lookup), normalised."""
    raw = text.strip()
    if raw.casefold() in NONE_WORDS:
        return Invalid("An email address is required.")
    try:
        return Valid(validate_email(raw, check_deliverability=False).normalized)
    except EmailNotValidError:
        return Invalid("That is not a valid email address (for example name@nhs.net).")


def show_phone(e164: str | None) -> str:
    """A stored number as people write it: national for UK numbers."""
    if not e164:
        return "none"
    number = phonenumbers.parse(e164, None)
    style = (
        PhoneNumberFormat.NATIONAL
        if number.country_code == 44
        else (PhoneNumberFormat.INTERNATIONAL)
    )
    return phonenumbers.format_number(number, style)


@dataclass(frozen=True)
class ContactCard:
    """A referrer's details, decrypted for display to those allowed to see them."""

    person_id: int
    status: str
    full_name: str
    job_title: str
    centre: str
    phone: str
    mobile: str
    secretary: str | None
    email: str
    fax: str | None

    @property
    def missing(self) -> list[str]:
        """Optional details the service still asks for."""
        return [f for f in ("secretary", "fax") if getattr(self, f) is None]


async def centre_name(uow: UnitOfWork, centre_id: str | None, other: str | None) -> str:
    if centre_id:
        centre = await uow.centres.get(centre_id)
        if centre is not None:
            return centre.name
    return other or ""


async def card_from_answers(uow: UnitOfWork, answers: Mapping[str, str | None]) -> ContactCard:
    """The card an unfinished registration would create (for its summary)."""
    return ContactCard(
        person_id=0,
        status="draft",
        full_name=answers.get("full_name") or "",
        job_title=answers.get("job_title") or "",
        centre=await centre_name(uow, answers.get("centre_id"), answers.get("centre_other")),
        phone=answers.get("phone") or "",
        mobile=answers.get("mobile") or "",
        secretary=answers.get("secretary"),
        email=answers.get("email") or "",
        fax=answers.get("fax"),
    )


async def load_card(uow: UnitOfWork, person: Person) -> ContactCard | None:
    """A referrer's stored card."""
    details = await uow.people.referrer_details(person.id)
    if details is None:
        return None
    return ContactCard(
        person_id=person.id,
        status=person.status,
        full_name=person.name or "",
        job_title=details.job_title or "",
        centre=await centre_name(uow, person.centre_id, details.centre_other),
        phone=person.phone or "",
        mobile=details.mobile or "",
        secretary=details.secretary_phone,
        email=person.email or "",
        fax=details.fax,
    )


@dataclass(frozen=True)
class Submitted:
    person: Person
    admins: Sequence[Person]


@dataclass(frozen=True)
class AlreadyKnown:
    person: Person


async def submit_registration(
    uow: UnitOfWork, telegram_user_id: int, answers: Mapping[str, str | None], now: datetime
) -> Submitted | AlreadyKnown:
    """Create a pending referrer from confirmed answers."""
    existing = await uow.people.by_telegram_id(telegram_user_id)
    if existing is not None:
        return AlreadyKnown(existing)
    person = Person(
        role=Role.REFERRER,
        status=PersonStatus.PENDING,
        telegram_user_id=telegram_user_id,
        name=answers["full_name"],
        phone=answers["phone"],
        email=answers["email"],
        centre_id=answers.get("centre_id"),
        created_at=now,
    )
    uow.people.add(person)
    await uow.flush()
    uow.people.add_details(
        ReferrerDetails(
            person_id=person.id,
            job_title=answers["job_title"],
            centre_other=answers.get("centre_other"),
            mobile=answers["mobile"],
            secretary_phone=answers.get("secretary"),
            fax=answers.get("fax"),
        )
    )
    await uow.audit.record(
        now,
        person.ref,
        "registration.submitted",
        person.ref,
        centre=answers.get("centre_id") or "other",
        missing=[f for f in ("secretary", "fax") if not answers.get(f)],
    )
    return Submitted(person, await active_admins(uow))


async def active_admins(uow: UnitOfWork) -> Sequence[Person]:
    return [a for a in await uow.people.by_role(Role.ADMIN) if a.telegram_user_id]


@dataclass(frozen=True)
class Decided:
    """The decision was made now by this admin."""

    referrer: Person
    approved: bool


@dataclass(frozen=True)
class AlreadyDecided:
    """Someone decided before: who, and what."""

    referrer: Person
    decided_by: Person | None
    outcome: str


async def decide_registration(
    uow: UnitOfWork,
    admin: Person,
    referrer_id: int,
    approve: bool,
    now: datetime,
    reason: str | None = None,
) -> Decided | AlreadyDecided | None:
    """Approve or reject a pending referrer, exactly once."""
    referrer = await uow.people.get(referrer_id, for_update=True)
    if referrer is None or referrer.role != Role.REFERRER:
        return None
    details = await uow.people.referrer_details(referrer.id)
    if referrer.status != PersonStatus.PENDING:
        by = (
            await uow.people.get(details.decided_by_id)
            if details and details.decided_by_id
            else None
        )
        return AlreadyDecided(referrer, by, referrer.status)
    referrer.status = PersonStatus.ACTIVE if approve else PersonStatus.REJECTED
    referrer.updated_at = now
    if details is not None:
        details.decided_by_id, details.decided_at = admin.id, now
        if not approve:
            details.rejection_reason = reason
    await uow.audit.record(
        now,
        admin.ref,
        "registration.approved" if approve else "registration.rejected",
        referrer.ref,
    )
    return Decided(referrer, approve)


async def set_suspended(
    uow: UnitOfWork, admin: Person, referrer: Person, suspended: bool, now: datetime
) -> bool:
    """Suspend or reinstate an approved referrer; False if there was nothing to change."""
    wanted = PersonStatus.SUSPENDED if suspended else PersonStatus.ACTIVE
    if referrer.status not in (PersonStatus.ACTIVE, PersonStatus.SUSPENDED):
        return False
    if referrer.status == wanted:
        return False
    referrer.status, referrer.updated_at = wanted, now
    await uow.audit.record(
        now, admin.ref, "referrer.suspended" if suspended else "referrer.reinstated", referrer.ref
    )
    return True


# A card field -> what changes: (on the person or their details, attribute, answer key,
# whether the answer must be there).
_CONTACT_FIELDS: Mapping[str, tuple[tuple[str, str, str, bool], ...]] = {
    "full_name": (("person", "name", "full_name", True),),
    "job_title": (("details", "job_title", "job_title", True),),
    "centre": (
        ("person", "centre_id", "centre_id", False),
        ("details", "centre_other", "centre_other", False),
    ),
    "phone": (("person", "phone", "phone", True),),
    "mobile": (("details", "mobile", "mobile", True),),
    "secretary": (("details", "secretary_phone", "secretary", False),),
    "email": (("person", "email", "email", True),),
    "fax": (("details", "fax", "fax", False),),
}


async def change_contact(
    uow: UnitOfWork, person: Person, field: str, answers: Mapping[str, str | None], now: datetime
) -> None:
    """Change one field of one's own card (already validated); audited by field name."""
    details = await uow.people.referrer_details(person.id)
    assert details is not None
    changes = _CONTACT_FIELDS.get(field)
    if changes is None:
        raise ValueError(f"unknown field {field}")
    for holder, attribute, key, required in changes:
        value = answers[key] if required else answers.get(key)
        setattr(person if holder == "person" else details, attribute, value)
    person.updated_at = now
    await uow.audit.record(now, person.ref, "contact.changed", person.ref, field=field)

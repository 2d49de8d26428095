"""The clinic's records. Personal and free-text fields are `Encrypted` attributes.

Columns ending `_enc` hold AES-GCM ciphertext; columns ending `_index` hold blind
indexes. Nothing personal is stored in clear.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.crypto import normalise_digits, normalise_email, normalise_phone
from storage.types import Encrypted, EncryptedBytes, UTCDateTime, new_uid

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLINICIAN = "clinician"
    LINK_CLINICIAN = "link_clinician"
    REFERRER = "referrer"
    PATIENT = "patient"


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    ERASED = "erased"  # personal fields and Telegram binding removed (/erase_patient)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    def __init__(self, **kwargs: Any) -> None:
        # The uid must exist before encrypted attributes are set: it is bound into their AAD.
        if "uid" in self.__mapper__.columns:
            self.uid = kwargs.pop("uid", None) or new_uid()
        for key, value in kwargs.items():
            if not hasattr(type(self), key):
                raise TypeError(f"{type(self).__name__} has no attribute {key!r}")
            setattr(self, key, value)


def _uid() -> Mapped[str]:
    return mapped_column(String(32), unique=True, nullable=False, default=new_uid)


def _enc(nullable: bool = True) -> Mapped[Any]:
    return mapped_column(LargeBinary, nullable=nullable)


def _index() -> Mapped[Any]:
    return mapped_column(LargeBinary(16), nullable=True, index=True)


class Centre(Base):
    """A referring centre from the directory."""

    __tablename__ = "centres"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Person(Base):
    """Anyone with a role: admin, clinician, link clinician, referrer or patient."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    directory_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20), index=True)
    status: Mapped[str] = mapped_column(String(20), default=PersonStatus.ACTIVE)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    centre_id: Mapped[str | None] = mapped_column(ForeignKey("centres.id"))
    specialties: Mapped[str] = mapped_column(String(100), default="")
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    name_enc: Mapped[bytes | None] = _enc()
    phone_enc: Mapped[bytes | None] = _enc()
    phone_index: Mapped[bytes | None] = _index()
    email_enc: Mapped[bytes | None] = _enc()
    email_index: Mapped[bytes | None] = _index()
    away_until: Mapped[date | None] = mapped_column(Date)
    # A patient's case. No foreign key: people and cases reference each other, and a
    # cycle of constraints would make both tables depend on the other's creation.
    case_id: Mapped[int | None] = mapped_column(Integer)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    name = Encrypted()
    phone = Encrypted(index="phone", normalise=normalise_phone)
    email = Encrypted(index="email", normalise=normalise_email)

    @property
    def specialty_set(self) -> set[str]:
        return {s for s in self.specialties.split(",") if s}

    @property
    def ref(self) -> str:
        """How logs and audit entries name a person: no personal data."""
        return f"person:{self.id}"


class ReferrerDetails(Base):
    """A referrer's full contact card beyond name, phone and email."""

    __tablename__ = "referrer_details"
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    uid: Mapped[str] = _uid()
    job_title_enc: Mapped[bytes | None] = _enc()
    centre_other_enc: Mapped[bytes | None] = _enc()
    mobile_enc: Mapped[bytes | None] = _enc()
    mobile_index: Mapped[bytes | None] = _index()
    secretary_phone_enc: Mapped[bytes | None] = _enc()
    fax_enc: Mapped[bytes | None] = _enc()
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason_enc: Mapped[bytes | None] = _enc()

    job_title = Encrypted()
    centre_other = Encrypted()
    mobile = Encrypted(index="phone", normalise=normalise_phone)
    secretary_phone = Encrypted()
    fax = Encrypted()
    rejection_reason = Encrypted()


class Clinic(Base):
    """A recurring clinic from the directory (e.g. Monday one-stop)."""

    __tablename__ = "clinics"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    weekday: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(5))
    location: Mapped[str] = mapped_column(String(200))
    # MDT meetings only: cases are listed until this weekday and time before the meeting
    # (e.g. Thursday 17:00 for Monday), when the agenda goes out.
    cutoff_weekday: Mapped[int | None] = mapped_column(Integer)
    cutoff_time: Mapped[str | None] = mapped_column(String(5))


class Case(Base):
    """A referred patient; reference `C-<id>`."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    referrer_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    centre_id: Mapped[str | None] = mapped_column(ForeignKey("centres.id"), index=True)
    nhs_number_enc: Mapped[bytes | None] = _enc()
    nhs_number_index: Mapped[bytes | None] = _index()
    date_of_birth_enc: Mapped[bytes | None] = _enc()
    site_enc: Mapped[bytes | None] = _enc()
    summary_enc: Mapped[bytes | None] = _enc()
    tumour_type: Mapped[str] = mapped_column(String(20))
    urgency: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    named_clinician_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    deputy_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Set by the retention purge once the case's free text and identifiers are gone.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    nhs_number = Encrypted(index="nhs", normalise=normalise_digits)
    date_of_birth = Encrypted()
    site = Encrypted()
    summary = Encrypted()

    @property
    def ref(self) -> str:
        return f"C-{self.id}"


class Query(Base):
    """A question on a case; reference `Q-<id>`. Its text is the first ThreadMessage."""

    __tablename__ = "queries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def ref(self) -> str:
        return f"Q-{self.id}"


class ThreadMessage(Base):
    """One message in a case's thread (query text, reply, note)."""

    __tablename__ = "thread_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    query_id: Mapped[int | None] = mapped_column(ForeignKey("queries.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    body_enc: Mapped[bytes | None] = _enc()
    # Indexed (migration 0002) so a report counts a period's messages without a full scan.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    body = Encrypted()


ATTACHMENT_KINDS = ("pdf", "jpeg", "png")


class Attachment(Base):
    """A file on a case (an imaging report, a photo, a letter): the cleaned bytes,
    encrypted, and what is known about them; reference `attachment:<id>` in logs.

    The same file (by SHA-256 of the cleaned bytes) is stored once per case. The purge
    clears the content, caption and Telegram file id and keeps the rest of the row.
    """

    __tablename__ = "attachments"
    __table_args__ = (
        UniqueConstraint("case_id", "sha256"),
        CheckConstraint("kind IN ('pdf', 'jpeg', 'png')", name="kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    query_id: Mapped[int | None] = mapped_column(ForeignKey("queries.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    pages: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    caption_enc: Mapped[bytes | None] = _enc()
    # Up to ATTACHMENT_MAX_BYTES: never loaded with the row (reading it by accident
    # raises); `AttachmentRepository.content` reads and decrypts it on purpose.
    content_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True, deferred=True, deferred_raiseload=True
    )
    telegram_file_id: Mapped[str | None] = mapped_column(String(255))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    caption = Encrypted()
    content = EncryptedBytes()

    @property
    def ref(self) -> str:
        """How logs and audit entries name a file: its id only."""
        return f"attachment:{self.id}"


class SentMessage(Base):
    """Which case/query each message the bot sent belongs to, so replies can be routed."""

    __tablename__ = "sent_messages"
    __table_args__ = (UniqueConstraint("chat_id", "telegram_message_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_message_id: Mapped[int] = mapped_column(BigInteger)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    query_id: Mapped[int | None] = mapped_column(ForeignKey("queries.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Appointment(Base):
    """A patient's appointment; reminders hang off it."""

    __tablename__ = "appointments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    location_enc: Mapped[bytes | None] = _enc()
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    location = Encrypted()


class Reminder(Base):
    """A message due at a time: an appointment reminder or a clinician's follow-up."""

    __tablename__ = "reminders"
    __table_args__ = (
        Index("ix_reminders_status_due", "status", "due_at"),
        # Migration 0002: the report counts a period's patient reminders by kind and due time.
        Index("ix_reminders_kind_due", "kind", "due_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    kind: Mapped[str] = mapped_column(String(20))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    response: Mapped[str | None] = mapped_column(String(20))
    note_enc: Mapped[bytes | None] = _enc()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    note = Encrypted()


class Invite(Base):
    """A one-time start link; only the token's hash is kept."""

    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_telegram_id: Mapped[int | None] = mapped_column(BigInteger)


class InviteFailure(Base):
    """A refused start token, counted to stop guessing."""

    __tablename__ = "invite_failures"
    __table_args__ = (Index("ix_invite_failures_user_at", "telegram_user_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """A message committed with the change that caused it, sent by the dispatcher."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_chat_id_id", "chat_id", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    payload_enc: Mapped[bytes | None] = _enc()
    protect_content: Mapped[bool] = mapped_column(Boolean, default=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    query_id: Mapped[int | None] = mapped_column(ForeignKey("queries.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The owner id of the process sending it (PostgreSQL): while that process lives it
    # holds an advisory lock keyed by the id; once the lock is gone the claim is free.
    claimed_by: Mapped[int | None] = mapped_column(Integer)
    # Set on a notice that later news of the same kind may rewrite while it is unsent
    # (one notice for an album of files): see delivery.sender.enqueue_tally.
    collapse_key: Mapped[str | None] = mapped_column(String(100))

    payload = Encrypted()


class AuditEntry(Base):
    """Append-only, HMAC-chained record of who did what to which reference."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_mac: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))


class ConversationState(Base):
    """Where a user stands in a conversation, written on every step."""

    __tablename__ = "conversations"
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[str] = _uid()
    name: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(40))
    data_enc: Mapped[bytes | None] = _enc()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    data = Encrypted()


class InboundUpdate(Base):
    """A Telegram update stored before it is acknowledged, handled from here."""

    __tablename__ = "inbound_updates"
    __table_args__ = (Index("ix_inbound_updates_status_id", "status", "update_id"),)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    uid: Mapped[str] = _uid()
    payload_enc: Mapped[bytes | None] = _enc()
    status: Mapped[str] = mapped_column(String(20), default="pending")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    payload = Encrypted()


class MdtMeeting(Base):
    """One date of an MDT meeting (a `clinics` entry of kind `mdt`): made when a case is
    first listed for it or the date is cancelled; remembers what was done for it."""

    __tablename__ = "mdt_meetings"
    __table_args__ = (UniqueConstraint("clinic_id", "meeting_date"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinics.id"))
    meeting_date: Mapped[date] = mapped_column(Date, index=True)  # service time zone
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cutoff_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agenda_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set once the day is over and what had no outcome has rolled to the next meeting.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MdtListing(Base):
    """A case listed for an MDT meeting, with the question for the meeting and, after
    it, the outcome. Status: listed, removed, decided, rolled (to `rolled_to_id`)."""

    __tablename__ = "mdt_listings"
    __table_args__ = (
        UniqueConstraint("case_id", "meeting_id"),
        CheckConstraint("status IN ('listed', 'removed', 'decided', 'rolled')", name="status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = _uid()
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("mdt_meetings.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="listed")
    question_enc: Mapped[bytes | None] = _enc()
    listed_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    presenting_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_reason_enc: Mapped[bytes | None] = _enc()
    outcome: Mapped[str | None] = mapped_column(String(40))  # a key of services.mdt.OUTCOMES
    outcome_text_enc: Mapped[bytes | None] = _enc()
    outcome_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rolled_from_id: Mapped[int | None] = mapped_column(ForeignKey("mdt_listings.id"))
    # A listing that rolled over: its presenting clinician is reminded at this time.
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    question = Encrypted()
    removed_reason = Encrypted()
    outcome_text = Encrypted()

    @property
    def ref(self) -> str:
        return f"mdt-listing:{self.id}"


class CacheGeneration(Base):
    """A counter that triggers raise whenever a cached table changes (see PersonCache).

    Triggers, not application code, so a change made by any process or by hand is seen.
    """

    __tablename__ = "cache_generations"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


ENCRYPTED_MODELS: tuple[type[Base], ...] = (
    Person,
    ReferrerDetails,
    Case,
    ThreadMessage,
    Attachment,
    Appointment,
    Reminder,
    OutboxMessage,
    ConversationState,
    InboundUpdate,
    MdtListing,
)

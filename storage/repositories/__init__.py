"""Repositories: the only place that builds SQL for writes and lookups (read-side report
SQL lives in `storage/reports.py`). One module per aggregate; services see plain methods."""

from storage.repositories.appointments import AppointmentRepository
from storage.repositories.attachments import (
    AttachmentRepository,
    DuplicateAttachment,
    sha256_hex,
)
from storage.repositories.cases import CaseRepository
from storage.repositories.conversations import ConversationRepository
from storage.repositories.inbound import InboundRepository
from storage.repositories.mdt import MdtRepository
from storage.repositories.outbox import (
    OWNER_LOCK_CLASS,
    ClaimedMessage,
    OutboxRepository,
    SentMessageRepository,
    SentPart,
)
from storage.repositories.people import (
    CentreRepository,
    ClinicRepository,
    InviteRepository,
    PeopleRepository,
    PersonCache,
)
from storage.repositories.queries import QueryRepository
from storage.repositories.status import StatusRepository

__all__ = [
    "OWNER_LOCK_CLASS",
    "AppointmentRepository",
    "AttachmentRepository",
    "CaseRepository",
    "CentreRepository",
    "ClaimedMessage",
    "ClinicRepository",
    "ConversationRepository",
    "DuplicateAttachment",
    "InboundRepository",
    "InviteRepository",
    "MdtRepository",
    "OutboxRepository",
    "PeopleRepository",
    "PersonCache",
    "QueryRepository",
    "SentMessageRepository",
    "SentPart",
    "StatusRepository",
    "sha256_hex",
]

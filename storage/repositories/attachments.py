"""Attachments: files on a case, their encrypted bytes and what is known about them.

Listing never loads a file's bytes (the column is deferred); `content` reads and
decrypts one file on purpose. Nothing here logs anything about a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storage.models import ATTACHMENT_KINDS, Attachment
from storage.repositories._base import _Repository, rowcount


class DuplicateAttachment(Exception):
    """The same file (by SHA-256 of the cleaned bytes) is already stored on the case."""

    def __init__(self, existing: Attachment) -> None:
        super().__init__(f"already stored on the case as {existing.ref}")
        self.existing = existing


def sha256_hex(content: bytes) -> str:
    """The hash a file is stored and found by (of the cleaned bytes)."""
    return hashlib.sha256(content).hexdigest()


class AttachmentRepository(_Repository):
    """Attachments: files on a case, their encrypted bytes and what is known about them."""

    async def add(
        self,
        *,
        case_id: int,
        uploaded_by_id: int,
        kind: str,
        content: bytes,
        now: datetime,
        query_id: int | None = None,
        caption: str | None = None,
        pages: int | None = None,
        width: int | None = None,
        height: int | None = None,
        telegram_file_id: str | None = None,
    ) -> Attachment:
        """Store a cleaned file on a case; its size and hash are taken from `content`.

        Raises `DuplicateAttachment` (nothing stored) when the case already has the same
        file, also when another transaction stored it a moment ago.
        """
        if kind not in ATTACHMENT_KINDS:
            raise ValueError(f"attachment kind must be one of {ATTACHMENT_KINDS}")
        digest = sha256_hex(content)
        existing = await self.by_hash(case_id, digest)
        if existing is not None:
            raise DuplicateAttachment(existing)
        attachment = Attachment(
            case_id=case_id,
            query_id=query_id,
            uploaded_by_id=uploaded_by_id,
            created_at=now,
            kind=kind,
            size=len(content),
            sha256=digest,
            pages=pages,
            width=width,
            height=height,
            caption=caption,
            content=content,
            telegram_file_id=telegram_file_id,
        )
        try:
            # A savepoint: losing a race on (case, hash) leaves the transaction usable.
            async with self.session.begin_nested():
                self.session.add(attachment)
        except IntegrityError:
            existing = await self.by_hash(case_id, digest)
            if existing is None:
                raise
            raise DuplicateAttachment(existing) from None
        return attachment

    async def get(self, attachment_id: int) -> Attachment | None:
        """One attachment's metadata (not its bytes)."""
        return await self.session.get(Attachment, attachment_id)

    async def of_case(self, case_id: int) -> Sequence[Attachment]:
        """A case's attachments (metadata only), oldest first."""
        return (
            await self.session.scalars(
                select(Attachment)
                .where(Attachment.case_id == case_id)
                .order_by(Attachment.created_at, Attachment.id)
            )
        ).all()

    async def count_of_case(self, case_id: int) -> int:
        """How many files a case has (purged ones included)."""
        return int(
            await self.session.scalar(
                select(func.count()).select_from(Attachment).where(Attachment.case_id == case_id)
            )
            or 0
        )

    async def counts_of_cases(self, case_ids: Sequence[int]) -> dict[int, int]:
        """How many files each of these cases has, in one query (cases without: absent)."""
        rows = await self.session.execute(
            select(Attachment.case_id, func.count())
            .where(Attachment.case_id.in_(case_ids))
            .group_by(Attachment.case_id)
        )
        return {case_id: int(count) for case_id, count in rows.all()}

    async def by_hash(self, case_id: int, sha256: str) -> Attachment | None:
        """The case's attachment with this SHA-256 (hex), if it has one."""
        return await self.session.scalar(
            select(Attachment).where(
                Attachment.case_id == case_id, Attachment.sha256 == sha256.lower()
            )
        )

    async def content(self, attachment: Attachment) -> bytes | None:
        """The file's bytes, decrypted; None once purged. Raises `DecryptionError` when
        the stored value belongs to another row or was tampered with."""
        blob = await self.session.scalar(
            select(Attachment.content_enc).where(Attachment.id == attachment.id)
        )
        return Attachment.content.open(attachment, blob)

    async def set_file_id(self, attachment_id: int, file_id: str | None) -> bool:
        """Remember the `file_id` Telegram gave the file (for sending it again); not
        after the purge. True when a row changed."""
        return bool(
            rowcount(
                await self.session.execute(
                    update(Attachment)
                    .where(Attachment.id == attachment_id, Attachment.purged_at.is_(None))
                    .values(telegram_file_id=file_id)
                )
            )
        )

    async def purge_of_cases(self, case_ids: Sequence[int], now: datetime) -> int:
        """Clear the bytes, captions and Telegram file ids of these cases' files; the rows
        (type, size, hash, uploader, dates) stay. Returns how many were cleared."""
        return rowcount(
            await self.session.execute(
                update(Attachment)
                .where(Attachment.case_id.in_(case_ids), Attachment.purged_at.is_(None))
                .values(content_enc=None, caption_enc=None, telegram_file_id=None, purged_at=now)
            )
        )

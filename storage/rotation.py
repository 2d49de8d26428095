"""Re-encrypting every encrypted field under the first key of ENCRYPTION_KEYS.

Works in batches, each its own transaction, ordered by primary key. Values already under
the first key are skipped, so an interrupted rotation simply resumes when run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from storage.models import ENCRYPTED_MODELS, Attachment, Base
from storage.types import encrypted_fields
from storage.uow import Database

BATCH = 500
# Files are up to ATTACHMENT_MAX_BYTES each: a few per transaction keeps memory bounded.
BATCH_OF: dict[type[Base], int] = {Attachment: 4}


@dataclass
class RotationResult:
    rows_seen: int = 0
    values_reencrypted: int = 0


async def count_rows(db: Database) -> int:
    """How many rows a rotation will visit (for the progress bar)."""
    total = 0
    async with db.uow() as uow:
        for model in ENCRYPTED_MODELS:
            total += int(await uow._session.scalar(select(func.count()).select_from(model)) or 0)
    return total


async def rotate_keys(
    db: Database, progress: Callable[[int], None] | None = None, batch: int = BATCH
) -> RotationResult:
    """Re-encrypt all values not yet under the first key."""
    result = RotationResult()
    for model in ENCRYPTED_MODELS:
        fields = encrypted_fields(model)
        pk = model.__mapper__.primary_key[0]
        size = min(batch, BATCH_OF.get(model, batch))
        after: object = None
        while True:
            async with db.uow() as uow:
                # Deferred columns (a file's bytes) are encrypted too: load them here.
                query = select(model).options(undefer("*")).order_by(pk).limit(size)
                if after is not None:
                    query = query.where(pk > after)
                rows: list[Base] = list((await uow._session.scalars(query)).all())
                if not rows:
                    break
                for row in rows:
                    for field in fields:
                        if field.reencrypt(row):
                            result.values_reencrypted += 1
                await uow.commit()
            after = getattr(rows[-1], pk.name)
            result.rows_seen += len(rows)
            if progress:
                progress(len(rows))
    return result


async def record_rotation(db: Database, result: RotationResult, now: datetime, actor: str) -> None:
    """Audit a finished rotation (counts only)."""
    async with db.uow() as uow:
        await uow.audit.record(
            now, actor, "keys.rotated", "", rows=result.rows_seen, values=result.values_reencrypted
        )
        await uow.commit()

"""outbox: a key that lets a message not yet sent take in later news of the same kind

An album of files arrives as one update per file; the sender and the link clinicians get
one notice for the album: the notice waits a moment, and each further file of the album
rewrites it (same chat, same key) while it is still unsent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("collapse_key", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("collapse_key")

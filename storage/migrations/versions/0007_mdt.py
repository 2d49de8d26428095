"""MDT meetings: a clinic's listing cut-off, meeting dates, and the cases listed for them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mdt_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.String(length=64), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agenda_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_mdt_meetings_clinic_id_clinics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdt_meetings")),
        sa.UniqueConstraint("clinic_id", "meeting_date", name=op.f("uq_mdt_meetings_clinic_id")),
    )
    with op.batch_alter_table("mdt_meetings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mdt_meetings_cutoff_at"), ["cutoff_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mdt_meetings_meeting_date"), ["meeting_date"], unique=False
        )

    op.create_table(
        "mdt_listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("question_enc", sa.LargeBinary(), nullable=True),
        sa.Column("listed_by_id", sa.Integer(), nullable=False),
        sa.Column("presenting_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("outcome_text_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome_by_id", sa.Integer(), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rolled_from_id", sa.Integer(), nullable=True),
        sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('listed', 'removed', 'decided', 'rolled')",
            name=op.f("ck_mdt_listings_status"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_mdt_listings_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["listed_by_id"], ["people.id"], name=op.f("fk_mdt_listings_listed_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["mdt_meetings.id"],
            name=op.f("fk_mdt_listings_meeting_id_mdt_meetings"),
        ),
        sa.ForeignKeyConstraint(
            ["outcome_by_id"], ["people.id"], name=op.f("fk_mdt_listings_outcome_by_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["presenting_id"], ["people.id"], name=op.f("fk_mdt_listings_presenting_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["rolled_from_id"],
            ["mdt_listings.id"],
            name=op.f("fk_mdt_listings_rolled_from_id_mdt_listings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mdt_listings")),
        sa.UniqueConstraint("case_id", "meeting_id", name=op.f("uq_mdt_listings_case_id")),
        sa.UniqueConstraint("uid", name=op.f("uq_mdt_listings_uid")),
    )
    with op.batch_alter_table("mdt_listings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mdt_listings_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mdt_listings_meeting_id"), ["meeting_id"], unique=False
        )

    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cutoff_weekday", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cutoff_time", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("cutoff_time")
        batch_op.drop_column("cutoff_weekday")

    with op.batch_alter_table("mdt_listings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mdt_listings_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_mdt_listings_case_id"))

    op.drop_table("mdt_listings")
    with op.batch_alter_table("mdt_meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mdt_meetings_meeting_date"))
        batch_op.drop_index(batch_op.f("ix_mdt_meetings_cutoff_at"))

    op.drop_table("mdt_meetings")

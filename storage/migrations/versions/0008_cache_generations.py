"""A generation counter for the people cache, raised by triggers on every change to people

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generations")),
    )
    op.execute("INSERT INTO cache_generations (name, generation) VALUES ('people', 0)")
    bump = "UPDATE cache_generations SET generation = generation + 1 WHERE name = 'people'"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION people_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {bump}; RETURN NULL; END $$"
        )
        # Once per statement: a bulk update of many people raises the counter once.
        op.execute(
            "CREATE TRIGGER people_changed AFTER INSERT OR UPDATE OR DELETE ON people "
            "FOR EACH STATEMENT EXECUTE FUNCTION people_changed()"
        )
        return
    for event in _EVENTS:  # SQLite has row triggers only, one per event
        op.execute(
            f"CREATE TRIGGER people_changed_{event} AFTER {event.upper()} ON people "
            f"BEGIN {bump}; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER people_changed ON people")
        op.execute("DROP FUNCTION people_changed()")
    else:
        for event in _EVENTS:
            op.execute(f"DROP TRIGGER people_changed_{event}")
    op.drop_table("cache_generations")

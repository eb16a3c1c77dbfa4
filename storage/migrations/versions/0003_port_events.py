"""port_events: the append-only timeline of every port's state and the consent behind it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MESSAGE = "port_events is append-only"


def upgrade() -> None:
    op.create_table(
        "port_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("hes_command_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["point_id"], ["metering_points.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("port_events", schema=None) as batch_op:
        batch_op.create_index("ix_port_events_point", ["point_id", "id"], unique=False)
    # Existing points start their timeline from their current state.
    op.execute(
        "INSERT INTO port_events (point_id, at, state, consent_id, cause) "
        "SELECT id, coalesce(port_since, updated_at), han_port, consent_id, 'migration' "
        "FROM metering_points"
    )
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER port_events_no_{verb.lower()} BEFORE {verb} ON port_events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION port_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER port_events_no_change BEFORE UPDATE OR DELETE ON port_events "
            "FOR EACH ROW EXECUTE FUNCTION port_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER port_events_no_truncate BEFORE TRUNCATE ON port_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION port_events_append_only()"
        )


def downgrade() -> None:
    op.drop_table("port_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS port_events_append_only()")

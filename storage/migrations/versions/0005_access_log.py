"""access_log: every read of personal data for a person, append-only; on PostgreSQL the
personal reads as SECURITY DEFINER functions that write its row in the same statement

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.storage.personal import (
    PROCESSING_FUNCTIONS,
    READ_SEQUENCE,
    READS,
    function_sql,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "access_log is append-only"
PROCESSED = ("customers", "points", "mail")  # the processing_* functions
# The personal reads this revision created (a later revision adds its own).
CREATED = ("contact", "history", "notes", "mail", "consent")


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("read_no", sa.BigInteger(), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.Column("login", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("on_behalf_of", sa.String(), nullable=True),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("what", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_read_no"), ["read_no"], unique=True)
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER access_log_no_{verb.lower()} BEFORE {verb} ON access_log "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
        return
    op.execute(f"CREATE SEQUENCE {READ_SEQUENCE}")
    op.execute(
        "CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER access_log_no_change BEFORE UPDATE OR DELETE ON access_log "
        "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()"
    )
    for name in CREATED:
        op.execute(sa.text(function_sql(READS[name])))
    for sql in PROCESSING_FUNCTIONS:
        op.execute(sa.text(sql))
    # Only the roles docs/postgres-roles.sql grants them to may call them.
    for name in [f"personal_{r}" for r in CREATED] + [f"processing_{p}" for p in PROCESSED]:
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in [f"personal_{r}" for r in CREATED] + [f"processing_{p}" for p in PROCESSED]:
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
    op.drop_table("access_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS access_log_append_only()")
        op.execute(f"DROP SEQUENCE IF EXISTS {READ_SEQUENCE}")

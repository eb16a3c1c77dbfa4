"""intakes: the customer's web forms as typed, kept before anything is decided (the form token
is the idempotency key); on PostgreSQL the personal read of an intake's fields

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.storage.personal import READS, function_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "intakes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=32), nullable=False),
        sa.Column("form_token", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("received_at", ts, nullable=False),
        sa.Column("declaration_version", sa.String(length=16), nullable=True),
        sa.Column("declaration_sha256", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("processed_at", ts, nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("resolved_at", ts, nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("erased_at", ts, nullable=True),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("form_token"),
    )
    with op.batch_alter_table("intakes", schema=None) as batch_op:
        batch_op.create_index("ix_intakes_status", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intakes_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_intakes_case_id"), ["case_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(function_sql(READS["intake"])))
        op.execute("REVOKE EXECUTE ON FUNCTION personal_intake FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS personal_intake")
    op.drop_table("intakes")

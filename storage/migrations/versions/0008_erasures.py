"""erasures: the erasure ledger (which subject, when, by whom, why, what — no personal data);
``erased_at`` on mail_outbox and customer_history; on PostgreSQL the erasure functions
(``erase_contact``, ``erase_subject``, ``erase_signer``, SECURITY DEFINER) from
``hanport.storage.erasure``

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.storage.erasure import ERASE, function_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erasure_id", sa.String(length=36), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("erased", sa.Text(), nullable=False),
        sa.Column("reapplied_at", ts, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("erasure_id"),
    )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasures_subject"), ["subject"], unique=False)
    for table in ("mail_outbox", "customer_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("erased_at", ts, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for scope in ERASE:
            op.execute(sa.text(function_sql(scope)))
            # Only the roles docs/postgres-roles.sql grants them to may call them.
            op.execute(f"REVOKE EXECUTE ON FUNCTION erase_{scope} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for scope in ERASE:
            op.execute(f"DROP FUNCTION IF EXISTS erase_{scope}")
    for table in ("mail_outbox", "customer_history"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("erased_at")
    op.drop_table("erasures")

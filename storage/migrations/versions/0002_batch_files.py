"""batch inbox claims; batch documents keep rejected rows with any GSRN

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_files",
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("file_hash"),
    )
    with op.batch_alter_table("batch_documents", schema=None) as batch_op:
        batch_op.alter_column(
            "gsrn", existing_type=sa.String(length=18), type_=sa.String(length=32), nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("batch_documents", schema=None) as batch_op:
        batch_op.alter_column(
            "gsrn", existing_type=sa.String(length=32), type_=sa.String(length=18), nullable=False
        )
    op.drop_table("batch_files")

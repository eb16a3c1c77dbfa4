"""hes_commands.sends: how often a command was sent (a failed close left behind by a cancelled
case is sent again in its place in the point's queue)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hes_commands", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sends", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE hes_commands SET sends = 1 WHERE sent_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("hes_commands", schema=None) as batch_op:
        batch_op.drop_column("sends")

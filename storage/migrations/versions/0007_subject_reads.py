"""The personal reads an access request (``customer export``) needs beyond 0005's: a point's
installation address, and the person's own record of reads (when, in which role, by which
command, why, what — never who) — on PostgreSQL as SECURITY DEFINER functions like 0005's

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.storage.personal import READS, function_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ADDED = ("point", "reads")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # on SQLite the application runs the reads' statements itself
    for name in ADDED:
        op.execute(sa.text(function_sql(READS[name])))
        # Only the roles docs/postgres-roles.sql grants them to may call them.
        op.execute(f"REVOKE EXECUTE ON FUNCTION personal_{name} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ADDED:
            op.execute(f"DROP FUNCTION IF EXISTS personal_{name}")

"""subject_keys: each customer's own hashing key (the values events carry for personal fields
are keyed with it under the pepper, configuration outside the database); every customer gets
one, an erased customer's is destroyed at once; the database-wide salt is destroyed (nothing
computes its hashes any more: old events keep theirs, and the chain hashes stored values);
on PostgreSQL the erasure function destroys the key too

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    table = op.create_table(
        "subject_keys",
        sa.Column("customer_pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("destroyed_at", ts, nullable=True),
        sa.ForeignKeyConstraint(["customer_pk"], ["customers.id"]),
        sa.PrimaryKeyConstraint("customer_pk"),
    )
    bind = op.get_bind()
    now = datetime.now(UTC)
    customers = bind.execute(sa.text("SELECT id, erased_at FROM customers")).all()
    rows = [
        {
            "customer_pk": pk,
            "key": None if erased else secrets.token_hex(32),
            "created_at": now,
            "destroyed_at": erased,
        }
        for pk, erased in customers
    ]
    if rows:
        op.bulk_insert(table, rows)
    op.execute("DELETE FROM meta WHERE key = 'salt'")
    if bind.dialect.name == "postgresql":
        from hanport.storage.erasure import function_sql

        op.execute(sa.text(function_sql("subject")))


def downgrade() -> None:
    op.drop_table("subject_keys")

"""consent_events: the append-only timeline of consents given and ended, filled from the case
events already recorded (so an older database's register answers as before); an index on the
port timeline by consent (when each consent opened the port)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from hanport.storage.consent_timeline import ConsentEventRow, FromEvents

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MESSAGE = "consent_events is append-only"
BATCH = 5_000


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("declaration_version", sa.String(), nullable=True),
        sa.Column("security", sa.String(), nullable=True),
        sa.Column("signer_role", sa.String(), nullable=True),
        sa.Column("received_at", sa.String(), nullable=True),
        sa.Column("address_match", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    _fill(op.get_bind())
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index("ix_consent_events_consent", ["consent_id", "kind", "at"])
        batch_op.create_index("ix_consent_events_kind", ["kind", "at"])
    with op.batch_alter_table("port_events", schema=None) as batch_op:
        batch_op.create_index("ix_port_events_consent", ["consent_id", "state", "at"])
    _append_only()


def _events(conn: sa.Connection) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    """The events that may give or end a consent, in the order they were written."""
    result = conn.execute(
        sa.text(
            "SELECT case_id, occurred_at, data FROM case_events "
            "WHERE data LIKE '%\"consent_%' ORDER BY id"
        ).execution_options(stream_results=True, yield_per=BATCH)
    )
    for case_id, at, data in result:
        yield case_id, at, json.loads(data)


def _fill(conn: sa.Connection) -> None:
    """The rows the recorded events give, written in their order (instants as stored)."""
    insert = sa.text(
        f"INSERT INTO consent_events ({', '.join(ConsentEventRow._fields)}) "
        f"VALUES ({', '.join(':' + f for f in ConsentEventRow._fields)})"
    )
    rows: list[dict[str, Any]] = []
    project = FromEvents()
    for case_id, at, data in _events(conn):
        rows += [r._asdict() for r in project.rows(case_id, at, data)]
        if len(rows) >= BATCH:
            conn.execute(insert, rows)
            rows = []
    if rows:
        conn.execute(insert, rows)


def _append_only() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER consent_events_no_{verb.lower()} BEFORE {verb} ON consent_events "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION consent_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER consent_events_no_change BEFORE UPDATE OR DELETE ON consent_events "
        "FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION consent_events_append_only()"
    )


def downgrade() -> None:
    with op.batch_alter_table("port_events", schema=None) as batch_op:
        batch_op.drop_index("ix_port_events_consent")
    op.drop_table("consent_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS consent_events_append_only()")

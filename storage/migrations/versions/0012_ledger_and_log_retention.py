"""The erasure ledger append-only by trigger; the access log's retention — a mark
(``retention_marks``) that its delete trigger allows the rows past their period by, and on
PostgreSQL ``retain_access_log`` and ``access_log_due`` (SECURITY DEFINER); no planner
statistics on the personal columns (PostgreSQL: ANALYZE would copy their values into
``pg_statistic``, out of erasure's reach)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hanport.storage.erasure import access_log_functions
from hanport.storage.personal import PERSONAL_COLUMNS

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LEDGER = "erasures is append-only"
LOG = "access_log is append-only"
# Only a row the retention mark has passed may go: its read number within the mark, read
# before the mark's instant (``hanport.storage.erasure``: retention moves the mark, then
# deletes what it covers).
PASSED = (
    "EXISTS (SELECT 1 FROM retention_marks m WHERE m.kind = 'access_log' "
    "AND OLD.read_no <= m.last_read_no AND OLD.at < m.cleared_before)"
)
# The hashing keys erasure destroys: no statistics of them either.
NO_STATISTICS = {**PERSONAL_COLUMNS, "subject_keys": ("key",)}
FUNCTIONS = ("retain_access_log", "access_log_due")


def upgrade() -> None:
    op.create_table(
        "retention_marks",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cleared_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_read_no", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind"),
    )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
        return
    _pg_ledger()
    _pg_access_log(upgrade=True)
    for sql in access_log_functions():
        op.execute(sa.text(sql))
    for name in FUNCTIONS:
        # Only the roles docs/postgres-roles.sql grants them to may call them.
        op.execute(f"REVOKE EXECUTE ON FUNCTION {name} FROM PUBLIC")
    _no_statistics()


def _sqlite_triggers() -> None:
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER erasures_no_{verb.lower()} BEFORE {verb} ON erasures "
            f"BEGIN SELECT RAISE(ABORT, '{LEDGER}'); END"
        )
    op.execute("DROP TRIGGER access_log_no_delete")
    op.execute(
        f"CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log WHEN NOT {PASSED} "
        f"BEGIN SELECT RAISE(ABORT, '{LOG}'); END"
    )


def _pg_ledger() -> None:
    op.execute(
        "CREATE FUNCTION erasures_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{LEDGER}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER erasures_no_change BEFORE UPDATE OR DELETE ON erasures "
        "FOR EACH ROW EXECUTE FUNCTION erasures_append_only()"
    )
    op.execute(
        "CREATE TRIGGER erasures_no_truncate BEFORE TRUNCATE ON erasures "
        "FOR EACH STATEMENT EXECUTE FUNCTION erasures_append_only()"
    )


def _pg_access_log(*, upgrade: bool) -> None:
    """The trigger function of 0005, which refused every change; from 0012 on, a DELETE of a
    row the retention mark has passed is let through (the triggers stay as 0005 made them)."""
    passed = (
        f"IF TG_OP = 'DELETE' THEN IF {PASSED} THEN RETURN OLD; END IF; END IF; " if upgrade else ""
    )
    settings = "SET search_path FROM CURRENT " if upgrade else ""
    op.execute(
        "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql "
        f"{settings}AS $$ BEGIN {passed}RAISE EXCEPTION '{LOG}'; END $$"
    )


def _no_statistics() -> None:
    """No statistics target on the personal columns, and the statistics ANALYZE already took
    of them dropped (re-stating a column's own type drops them; nothing is rewritten)."""
    conn = op.get_bind()
    for table, columns in NO_STATISTICS.items():
        for column in columns:
            kind = conn.execute(
                sa.text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = CAST(:t AS regclass) AND attname = :c"
                ),
                {"t": table, "c": column},
            ).scalar_one()
            op.execute(
                f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS 0, "
                f"ALTER COLUMN {column} TYPE {kind}"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS erasures_no_{verb}")
        op.execute("DROP TRIGGER access_log_no_delete")
        op.execute(
            "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log "
            f"BEGIN SELECT RAISE(ABORT, '{LOG}'); END"
        )
    else:
        for name in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}")
        _pg_access_log(upgrade=False)
        op.execute("DROP TRIGGER IF EXISTS erasures_no_change ON erasures")
        op.execute("DROP TRIGGER IF EXISTS erasures_no_truncate ON erasures")
        op.execute("DROP FUNCTION IF EXISTS erasures_append_only()")
        for table, columns in NO_STATISTICS.items():
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STATISTICS -1")
    op.drop_table("retention_marks")

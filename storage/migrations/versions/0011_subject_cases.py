"""subject cases: ``cases.point_id`` may be NULL — a data subject's request (``privacy_request``)
is about a person, not a metering point

On SQLite the NOT NULL constraint is removed in place, the way SQLite documents for exactly this
change (``PRAGMA writable_schema``, then a new ``schema_version``: the file format is the same, no
row is rewritten — rebuilding ``cases`` would drop it under the tables that reference it); on
PostgreSQL with ``ALTER COLUMN … DROP NOT NULL``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_NOT_NULL = "point_id INTEGER NOT NULL"
_NULL = "point_id INTEGER"


def _sqlite_point_column(old: str, new: str) -> None:
    bind = op.get_bind()
    (sql,) = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'cases'"
    ).one()
    if old not in sql:
        raise RuntimeError(f"cases: expected {old!r} in its definition")
    (version,) = bind.exec_driver_sql("PRAGMA schema_version").one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'cases'",
        (sql.replace(old, new, 1),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    (check,) = bind.exec_driver_sql("PRAGMA integrity_check").one()
    if check != "ok":
        raise RuntimeError(f"cases: integrity check after the change: {check}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_point_column(_NOT_NULL, _NULL)
    else:
        op.alter_column("cases", "point_id", nullable=True)


def downgrade() -> None:
    # Refused by the database while a subject case exists (their point is NULL).
    if op.get_bind().dialect.name == "sqlite":
        if op.get_bind().exec_driver_sql("SELECT 1 FROM cases WHERE point_id IS NULL").first():
            raise RuntimeError("cases without a metering point exist: cannot restore NOT NULL")
        _sqlite_point_column(_NULL, _NOT_NULL)
    else:
        op.alter_column("cases", "point_id", nullable=False)

"""The schema revision this code expects, checked on start without importing Alembic (a test
keeps it equal to the migrations' head)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

SCHEMA_HEAD = "0004"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:  # an unreachable server raises here, not "no schema"
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None  # no alembic_version table: nothing migrated yet

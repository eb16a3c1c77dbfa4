"""The schema revision this code expects, checked on start without importing Alembic (a test
keeps it equal to the migrations' head)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from hanport.storage.errors import Unusable

SCHEMA_HEAD = "0012"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:  # an unreachable server raises here, not "no schema"
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError) as exc:
            if getattr(exc.orig, "sqlstate", None) == "42501":  # insufficient_privilege
                raise Unusable(
                    f"the login {engine.url.username} may not read this database's tables: "
                    "an administrator makes it a member of a hanport group role "
                    "(docs/postgres-roles.sql)"
                ) from None
            return None  # no alembic_version table: nothing migrated yet

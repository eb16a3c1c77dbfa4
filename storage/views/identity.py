"""Who the database says is connected (PostgreSQL): the session user and the hanport group roles
it is a member of, directly or through other roles. Membership is read from ``pg_auth_members``
itself, not with ``pg_has_role``: a superuser "has" every role, and an administrator's login
must not act as a supervisor for that."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

# The group roles hanport knows (docs/postgres-roles.sql creates them).
GROUP_PREFIX = "hanport_"

# One statement: who is connected, and the groups of ``:name`` (NULL: of the session user).
_MEMBERSHIP = text(
    """
    SELECT CAST(session_user AS text), ARRAY(
        WITH RECURSIVE up(oid) AS (
            SELECT oid FROM pg_roles
            WHERE rolname = coalesce(CAST(:name AS text), CAST(session_user AS text))
            UNION
            SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid
        )
        SELECT r.rolname FROM up JOIN pg_roles r ON r.oid = up.oid
        WHERE r.rolname LIKE 'hanport\\_%' ORDER BY r.rolname
    )
    """
)


class IdentityReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def session(self) -> tuple[str, list[str]]:
        """The session user and the ``hanport_*`` roles it belongs to, in one round trip."""
        user, groups = self.conn.execute(_MEMBERSHIP, {"name": None}).one()
        return str(user), [str(g) for g in groups]

    def groups(self, name: str) -> list[str]:
        """The ``hanport_*`` roles ``name`` belongs to (empty: no such role, or none)."""
        return [str(g) for g in self.conn.execute(_MEMBERSHIP, {"name": name}).one()[1]]

    def reads_personal_directly(self) -> bool:
        """Whether the session may select the personal columns itself (a service login, the
        owner), or only through the logging functions (``hanport.storage.personal``)."""
        sql = text("SELECT has_column_privilege('customers', 'name', 'SELECT')")
        return bool(self.conn.execute(sql).scalar())

"""Engine setup for SQLite (embedded default) and PostgreSQL (several machines).

SQLite: WAL, ``synchronous=FULL`` (a committed change survives a power cut), foreign keys on, a
busy timeout, and transactions begun by us (the driver's own implicit BEGIN would start them only
at the first write, after the reads a compare-and-swap depends on).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import create_engine as _create_engine
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 5000
# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> str | None:
    """The database file an SQLite URL names (None: another backend, or in memory)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database:
        return u.database
    return None


def create_engine(url: str, *, pool: bool = True, **kw: Any) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        engine = _create_engine(
            url,
            connect_args={"isolation_level": None, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **({} if pool else {"poolclass": NullPool}),
            **kw,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Straight on the driver's connection: a BEGIN needs none of SQLAlchemy's execution.
            conn.connection.dbapi_connection.execute(conn.info.pop("sqlite_begin", "BEGIN"))

        return engine
    # psycopg prepares a statement after a few executions and PostgreSQL may then keep a
    # generic plan. The hot statements have one text whatever their number of keys (arrays,
    # ``= ANY``), so they are planned once per connection, not at every execution — planning
    # each execution with its parameters (``plan_cache_mode=force_custom_plan``) cost more than
    # it gained: measured on the 100,000-row batch and the command path.
    engine = _create_engine(
        url,
        **({} if pool else {"poolclass": NullPool}),
        **kw,
    )
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that were idle: a connection checked in
    a moment ago (the previous command of this process) is handed out as it is, one that waited
    longer is pinged first and replaced if the server dropped it (a restart, a failover). The
    ping costs two round trips, as much as a command's reads."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)  # None: a new connection
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_conn.execute(";")
            dbapi_conn.rollback()
        except engine.dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(str(err)) from err

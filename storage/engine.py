"""Engine setup for SQLite (embedded default) and PostgreSQL (several machines).

SQLite: WAL, ``synchronous=FULL`` (a committed change survives a power cut), foreign keys on, a
busy timeout, and transactions begun by us (the driver's own implicit BEGIN would start them only
at the first write, after the reads a compare-and-swap depends on).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine as _create_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

SQLITE_BUSY_TIMEOUT_MS = 5000


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
    # psycopg prepares a statement after a few executions; PostgreSQL may then keep a generic
    # plan made while the tables were small (a sequential scan), which gets slower as a long
    # batch fills them. Planning each execution with its parameters keeps the indexes in use.
    return _create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"options": "-c plan_cache_mode=auto", "prepare_threshold": 0},
        **({} if pool else {"poolclass": NullPool}),
        **kw,
    )

"""Engine setup for SQLite (embedded default) and PostgreSQL (several machines).

SQLite: WAL, ``synchronous=FULL`` (a committed change survives a power cut), foreign keys on, a
busy timeout, ``secure_delete`` (erased values zeroed in the file), and transactions begun by us (the driver's own implicit BEGIN would start them only
at the first write, after the reads a compare-and-swap depends on).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine as _create_engine
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from hanport.storage.errors import WHERE, Unusable

SQLITE_BUSY_TIMEOUT_MS = 5000
# A connection's ``info`` key: what to run before SQLAlchemy executes a statement on it (a unit
# of work that begins its transaction itself sends BEGIN first, see ``storage.uow``).
BEFORE_STATEMENT = "hanport_before_statement"
# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0
# The URL schemes this works with (``postgresql`` and ``postgres`` mean psycopg 3).
SUPPORTED = ("sqlite", "sqlite+pysqlite", "postgresql", "postgres", "postgresql+psycopg")
URL_FORMS = "sqlite:///FILE or postgresql://USER@HOST:5432/DATABASE"


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


def check_url(url: str) -> None:
    """Refuse a URL this cannot use, saying what a usable one looks like: no scheme, an
    unsupported one, a SQLite file whose folder does not exist. Nothing is opened."""
    try:
        u = make_url(url)
    except exc.ArgumentError:
        shown = repr(url) if "@" not in url else "given"  # never echo a password
        path = "@" not in url and "://" not in url  # a file name: say its URL
        like = f"for a SQLite file write sqlite:///{url}; " if path else ""
        raise Unusable(
            f"the database URL {shown} has no scheme: {like}a URL looks like {URL_FORMS} "
            "(--db or HANPORT_DATABASE_URL)"
        ) from None
    if u.drivername not in SUPPORTED:
        raise Unusable(
            f"the database URL {u.render_as_string(hide_password=True)!r} names an unsupported "
            f"database ({u.drivername}): the supported schemes are sqlite and postgresql, "
            f"{URL_FORMS}"
        )
    file = sqlite_file(url)
    if file and file != ":memory:" and not u.query.get("uri"):
        folder = Path(file).parent
        if not folder.is_dir():
            raise Unusable(
                f"the folder {folder} for the SQLite file {file} does not exist "
                f"({folder.absolute()}): create it, or correct --db / HANPORT_DATABASE_URL"
            )


def where(url: URL) -> str:
    """The database a URL names, in words for a message (no user or password)."""
    if url.get_backend_name() == "sqlite":
        return f"the SQLite file {url.database}" if url.database else "the SQLite database"
    return f"the PostgreSQL server at {url.host or 'localhost'}:{url.port or 5432}"


def _name_the_database(engine: Engine) -> None:
    """Put where the database is on every error SQLAlchemy raises for it, for the message
    :func:`hanport.storage.errors.translate` makes (a driver's error does not always say)."""
    place = where(engine.url)

    @event.listens_for(engine, "handle_error")
    def _named(ctx: Any) -> None:
        if ctx.sqlalchemy_exception is not None:
            setattr(ctx.sqlalchemy_exception, WHERE, place)


def create_engine(url: str, *, pool: bool = True, **kw: Any) -> Engine:
    check_url(url)
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
            # Freed pages and overwritten cells are zeroed, so an erased value does not linger
            # in the file's free space (docs/privacy.md).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        _name_the_database(engine)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Straight on the driver's connection: a BEGIN needs none of SQLAlchemy's execution.
            conn.connection.dbapi_connection.execute(conn.info.pop("sqlite_begin", "BEGIN"))

        return engine
    # psycopg prepares a statement after a few executions and PostgreSQL may then keep a
    # generic plan: it does when that plan costs no more than the one made with the values.
    # The hot statements have one text whatever their number of keys (arrays, ``= ANY``), and
    # a command's load of one case compares a scalar (``case_statements.pg_statements``), so
    # it is planned once per connection. Forcing either kind of plan cost more than it gained
    # (measured on the 100,000-row batch and the command path): custom plans replan every
    # execution, and generic plans for arrays chose whole-table scans on tables of a few
    # thousand rows.
    engine = _create_engine(
        url,
        **({} if pool else {"poolclass": NullPool}),
        **kw,
    )
    _ping_when_idle(engine)
    _name_the_database(engine)

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, *_args: Any) -> None:
        hook = conn.info.get(BEFORE_STATEMENT)
        if hook is not None:
            hook()

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

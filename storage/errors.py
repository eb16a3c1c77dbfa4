"""What the database refused, in the storage layer's words; the service layer names them for
people (exit codes live there)."""

from __future__ import annotations


class StorageError(Exception):
    pass


class Conflict(StorageError):
    """Someone else changed the row first, or the database was busy: nothing written; retry."""


class PointHeld(StorageError):
    """Another case holds the metering point (one port-changing case per point)."""


class Unreachable(StorageError):
    """The database could not be reached or went away (a restart): nothing after the last
    commit was written; retry."""


# What the drivers say when the server is down, restarting or dropped the connection.
GONE = (
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "connection is closed",
    "consuming input failed",
    "the connection is lost",
)


def _database_error(exc: BaseException) -> bool:
    import sqlite3

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError | sqlite3.Error):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.Error)


def operational(exc: BaseException) -> bool:
    """The driver said the database could not do it now (busy or locked, above all), through
    SQLAlchemy or straight from ``sqlite3``."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError | sqlite3.OperationalError)


def went_away(exc: BaseException) -> bool:
    """A lost or refused connection (a PostgreSQL restart, the server down), as SQLAlchemy
    reports it."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    text = str(exc.orig).lower()
    return bool(exc.connection_invalidated) or any(g in text for g in GONE)


def translate(exc: BaseException) -> StorageError | None:
    """The storage error a driver or SQLAlchemy exception stands for, if it is one we know
    (anything else — a refusal, a bug — passes through as it is)."""
    if not _database_error(exc):
        return None
    orig = getattr(exc, "orig", None) or exc
    name = type(orig).__name__
    text = str(orig).lower()
    if "IntegrityError" in name or "UniqueViolation" in name or _integrity(orig):
        if "ux_cases_point_holding" in text or "cases.point_id" in text:
            return PointHeld(
                "another case already holds this metering point (it was opened meanwhile)"
            )
        if "uq_case_events_case_seq" in text or "case_events.case_id" in text:
            return Conflict("the case was changed by someone else meanwhile; retry")
        if "idempotency_keys" in text:
            return Conflict("the same key was used concurrently; retry")
        return None
    if "locked" in text or "busy" in text or "could not serialize" in text:
        return Conflict("the database was busy; nothing written, retry")
    if any(g in text for g in GONE) or getattr(exc, "connection_invalidated", False):
        first = (str(orig).strip().splitlines() or [name])[0]
        return Unreachable(
            f"the database could not be reached or went away ({first}); nothing after the last "
            "commit was written: retry"
        )
    return None


def _integrity(orig: BaseException) -> bool:
    import sqlite3

    if isinstance(orig, sqlite3.IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(orig, psycopg.IntegrityError)

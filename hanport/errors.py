"""Errors with the exit codes of the CLI contract (design.md)."""

from __future__ import annotations


class HanportError(Exception):
    exit_code = 1


class UsageError(HanportError):
    exit_code = 2


class NotFound(HanportError):
    """A case, customer, metering point, meter number or mail that does not exist."""

    exit_code = 3


class Refused(HanportError):
    """Not allowed, a guard failed, an invalid field, an unusable file: nothing changed."""

    exit_code = 4

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(HanportError):
    """Someone else changed the case first, or the database was busy: retry."""

    exit_code = 5


class Unreachable(Conflict):
    """The database could not be reached or went away: nothing after the last commit was
    written; retry."""


class DatabaseUnusable(HanportError):
    """The database URL cannot be used as given (no scheme, an unsupported one, a missing
    folder, no such database or login on the server): an operator's mistake, nothing changed.
    Not a :class:`Refused`: nothing that sets a refused input aside (a batch file) applies."""

    exit_code = 4


class DiskFull(HanportError):
    """The database's disk is full: the transaction was rolled back, nothing after the last
    commit was written; free space, then retry. Not a :class:`Conflict`: retrying at once (as
    :func:`hanport.retry.on_conflict` does) would not help."""

    exit_code = 5


class AuditProblem(HanportError):
    exit_code = 7


EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_REJECTED_ROWS = 6
EXIT_AUDIT_PROBLEM = 7

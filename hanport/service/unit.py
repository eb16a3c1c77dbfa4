"""The service layer's unit of work: the storage's, with what the database and the decider
refused named in the CLI's terms (conflict, refused)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hanport.bootstrap import App
from hanport.errors import (
    Conflict,
    DatabaseUnusable,
    DiskFull,
    HanportError,
    Refused,
    Unreachable,
)
from hanport.storage import errors as storage
from hanport.storage.uow import UnitOfWork
from hanport.workflows.errors import Refusal


@contextmanager
def transaction(app: App, *, immediate: bool = False) -> Iterator[UnitOfWork]:
    """A unit of work (rolled back unless committed) whose failures become hanport errors."""
    try:
        with UnitOfWork(app.engine, immediate=immediate) as uow:
            yield uow
    except Refusal as exc:
        raise Refused(str(exc), field=exc.field) from None
    except storage.StorageError as exc:
        raise named(exc) from exc


# What each storage error is in the CLI's terms (its exit code).
NAMES: tuple[tuple[type[storage.StorageError], type[HanportError]], ...] = (
    (storage.PointHeld, Refused),
    (storage.Unusable, DatabaseUnusable),
    (storage.Conflict, Conflict),
    (storage.Unreachable, Unreachable),
    (storage.DiskFull, DiskFull),
)


def named(exc: storage.StorageError) -> HanportError:
    for kind, name in NAMES:
        if isinstance(exc, kind):
            return name(str(exc))
    return HanportError(str(exc))  # pragma: no cover - every storage error is named above


def database_error(exc: BaseException) -> HanportError | None:
    """What a database error that left a command outside a transaction (at connect, while
    migrating, in a reader) is in the CLI's terms; None: not one the storage layer knows."""
    mapped = exc if isinstance(exc, storage.StorageError) else storage.translate(exc)
    return named(mapped) if mapped is not None else None

"""The service layer's unit of work: the storage's, with what the database and the decider
refused named in the CLI's terms (conflict, refused)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hanport.bootstrap import App
from hanport.errors import Conflict, Refused, Unreachable
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
    except storage.PointHeld as exc:
        raise Refused(str(exc)) from None
    except storage.Conflict as exc:
        raise Conflict(str(exc)) from None
    except storage.Unreachable as exc:
        raise Unreachable(str(exc)) from None

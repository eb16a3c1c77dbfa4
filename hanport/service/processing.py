"""A command run by a login that may not read personal columns itself (a caseworker's or
supervisor's on PostgreSQL, by ``docs/postgres-roles.sql``): its repositories read them through
the functions that log each read (:mod:`hanport.storage.personal`), under this command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hanport.bootstrap import App
from hanport.storage.personal import PROCESSING, Processing
from hanport.workflows.definition import Actor

_DIRECT = "reads_personal_directly"


@contextmanager
def processing(app: App, actor: Actor, command: Any) -> Iterator[None]:
    """While ``command`` runs: its reads of personal data logged, if the login needs that."""
    if app.backend == "sqlite" or reads_directly(app):
        yield
        return
    detail = getattr(command, "trigger", None) or getattr(command, "workflow", None)
    name = type(command).__name__ + (f" {detail}" if detail else "")
    context = Processing(actor.name, actor.role.value, actor.on_behalf_of, name, app.clock.now())
    token = PROCESSING.set(context)
    try:
        yield
    finally:
        PROCESSING.reset(token)


def reads_directly(app: App) -> bool:
    """Whether the login may select personal columns itself (asked once per application)."""
    if _DIRECT not in app.extras:
        from hanport.storage.views import reading

        with reading(app.engine) as views:
            app.extras[_DIRECT] = views.identity.reads_personal_directly()
    return bool(app.extras[_DIRECT])

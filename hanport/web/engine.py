"""Every call the web layer makes into the engine, in one place: the intake commands, the
customer's signed-link commands, the customer-status query, the declarations, the link signer
and the gauges a duty officer watches. Nothing else of the engine is reached from ``hanport.web``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import anyio.to_thread

from hanport.bootstrap import App
from hanport.declarations import Declaration
from hanport.errors import Refused
from hanport.links import LinkExpired, LinkInvalid, LinkSigner
from hanport.workflows.definition import Actor, Role

# Who submits a form: a customer, never a login. The engine names the case's actor from the
# intake (a fixed name plus the intake id), never from what was typed.
WEB = Actor("web", Role.CUSTOMER, "customer")
# The server's own intake pass runs as the scheduler does.
PROCESSOR = Actor.system("scheduler", "web-intake")
# Database work of one worker process at a time (each in a thread of its own); the worker's
# connection pool keeps as many connections open, so a burst of requests waits for a slot
# instead of opening and closing connections past the pool (a new PostgreSQL connection is a
# new server process). What waits does so in the event loop, holding nothing.
DB_THREADS = 8

T = TypeVar("T")


@dataclass(frozen=True)
class Submitted:
    intake_id: int
    duplicate: bool


class Engine:
    """The engine as the web layer sees it, over one bootstrapped application."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._slots = anyio.CapacityLimiter(DB_THREADS)
        # SQLite has one writer: this process's writes take turns here rather than in SQLite's
        # busy handler, whose growing sleeps let a waiting write lose to later ones for long.
        self._one_writer: AbstractContextManager[Any] = (
            threading.Lock() if app.backend == "sqlite" else nullcontext()
        )

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread, within the worker's database slots."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._slots)

    def declaration(self, form: str, language: str) -> Declaration:
        """The declaration ``form`` shows now; ``LookupError`` for a form without one."""
        from hanport.declarations import current

        return current(form, language)

    def submit(
        self,
        form: str,
        fields: dict[str, str],
        *,
        form_token: str,
        language: str,
        declaration: Declaration | None,
        client: str | None,
    ) -> Submitted:
        from hanport.service import run
        from hanport.service.commands import SubmitIntake

        cmd = SubmitIntake(
            form=form,
            fields=fields,
            form_token=form_token,
            language=language,
            declaration_version=None if declaration is None else declaration.version,
            declaration_sha256=None if declaration is None else declaration.sha256,
            client=client,
        )
        with self._one_writer:
            receipt = run(self.app, WEB, cmd)
        return Submitted(int(receipt.intake_id), bool(receipt.duplicate))

    def process_intakes(self, limit: int = 100) -> Any:
        from hanport.service import run
        from hanport.service.commands import ProcessIntakes

        return run(self.app, PROCESSOR, ProcessIntakes(limit=limit))

    @cached_property
    def signer(self) -> LinkSigner:
        """The link signer; ``Refused`` when no ``HANPORT_LINK_SECRET`` is configured."""
        return LinkSigner.from_app(self.app)

    def read_link(self, token: str, purpose: str) -> Any:
        """The link's claim; raises ``LinkInvalid`` / ``LinkExpired``."""
        return self.signer.read(token, purpose)

    def status(self, token: str, language: str) -> Any:
        from hanport.queries.customer_status import view

        return view(self.app, token, language)

    def act(self, token: str, purpose: str, language: str) -> Any:
        from hanport.service import run
        from hanport.service.commands import CustomerLink

        cmd = CustomerLink(token=token, purpose=purpose, language=language)
        with self._one_writer:
            return run(self.app, WEB, cmd)

    def gauges(self) -> Any:
        from hanport.storage.gauges import read

        return read(self.app.engine, self.app.clock.now())

    def swap_wait(self) -> tuple[int, int]:
        """The meter-swap queue's expected wait in weeks (low, high), as the notice gives it."""
        from hanport.service.swap_wait import expected_wait_weeks
        from hanport.storage.uow import UnitOfWork

        with UnitOfWork(self.app.engine) as uow:
            return expected_wait_weeks(uow, self.app.settings, self.app.clock.now())

    def backlog(self) -> int:
        """Intakes kept and not yet processed."""
        from hanport.queries.intakes import backlog

        return backlog(self.app)

    def ready(self) -> str | None:
        """None when the database answers and its schema is current, else why not."""
        from hanport.storage.schema import SCHEMA_HEAD, current_revision

        try:
            rev = current_revision(self.app.engine)
        except Exception as exc:  # an unreachable database is the answer, not an error
            return f"database unreachable: {exc.__class__.__name__}"
        if rev != SCHEMA_HEAD:
            return f"schema at {rev or 'nothing'}, this version needs {SCHEMA_HEAD}"
        return None


# What a link page answers instead of acting: a tampered (or foreign) link, an expired one, and
# a refusal (no link key configured, a case gone).
LINK_REFUSALS = (LinkInvalid, LinkExpired, Refused)


def is_link_error(exc: Exception) -> bool:
    return isinstance(exc, LinkInvalid | LinkExpired)


def is_expired(exc: Exception) -> bool:
    return isinstance(exc, LinkExpired)

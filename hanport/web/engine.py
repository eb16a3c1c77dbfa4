"""Every call the web layer makes into the engine, in one place: the intake commands, the
customer's signed-link commands, the customer-status query, the declarations, the link signer
and the gauges a duty officer watches. Nothing else of the engine is reached from ``hanport.web``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from hanport.bootstrap import App
from hanport.workflows.definition import Actor, Role

# Who submits a form: a customer, never a login. The engine names the case's actor from the
# intake (a fixed name plus the intake id), never from what was typed.
WEB = Actor("web", Role.CUSTOMER, "customer")
# The server's own intake pass runs as the scheduler does.
PROCESSOR = Actor.system("scheduler", "web-intake")


class NotOpen(Exception):
    """The engine does not provide a command the web layer needs yet (the intake is not open)."""


def _contract(module: str, name: str) -> Any:
    """A name the engine side provides under the web contract (looked up when first used)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise NotOpen(f"{module}.{name}") from None


@dataclass(frozen=True)
class Submitted:
    intake_id: int
    duplicate: bool


class Engine:
    """The engine as the web layer sees it, over one bootstrapped application."""

    def __init__(self, app: App) -> None:
        self.app = app

    def declaration(self, form: str, language: str) -> Any:
        return _contract("hanport.declarations", "current")(form, language)

    def submit(
        self,
        form: str,
        fields: dict[str, str],
        *,
        form_token: str,
        language: str,
        declaration: Any | None,
        client: str | None,
    ) -> Submitted:
        from hanport.service import run

        SubmitIntake = _contract("hanport.service.commands", "SubmitIntake")
        receipt = run(
            self.app,
            WEB,
            SubmitIntake(
                form=form,
                fields=fields,
                form_token=form_token,
                language=language,
                declaration_version=None if declaration is None else declaration.version,
                declaration_sha256=None if declaration is None else declaration.sha256,
                client=client,
            ),
        )
        return Submitted(int(receipt.intake_id), bool(receipt.duplicate))

    def process_intakes(self, limit: int = 100) -> Any:
        from hanport.service import run

        ProcessIntakes = _contract("hanport.service.commands", "ProcessIntakes")
        return run(self.app, PROCESSOR, ProcessIntakes(limit=limit))

    @cached_property
    def signer(self) -> Any:
        from hanport.links import LinkSigner

        return LinkSigner.from_app(self.app)

    def read_link(self, token: str, purpose: str) -> Any:
        """The link's claim; raises the signer's ``LinkInvalid`` / ``LinkExpired``."""
        return self.signer.read(token, purpose)

    def status(self, token: str, language: str) -> Any:
        return _contract("hanport.queries.customer_status", "view")(self.app, token, language)

    def act(self, token: str, purpose: str, language: str) -> Any:
        from hanport.service import run

        CustomerLink = _contract("hanport.service.commands", "CustomerLink")
        return run(self.app, WEB, CustomerLink(token=token, purpose=purpose, language=language))

    def gauges(self) -> Any:
        from hanport.storage.gauges import read

        return read(self.app.engine, self.app.clock.now())

    def swap_wait(self) -> tuple[int, int]:
        """The meter-swap queue's expected wait in weeks (low, high), as the notice gives it."""
        from hanport.service.swap_wait import expected_wait_weeks
        from hanport.storage.uow import UnitOfWork

        with UnitOfWork(self.app.engine) as uow:
            return expected_wait_weeks(uow, self.app.settings, self.app.clock.now())

    def backlog(self) -> int | None:
        """Intakes not yet processed (None until the engine's intake store exists)."""
        try:
            backlog = _contract("hanport.queries.intakes", "backlog")
        except (ImportError, AttributeError):
            return None
        return int(backlog(self.app))

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


def link_errors() -> tuple[type[Exception], ...]:
    """The signer's refusals: a tampered link and an expired one."""
    from hanport.links import LinkExpired, LinkInvalid

    return (LinkInvalid, LinkExpired)


def is_expired(exc: Exception) -> bool:
    from hanport.links import LinkExpired

    return isinstance(exc, LinkExpired)

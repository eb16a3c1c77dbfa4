"""The commands: everything that changes hanport is one of these, run by ``hanport.service.run``.

Imperative names, plain frozen data: the CLI, the scheduler, the batch, the demo, the benchmarks
and the web intake build one and hand it to ``run(app, actor, command)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class OpenCase:
    """Open a case: ``nore_open`` and ``meter_swap`` on a metering point, ``close_port`` on a
    meter number. ``fields`` (nore_open) carry a consent given with the order."""

    workflow: str
    customer: str
    metering_point: str | None = None
    meter_number: str | None = None
    channel: str | None = None
    from_email: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    energipilot_ack: bool = False
    key: str | None = None
    # The workflow version to start on, where the channel needs one (the web form runs
    # nore_open 2); None: the configured one, else the newest.
    version: int | None = None


@dataclass(frozen=True)
class Advance:
    """Fire ``trigger`` on the case ``case`` (its fields, a note where one is needed)."""

    case: str
    trigger: str
    fields: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class MigrateCases:
    """Move the live cases of ``workflow`` on ``from_version`` (all, or those named) to
    ``to_version``, each in its own transaction; with ``apply`` False only say what would
    happen. ``mapping``: OLD=NEW for states the target names otherwise."""

    workflow: str
    from_version: int
    to_version: int
    mapping: Mapping[str, str] = field(default_factory=dict)
    cases: tuple[str, ...] = ()
    apply: bool = False
    progress: Callable[[int], None] | None = None


@dataclass(frozen=True)
class ImportCustomers:
    path: Path


@dataclass(frozen=True)
class ImportMeteringPoints:
    path: Path


@dataclass(frozen=True)
class UpdateCustomer:
    customer: str
    email: str | None = None
    phone: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class RunTerminations:
    """Apply the nightly Elhub-derived terminations file (``dry_run``: say what it would do)."""

    path: Path
    dry_run: bool = False
    details: bool = False
    progress: Callable[[int], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FireTimers:
    """Fire every due timer, ``batch`` to a transaction."""

    batch: int = 50


@dataclass(frozen=True)
class DispatchHes:
    """Send every HES command that is first in line for its point."""

    limit: int = 100


@dataclass(frozen=True)
class ApplyHesAnswers:
    """Apply the gateways' answers whose time has come."""

    limit: int = 100


@dataclass(frozen=True)
class AnswerHes:
    """Record the vendor's answer to a manual command whose case has ended."""

    command_id: int
    outcome: str
    note: str | None = None


@dataclass(frozen=True)
class DeliverMail:
    """Send every due notice, ``batch`` to a connection."""

    batch: int = 100


@dataclass(frozen=True)
class RetryMail:
    """Put one mail (dead or waiting) back in line for the next delivery."""

    mail_id: int


@dataclass(frozen=True)
class RetryWaitingMail:
    """Every mail waiting out a backoff or dead, made due now (after an SMTP outage);
    ``status`` (``pending`` or ``dead``) and ``since`` (created at or after) narrow it."""

    status: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class SubmitIntake:
    """Keep a customer's web form as typed (one short transaction; ``form_token`` is its
    idempotency key). Nothing is decided here: ``ProcessIntakes`` does that."""

    form: str  # nore_order | swap_order | close_request
    fields: Mapping[str, str]
    form_token: str
    language: str
    declaration_version: str | None = None
    declaration_sha256: str | None = None
    client: str | None = None  # not kept: the rate limit is the web layer's


@dataclass(frozen=True)
class ProcessIntakes:
    """Turn up to ``limit`` kept intakes into cases (each in its own transactions), merge a
    repeat into the open request for its point, hand what matches nothing to the
    caseworkers."""

    limit: int = 100


@dataclass(frozen=True)
class ResolveIntake:
    """A caseworker settles an intake under review: with the case they opened for it (``case``)
    or none, and a note saying what was done."""

    intake_id: int
    note: str
    case: str | None = None


@dataclass(frozen=True)
class CustomerLink:
    """What the customer asked for from a signed link in a notice (``object``, ``withdraw``,
    ``confirm``): it acts at once — the link reached the e-mail on file."""

    token: str
    purpose: str
    language: str = "nb"


@dataclass(frozen=True)
class OpenSubjectRequest:
    """Register a data subject's request (GDPR art. 15–18) about customer ``customer``:
    ``kind`` access, rectification, erasure or restriction, as it came (``channel``), received
    at ``received_at`` (default now): a ``privacy_request`` case, due one month after receipt."""

    customer: str
    kind: str
    channel: str
    received_at: datetime | None = None
    key: str | None = None


@dataclass(frozen=True)
class EraseCustomer:
    """Erase what hanport holds about a customer (GDPR art. 17), as far as the law's holds
    allow; with ``dry_run`` only say what would be erased or refused."""

    customer: str
    reason: str
    dry_run: bool = False


@dataclass(frozen=True)
class EraseSigner:
    """Erase the name of who signed consent ``consent`` under a power of attorney (someone who
    is not the customer), once the consent's evidence is no longer needed."""

    consent: int
    reason: str
    dry_run: bool = False


@dataclass(frozen=True)
class RekeyLedgers:
    """Turn the idempotency ledgers' bare request digests (written before the pepper) into
    keyed ones; ``dry_run``: count them only."""

    dry_run: bool = False


@dataclass(frozen=True)
class ReapplyErasures:
    """After a restore of an older backup: apply again every erasure of the ledger file
    (``ledger``, else the configured one) the database does not hold."""

    ledger: Path | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class ApplyRetention:
    """Clear what the automatic retention periods say must go now (the nightly slot)."""

    dry_run: bool = False


Command = (
    OpenCase
    | Advance
    | ImportCustomers
    | ImportMeteringPoints
    | UpdateCustomer
    | RunTerminations
    | FireTimers
    | DispatchHes
    | ApplyHesAnswers
    | AnswerHes
    | DeliverMail
    | RetryMail
    | RetryWaitingMail
    | SubmitIntake
    | ProcessIntakes
    | ResolveIntake
    | CustomerLink
    | EraseCustomer
    | EraseSigner
    | ReapplyErasures
    | ApplyRetention
)

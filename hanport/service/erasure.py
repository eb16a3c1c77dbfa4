"""Erasure (GDPR art. 17) with the law's holds, the erasure ledger and ``privacy reapply``, and
retention applied by the scheduler.

What holds an erasure back (:func:`holds`), for a customer:

- an active case, a mail still waiting to be sent, a web form not yet settled: they need the
  person's contact details — nothing is erased;
- the metering points registered to them now (the grid contract), a live consent, and records
  inside their retention period (:mod:`hanport.retention`: a consent's evidence, a case's
  record) — the e-mail and phone are erased, the rest is refused, naming each hold and until
  when.

An erasure replaces the personal values with tombstones (:mod:`hanport.storage.erasure`) and
adds an entry to the ledger (``erasures``) in the same transaction; after the commit the entry
is appended to the ledger's copy outside the database (``HANPORT_ERASURE_LEDGER``, JSON lines),
which ``privacy reapply`` applies again after a restore of an older backup.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound, Refused
from hanport.retention import Period, periods
from hanport.service.commands import EraseCustomer, EraseSigner, ReapplyErasures
from hanport.service.unit import transaction
from hanport.service.vacuum import after_clearing
from hanport.storage.views.erasures import ConsentFacts, LedgerEntry, SubjectFacts
from hanport.workflows.definition import Actor, Role

ERASERS = (Role.PRIVACY, Role.SUPERVISOR)
NO_LEDGER = (
    "no erasure ledger file is configured (HANPORT_ERASURE_LEDGER): a restore of an older "
    "backup would bring this person back until the ledger is exported "
    "(`hanport privacy ledger --export FILE`) and kept apart from the backups"
)


@dataclass(frozen=True)
class Hold:
    """Why (part of) an erasure is refused: ``what`` holds, ``ref`` names it, ``until`` when
    (None: while it lasts); ``contact`` — it holds the e-mail and phone too."""

    what: str
    ref: str
    until: datetime | None = None
    contact: bool = False

    def words(self) -> str:
        until = f" until {isoformat_utc(self.until)[:10]}" if self.until else ""
        return f"{self.what} {self.ref}{until}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "ref": self.ref,
            "until": isoformat_utc(self.until) if self.until else None,
            "holds_contact": self.contact,
        }


@dataclass
class ErasureResult:
    subject: str
    outcome: str  # erased | partly erased | already erased | would erase | would partly erase
    scope: str | None = None
    erased: dict[str, int] = field(default_factory=dict)
    holds: list[Hold] = field(default_factory=list)
    erasure_id: str | None = None
    at: str | None = None
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return self.scope == "contact"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["holds"] = [h.as_dict() for h in self.holds]
        return d


def holds(facts: SubjectFacts, table: dict[str, Period], now: datetime) -> list[Hold]:
    """What keeps a customer's records from being erased at ``now``."""
    out = [Hold("active case", ref, contact=True) for ref in facts.active_cases]
    out += [Hold("mail waiting to be sent", f"#{m}", contact=True) for m in facts.unsent_mail]
    out += [Hold("web form not yet settled", f"#{i}", contact=True) for i in facts.open_intakes]
    out += [Hold("registered customer of metering point", p) for p in facts.points]
    for k in facts.consents:
        if k.erased_at is not None:
            continue
        if k.ended_at is None:
            out.append(Hold("live consent", f"#{k.id}"))
            continue
        until = table["consent"].keep.after(k.ended_at)
        if until > now:
            out.append(Hold("consent evidence (GDPR art. 7(1))", f"#{k.id}", until))
    for c in facts.ended_cases:
        until = table["case"].keep.after(c.ended_at)
        if until > now:
            out.append(Hold("case record", c.ref, until))
    return out


def require_reader(reader: Actor, what: str) -> None:
    """The ledger and what is due: for privacy, supervisors, auditors and the system."""
    if reader.role not in (Role.SYSTEM, Role.AUDITOR, *ERASERS):
        raise Refused(
            f"{what} is for privacy, supervisors and auditors; {reader.name} is {reader.role.value}"
        )


def _require_eraser(actor: Actor) -> None:
    if actor.role not in ERASERS:
        raise Refused(f"erasure is for privacy or a supervisor; {actor.name} is {actor.role.value}")


def _reason(reason: str) -> str:
    why = reason.strip()
    if not why:
        raise Refused(
            "--reason: say why (the request, its date), without naming the person", field="reason"
        )
    return why


def erase_customer(app: App, actor: Actor, cmd: EraseCustomer) -> ErasureResult:
    _require_eraser(actor)
    why = _reason(cmd.reason)
    now = app.clock.now()
    customer = cmd.customer.strip()
    with transaction(app, immediate=True) as uow:
        found = uow.erasures.customer(customer)
        if found is None:
            raise NotFound(f"customer {customer} not found")
        pk, erased_at = found
        if erased_at is not None:
            return ErasureResult(customer, "already erased", at=isoformat_utc(erased_at))
        held = holds(uow.erasures.facts(pk), periods(app.settings.retention), now)
        if any(h.contact for h in held):
            raise Refused(_refusal(customer, held, contact=True), field="customer")
        scope = "contact" if held else "subject"
        result = ErasureResult(customer, "", scope, holds=held, dry_run=cmd.dry_run)
        result.erased = uow.erasures.erase(scope, pk, now)
        if scope == "contact" and not any(result.erased.values()):
            raise Refused(_refusal(customer, held, contact=False), field="customer")
        result.outcome = ("would " if cmd.dry_run else "") + (
            "partly erase" if scope == "contact" else "erase"
        )
        if cmd.dry_run:
            return result  # rolled back: nothing changed
        result.outcome = "partly erased" if scope == "contact" else "erased"
        entry = _entry(result, "customer", actor, why, now)
        uow.erasures.record(entry)
        sent = uow.erasures.message_ids_of(pk)
        uow.commit()
    result.warnings += sync_ledger_file(app) + after_clearing(app)
    result.erased["maildir"] = maildir_copies(app, set(sent))
    return result


def maildir_copies(app: App, message_ids: set[str]) -> int:
    """Remove the Maildir copies of these messages (where notices go without SMTP: the copy
    holds the address and the text); the number removed. With SMTP the mailbox is the
    customer's own."""
    import mailbox

    from hanport.service.mail import maildir

    folder = maildir(app)
    if app.settings.smtp.host is not None or not message_ids or not (folder / "cur").is_dir():
        return 0
    box = mailbox.Maildir(folder, create=False)
    doomed = [key for key, msg in box.iteritems() if str(msg["Message-ID"]) in message_ids]
    for key in doomed:
        box.discard(key)
    return len(doomed)


def _refusal(subject: str, held: list[Hold], *, contact: bool) -> str:
    if contact:
        named = "; ".join(h.words() for h in held if h.contact)
        return f"customer {subject}: nothing erased — still needed for {named}"
    named = "; ".join(h.words() for h in held)
    return (
        f"customer {subject}: the e-mail and phone are already erased; the rest is kept for {named}"
    )


def _entry(
    result: ErasureResult, kind: str, actor: Actor, why: str, now: datetime
) -> dict[str, Any]:
    result.erasure_id = str(uuid.uuid4())
    result.at = isoformat_utc(now)
    return {
        "erasure_id": result.erasure_id,
        "subject_kind": kind,
        "subject": result.subject,
        "scope": result.scope,
        "at": now,
        "actor": actor.on_behalf_of or actor.name,
        "role": actor.role.value,
        "reason": why,
        "erased": {k: v for k, v in result.erased.items() if v},
    }


def signer_holds(k: ConsentFacts, table: dict[str, Period], now: datetime) -> list[Hold]:
    """What keeps the name of who signed consent ``k`` (the evidence of the consent)."""
    if k.ended_at is None:
        return [Hold("live consent", f"#{k.id}")]
    until = table["consent"].keep.after(k.ended_at)
    return [Hold("consent evidence (GDPR art. 7(1))", f"#{k.id}", until)] if until > now else []


def erase_signer(app: App, actor: Actor, cmd: EraseSigner) -> ErasureResult:
    """The name of who signed a consent under a power of attorney (not the customer)."""
    _require_eraser(actor)
    why = _reason(cmd.reason)
    now = app.clock.now()
    subject = f"consent-{cmd.consent}"
    with transaction(app, immediate=True) as uow:
        k = uow.erasures.consent(cmd.consent)
        if k is None:
            raise NotFound(f"consent #{cmd.consent} not found")
        if k.signer_role != "power_of_attorney":
            raise Refused(
                f"consent #{cmd.consent} was signed by the customer ({k.signer_role or 'imported'}):"
                " erase the customer (`hanport customer erase`)",
                field="consent",
            )
        held = signer_holds(k, periods(app.settings.retention), now)
        if held:
            named = "; ".join(h.words() for h in held)
            raise Refused(
                f"consent #{cmd.consent}: the signer is kept for {named}", field="consent"
            )
        result = ErasureResult(subject, "would erase", "signer", dry_run=cmd.dry_run)
        result.erased = uow.erasures.erase("signer", cmd.consent, now)
        if not any(result.erased.values()):
            return ErasureResult(subject, "already erased", "signer")
        if cmd.dry_run:
            return result
        result.outcome = "erased"
        uow.erasures.record(_entry(result, "signer", actor, why, now))
        uow.commit()
    result.warnings += sync_ledger_file(app) + after_clearing(app)
    return result


# --- the ledger outside the database -----------------------------------------------------------


def _line(e: LedgerEntry) -> dict[str, Any]:
    return {
        "erasure_id": e.erasure_id,
        "subject_kind": e.subject_kind,
        "subject": e.subject,
        "scope": e.scope,
        "at": isoformat_utc(e.at),
        "actor": e.actor,
        "role": e.role,
        "reason": e.reason,
        "erased": json.loads(e.erased),
    }


def ledger_entries(app: App) -> list[dict[str, Any]]:
    """The database's ledger, as the file holds it."""
    from hanport.storage.views import reading

    with reading(app.engine) as views:
        return [_line(e) for e in views.erasures.ledger()]


def read_ledger_file(path: Path) -> list[dict[str, Any]]:
    """The entries of a ledger file, in order; a line that is not an entry is refused by its
    number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Refused(f"ledger file {path}: {exc.strerror or exc}", field="ledger") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            entry["erasure_id"], entry["subject"], entry["scope"]
        except (ValueError, KeyError, TypeError):
            raise Refused(
                f"ledger file {path}, line {n}: not an erasure entry", field="ledger"
            ) from None
        out.append(entry)
    return out


def write_ledger_lines(path: Path, entries: list[dict[str, Any]], *, append: bool) -> None:
    """Write (or append) ``entries`` as JSON lines, flushed to the disk before returning."""
    with path.open("a" if append else "w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def sync_ledger_file(app: App) -> list[str]:
    """Append to the configured ledger file every entry of the database's ledger it lacks
    (after each erasure, and nightly: a crash between an erasure's commit and its append is
    made good). Never removes a line. Returns warnings."""
    configured = app.settings.erasure_ledger
    if not configured:
        return [NO_LEDGER]
    path = Path(configured)
    have = {e["erasure_id"] for e in read_ledger_file(path)} if path.exists() else set()
    missing = [e for e in ledger_entries(app) if e["erasure_id"] not in have]
    try:
        write_ledger_lines(path, missing, append=True)
    except OSError as exc:
        return [f"the erasure is done, but the ledger file {path} was not written: {exc}"]
    return []


# --- after a restore ---------------------------------------------------------------------------


@dataclass
class Reapplied:
    applied: list[dict[str, Any]] = field(default_factory=list)
    already: int = 0
    missing: list[str] = field(default_factory=list)  # subjects this database does not hold
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reapply(app: App, actor: Actor, cmd: ReapplyErasures) -> Reapplied:
    """Apply again every erasure of the ledger file this database does not have (a restored
    older backup): as recorded, whatever holds the restored records show — the person's
    erasure was decided then. One transaction; each entry is added to the database's ledger
    with ``reapplied_at``, so a second run applies nothing."""
    _require_eraser(actor)
    source = cmd.ledger or (
        Path(app.settings.erasure_ledger) if app.settings.erasure_ledger else None
    )
    if source is None:
        raise Refused("give --ledger FILE (or configure HANPORT_ERASURE_LEDGER)", field="ledger")
    entries = read_ledger_file(source)
    now = app.clock.now()
    report = Reapplied(dry_run=cmd.dry_run)
    with transaction(app, immediate=True) as uow:
        known = uow.erasures.known()
        for e in entries:
            if e["erasure_id"] in known:
                report.already += 1
                continue
            key = _key(uow, e)
            if key is None:
                report.missing.append(e["subject"])
                continue
            erased = uow.erasures.erase(e["scope"], key, now)
            report.applied.append({**e, "erased_now": {k: v for k, v in erased.items() if v}})
            when = datetime.fromisoformat(e["at"])
            uow.erasures.record({**e, "at": when, "reapplied_at": now})
            known.add(e["erasure_id"])
        if not cmd.dry_run:
            uow.commit()
    if report.applied and not cmd.dry_run:
        report.warnings += after_clearing(app)
    return report


def _key(uow: Any, e: dict[str, Any]) -> int | None:
    """The id the entry's scope takes in this database (None: not here)."""
    if e.get("subject_kind") == "signer":
        number = int(str(e["subject"]).removeprefix("consent-"))
        return number if uow.erasures.consent(number) is not None else None
    found = uow.erasures.customer(e["subject"])
    return None if found is None else found[0]

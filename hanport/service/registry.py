"""The registry's customers: the CSV import (upserts) and customer updates, and the import loop
both registry files share (metering points: ``hanport.service.points``).

Customers keep their history (a snapshot per change).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hanport import identifiers
from hanport.adapters.csvfile import BadRow, Rejected, Row, rows, scan
from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.service import load, roles
from hanport.service.commands import ImportCustomers, UpdateCustomer
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.uow import Repositories
from hanport.workflows.definition import Actor

REGISTRY = Actor.system("system", "registry")

CUSTOMER_HEADER = (
    "customer_id",
    "name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "language",
    "energipilot",
)
CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "language",
    "energipilot",
)
TRUE = ("1", "true", "yes", "ja", "y", "j")
FALSE = ("", "0", "false", "no", "nei", "n")


@dataclass
class ImportReport:
    kind: str
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [r.as_dict() for r in self.rejected],
            "warnings": self.warnings,
        }


# --- customers --------------------------------------------------------------------------------


def _customer_values(v: dict[str, str]) -> dict[str, Any]:
    def check(name: str, fn: Any) -> str | None:
        value = v[name]
        if not value:
            return None
        try:
            return str(fn(value))
        except ValueError as exc:
            raise BadRow(f"{name}: {exc}") from None

    if not v["customer_id"]:
        raise BadRow("customer_id is empty")
    language = (v["language"] or "nb").lower()
    if language not in ("nb", "en"):
        raise BadRow(f"language: {v['language']!r} must be nb or en")
    pilot = v["energipilot"].lower()
    if pilot not in TRUE + FALSE:
        raise BadRow(f"energipilot: {v['energipilot']!r} must be yes or no")
    return {
        "name": v["name"] or None,
        "email": check("email", identifiers.validate_email),
        "phone": check("phone", identifiers.normalise_phone),
        "street": v["street"] or None,
        "postal_code": check("postal_code", identifiers.validate_postal_code),
        "city": v["city"] or None,
        "language": language,
        "energipilot": pilot in TRUE,
    }


def _snapshot(values: dict[str, Any]) -> str:
    return json.dumps(
        {k: values.get(k) for k in CUSTOMER_FIELDS}, sort_keys=True, ensure_ascii=False
    )


def save_customer(
    uow: Repositories,
    customer_id: str,
    values: dict[str, Any],
    now: datetime,
    actor: Actor,
    source: str,
    app: App | None = None,
) -> str:
    """Insert or update a customer, keeping a history row per change. Returns
    ``inserted``, ``updated`` or ``unchanged``. With ``app``, cases whose waiting mail lost its
    address are flagged ``no_email``."""
    reg = uow.registry
    current = reg.customer(customer_id)
    if current is None:
        pk = reg.insert_customer(
            {"customer_id": customer_id, "version": 1, "updated_at": now, **values}
        )
        uow.subject_keys.create(pk, now)  # what their values are hashed with
        version, outcome = 1, "inserted"
    else:
        if all(current[k] == values[k] for k in values):
            return "unchanged"
        pk, version, outcome = current["id"], current["version"] + 1, "updated"
        reg.update_customer(pk, {"version": version, "updated_at": now, **values})
        if "email" in values and values["email"] != current["email"]:
            _follow_address(uow, pk, values["email"], now, actor, app)
    merged = {**(current or {}), **values}
    reg.add_customer_history(
        {
            "customer_pk": pk,
            "version": version,
            "valid_from": now,
            "changed_by": actor.name,
            "source": source,
            "snapshot": _snapshot(merged),
        }
    )
    return outcome


def _follow_address(
    uow: Repositories,
    customer_pk: int,
    email: str | None,
    now: datetime,
    actor: Actor,
    app: App | None,
) -> None:
    """Unsent mail follows a changed address; a case whose waiting mail lost its address is
    flagged ``no_email``."""
    note = f"recipient changed at {now.isoformat()} by {actor.name}"
    affected = uow.registry.follow_address(customer_pk, email, note)
    if email is not None or app is None or not affected:
        return
    decision = decision_for(app, REGISTRY, now, uow)
    cases = load.into(decision, uow.cases.load("id", affected))
    for case_id in affected:
        case = cases[case_id]
        if "no_email" not in case.flags:
            decision.fire(case, "flag_no_email", {})
    write(app, uow, decision)


RowSaver = Callable[[Repositories, Row, set[str], list[str]], str]


def import_rows(
    app: App, actor: Actor, path: Path, kind: str, header: tuple[str, ...], save: RowSaver
) -> ImportReport:
    """One transaction for the file: every good row applied (upsert), every bad one reported by
    its row number; an unusable file refused before anything is read further."""
    roles.require_writer(actor)
    scan(path)
    report = ImportReport(kind, str(path))
    with transaction(app) as uow:
        seen: set[str] = set()
        for item in rows(path, header):
            report.rows += 1
            if isinstance(item, Rejected):
                report.rejected.append(item)
                continue
            warnings: list[str] = []
            try:
                outcome = save(uow, item, seen, warnings)
            except BadRow as exc:
                report.rejected.append(Rejected(item.number, str(exc)))
                continue
            report.warnings.extend(warnings)
            setattr(report, outcome, getattr(report, outcome) + 1)
        uow.commit()
    return report


def warnings_of(row: int, sink: list[str]) -> Callable[[str], None]:
    return lambda text: sink.append(f"row {row}: {text}")


def _unerased(
    uow: Repositories, cid: str, values: dict[str, Any], warn: Callable[[str], None]
) -> dict[str, Any]:
    """An import never brings back what was erased: an erased person's row is rejected, and
    contact details erased on their own stay erased (the grid company's other systems must
    erase them too)."""
    scopes = uow.erasures.scopes(cid)
    if "subject" in scopes:
        raise BadRow(
            f"customer {cid} was erased (see hanport privacy ledger): an import does not bring "
            "an erased person back; a returning customer gets a new customer number"
        )
    if "contact" in scopes and (values.get("email") or values.get("phone")):
        warn(f"customer {cid}: e-mail and phone were erased; the file's are not taken")
        return {**values, "email": None, "phone": None}
    return values


def import_customers(app: App, actor: Actor, cmd: ImportCustomers) -> ImportReport:
    now = app.clock.now()

    def save(uow: Repositories, item: Row, seen: set[str], warnings: list[str]) -> str:
        values = _customer_values(item.values)
        cid = item.values["customer_id"]
        if cid in seen:
            raise BadRow(f"customer {cid} appears twice in the file")
        seen.add(cid)
        values = _unerased(uow, cid, values, warnings_of(item.number, warnings))
        return save_customer(uow, cid, values, now, actor, "import", app)

    return import_rows(app, actor, cmd.path, "customers", CUSTOMER_HEADER, save)


def update_customer(app: App, actor: Actor, cmd: UpdateCustomer) -> str:
    roles.require_writer(actor)
    changes: dict[str, Any] = {}
    for name, value, check in (
        ("email", cmd.email, identifiers.validate_email),
        ("phone", cmd.phone, identifiers.normalise_phone),
    ):
        if value is None:
            continue
        try:
            changes[name] = check(value) if value.strip() else None
        except ValueError as exc:
            raise Refused(f"{name}: {exc}", field=name) from None
    if cmd.language is not None:
        if cmd.language not in ("nb", "en"):
            raise Refused(f"language: {cmd.language!r} must be nb or en", field="language")
        changes["language"] = cmd.language
    if not changes:
        raise Refused("nothing to change: give --email, --phone or --language")
    with transaction(app) as uow:
        if uow.registry.customer(cmd.customer) is None:
            raise NotFound(f"customer {cmd.customer} not found")
        if "subject" in uow.erasures.scopes(cmd.customer):
            raise Refused(f"customer {cmd.customer} was erased: nothing of theirs is kept")
        outcome = save_customer(uow, cmd.customer, changes, app.clock.now(), actor, "cli", app)
        uow.commit()
    return outcome

"""The customer and metering-point registry: CSV imports (upserts) and customer updates.

Customers keep their history (a snapshot per change). A metering point's HAN port state is taken
from the file only when the point is first imported; an imported ``open`` port is recorded under a
*legacy consent* so that ``audit port`` can name it. Later imports never change the port state; a
changed meter number on an open port closes it automatically (``meter_replaced``).
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
from hanport.service.commands import ImportCustomers, ImportMeteringPoints, UpdateCustomer
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.repositories.ports import PortChange
from hanport.storage.uow import Repositories
from hanport.workflows import terminations
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
POINT_HEADER = (
    "metering_point_id",
    "customer_id",
    "meter_number",
    "municipality",
    "street",
    "postal_code",
    "city",
    "han_port",
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


def _import(
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


def import_customers(app: App, actor: Actor, cmd: ImportCustomers) -> ImportReport:
    now = app.clock.now()

    def save(uow: Repositories, item: Row, seen: set[str], _: list[str]) -> str:
        values = _customer_values(item.values)
        cid = item.values["customer_id"]
        if cid in seen:
            raise BadRow(f"customer {cid} appears twice in the file")
        seen.add(cid)
        return save_customer(uow, cid, values, now, actor, "import", app)

    return _import(app, actor, cmd.path, "customers", CUSTOMER_HEADER, save)


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
        outcome = save_customer(uow, cmd.customer, changes, app.clock.now(), actor, "cli", app)
        uow.commit()
    return outcome


# --- metering points --------------------------------------------------------------------------


def _point_values(app: App, v: dict[str, str], warnings: list[str], number: int) -> dict[str, Any]:
    try:
        gsrn = identifiers.validate_gsrn(v["metering_point_id"])
    except ValueError as exc:
        raise BadRow(f"metering_point_id: {exc}") from None
    meter = None
    if v["meter_number"]:
        try:
            meter, warns = identifiers.normalise_meter_number(v["meter_number"])
        except ValueError as exc:
            raise BadRow(f"meter_number: {exc}") from None
        warnings.extend(f"row {number}: {w}" for w in warns)
    municipality = v["municipality"]
    if not (len(municipality) == 4 and municipality.isdigit()):
        raise BadRow(f"municipality: {municipality!r} is not a 4-digit municipality number")
    if app.settings.area(municipality) is None:
        raise BadRow(
            f"municipality: {municipality} is not mapped to any workflow (configure it under [areas])"
        )
    port = (v["han_port"] or "").lower()
    if port not in ("none", "closed", "open"):
        raise BadRow(f"han_port: {v['han_port']!r} must be none, closed or open")
    if port != "none" and not meter:
        raise BadRow("meter_number: a meter with a HAN port needs its number")
    postal = None
    if v["postal_code"]:
        try:
            postal = identifiers.validate_postal_code(v["postal_code"])
        except ValueError as exc:
            raise BadRow(f"postal_code: {exc}") from None
    if not v["customer_id"]:
        raise BadRow("customer_id is empty")
    return {
        "gsrn": gsrn,
        "customer_id": v["customer_id"],
        "meter_number": meter,
        "municipality": municipality,
        "street": v["street"] or None,
        "postal_code": postal,
        "city": v["city"] or None,
        "han_port": port,
    }


def _save_point(
    app: App, uow: Repositories, p: dict[str, Any], now: datetime, actor: Actor, notes: list[str]
) -> str:
    reg = uow.registry
    customer = reg.customer(p["customer_id"])
    if customer is None:
        raise BadRow(
            f"customer_id: customer {p['customer_id']} is not registered (import customers first)"
        )
    current = reg.point(p["gsrn"])
    fields = {
        "customer_pk": customer["id"],
        "municipality": p["municipality"],
        "street": p["street"],
        "postal_code": p["postal_code"],
        "city": p["city"],
    }
    meter = p["meter_number"]
    if meter:
        for seen in uow.ports.meter_seen([meter]):
            if seen.gsrn != p["gsrn"]:
                raise BadRow(
                    f"meter_number: meter {meter} is registered on metering point {seen.gsrn}"
                )
    if current is None:
        return _new_point(uow, p, fields, customer["id"], now, actor)
    changed = {k: v for k, v in fields.items() if current[k] != v}
    if "customer_pk" in changed and current["han_port"] in ("open", "opening", "closing"):
        raise BadRow(
            f"customer_id: the point's customer changed to {p['customer_id']} while its port is "
            f"{current['han_port']}: not applied (a move-in closes the port through the nightly "
            "Elhub batch; a new customer starts with a closed port)"
        )
    closing = None
    if meter and meter != current["meter_number"]:
        # A meter replaced outside a swap case: the consent was for the old meter, so a port
        # open (or opening) under it closes, and the new meter starts closed.
        closing = _meter_replaced(app, uow, current, now)
        uow.ports.install_meters([(current["id"], meter, now, "import")])
        changed["meter_number"] = meter
        if current["han_port"] == "none" and p["han_port"] == "closed":
            changed["han_port"] = "closed"  # a new meter with a HAN port replaced one without
    if not changed:
        return "unchanged"
    if changed.pop("han_port", None):
        cause = f"meter {meter} with a HAN port imported"
        uow.ports.change(
            [
                PortChange(
                    current["id"],
                    "closed",
                    now,
                    cause,
                    False,
                    current["consent_id"],
                    None,
                    None,
                    None,
                )
            ]
        )
    reg.update_point(current["id"], {"updated_at": now, **changed})
    if closing is not None:
        decision, point, customer_pk = closing
        point.meter_number = meter
        data = {"old_meter": current["meter_number"], "new_meter": meter}
        holder = load.customer_of(uow, decision, customer_pk)
        case = terminations.open_auto_close(decision, point, holder, "meter_replaced", now, data)
        write(app, uow, decision)
        notes.append(
            f"meter {current['meter_number']} replaced by {meter} on {p['gsrn']}: the port "
            f"closes automatically ({case.ref})"
        )
    return "updated"


def _meter_replaced(app: App, uow: Repositories, current: dict[str, Any], now: datetime) -> Any:
    """Whose port a meter replacement closes: (decision, point, customer) or None."""
    decision = decision_for(app, REGISTRY, now, uow)
    load.into(decision, uow.cases.load("gsrn", [current["gsrn"]]))
    point = decision.points[current["id"]]
    consent = decision.consents.get(point.consent_id) if point.consent_id else None
    c = terminations.who_closes(point, consent, decision.others_on(point), "meter_replaced", None)
    return None if c.customer_pk is None else (decision, point, c.customer_pk)


def _new_point(
    uow: Repositories,
    p: dict[str, Any],
    fields: dict[str, Any],
    customer_pk: int,
    now: datetime,
    actor: Actor,
) -> str:
    reg, meter = uow.registry, p["meter_number"]
    pk = reg.insert_point(
        {
            "gsrn": p["gsrn"],
            "meter_number": meter,
            "han_port": p["han_port"],
            "port_since": now,
            "updated_at": now,
            **fields,
        }
    )
    if meter:
        uow.ports.install_meters([(pk, meter, now, "import")])
    consent = None
    if p["han_port"] == "open":
        consent = reg.insert_legacy_consent(
            {
                "customer_pk": customer_pk,
                "point_id": pk,
                "meter_number": meter,
                "source": "legacy_import",
                "recorded_at": now,
                "recorded_by": actor.name,
                "opened_at": now,
            }
        )
    why = "imported open: legacy consent" if consent else "imported"
    uow.ports.change([PortChange(pk, p["han_port"], now, why, True, consent, None, None, None)])
    return "inserted"


def import_points(app: App, actor: Actor, cmd: ImportMeteringPoints) -> ImportReport:
    now = app.clock.now()

    def save(uow: Repositories, item: Row, seen: set[str], warnings: list[str]) -> str:
        values = _point_values(app, item.values, warnings, item.number)
        if values["gsrn"] in seen:
            raise BadRow(f"metering point {values['gsrn']} appears twice in the file")
        seen.add(values["gsrn"])
        with uow.conn.begin_nested():  # a row that fails half-way leaves nothing behind
            return _save_point(app, uow, values, now, actor, warnings)

    return _import(app, actor, cmd.path, "metering-points", POINT_HEADER, save)

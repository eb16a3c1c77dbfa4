"""The customer and metering-point registry: CSV imports (upserts) and customer updates.

Customers keep their history (a snapshot per change). A metering point's HAN port state is taken
from the file only when the point is first imported; an imported ``open`` port is recorded under a
*legacy consent* so that ``audit port`` can name it. Later imports never change the port state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection

from hanport import identifiers
from hanport.adapters.csvfile import BadRow, Rejected, Row, rows, scan
from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.service import autoclose, roles
from hanport.service.cases import transaction
from hanport.service.casework import Actor
from hanport.service.meters import replace_meter
from hanport.storage import repository as repo

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
    conn: Connection,
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
    current = repo.customer_by_id(conn, customer_id)
    if current is None:
        pk = repo.insert_row(
            conn, repo.CUSTOMERS, customer_id=customer_id, version=1, updated_at=now, **values
        )
        version, outcome = 1, "inserted"
    else:
        if all(current[k] == values[k] for k in values):
            return "unchanged"
        pk, version, outcome = current["id"], current["version"] + 1, "updated"
        conn.execute(
            update(repo.CUSTOMERS)
            .where(repo.CUSTOMERS.c.id == pk)
            .values(version=version, updated_at=now, **values)
        )
        if "email" in values and values["email"] != current["email"]:
            _follow_address(conn, pk, values["email"], now, actor, app)
    merged = {**(current or {}), **values}
    conn.execute(
        insert(repo.CUSTOMER_HISTORY).values(
            customer_pk=pk,
            version=version,
            valid_from=now,
            changed_by=actor.name,
            source=source,
            snapshot=_snapshot(merged),
        )
    )
    return outcome


def _follow_address(
    conn: Connection,
    customer_pk: int,
    email: str | None,
    now: datetime,
    actor: Actor,
    app: App | None,
) -> None:
    """Unsent mail follows a changed address, recorded on the mail row: waiting mail goes to
    the new address (or waits as ``no_address``); dead mail takes it for its next retry."""
    from sqlalchemy import and_, select

    M, C = repo.MAIL, repo.CASES
    ids = select(C.c.id).where(C.c.customer_pk == customer_pk)
    note = f"recipient changed at {now.isoformat()} by {actor.name}"
    waiting = and_(M.c.case_id.in_(ids), M.c.status.in_(("pending", "no_address")))
    affected = [r[0] for r in conn.execute(select(M.c.case_id).where(waiting).distinct())]
    conn.execute(
        update(M)
        .where(waiting)
        .values(recipient=email, status="pending" if email else "no_address", last_error=note)
    )
    conn.execute(
        update(M)
        .where(and_(M.c.case_id.in_(ids), M.c.status == "dead"))
        .values(recipient=email, last_error=note)
    )
    if email is None and app is not None:
        from hanport.service.casework import Work, apply, finish

        for case_id in affected:
            row = repo.case_by_pk(conn, case_id)
            assert row is not None
            work = Work.for_row(app, conn, Actor.system("system", "registry"), now, row)
            if "no_email" not in work.case.flags:
                apply(work, "flag_no_email", {})
                finish(work)


RowSaver = Callable[[Connection, Row, set[str], list[str]], str]


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
                outcome = save(uow.conn, item, seen, warnings)
            except BadRow as exc:
                report.rejected.append(Rejected(item.number, str(exc)))
                continue
            report.warnings.extend(warnings)
            setattr(report, outcome, getattr(report, outcome) + 1)
        uow.commit()
    return report


def import_customers(app: App, actor: Actor, path: Path) -> ImportReport:
    now = app.clock.now()

    def save(conn: Connection, item: Row, seen: set[str], _: list[str]) -> str:
        values = _customer_values(item.values)
        cid = item.values["customer_id"]
        if cid in seen:
            raise BadRow(f"customer {cid} appears twice in the file")
        seen.add(cid)
        return save_customer(conn, cid, values, now, actor, "import", app)

    return _import(app, actor, path, "customers", CUSTOMER_HEADER, save)


def update_customer(
    app: App,
    actor: Actor,
    customer_id: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    language: str | None = None,
) -> str:
    roles.require_writer(actor)
    changes: dict[str, Any] = {}
    for name, value, check in (
        ("email", email, identifiers.validate_email),
        ("phone", phone, identifiers.normalise_phone),
    ):
        if value is None:
            continue
        try:
            changes[name] = check(value) if value.strip() else None
        except ValueError as exc:
            raise Refused(f"{name}: {exc}", field=name) from None
    if language is not None:
        if language not in ("nb", "en"):
            raise Refused(f"language: {language!r} must be nb or en", field="language")
        changes["language"] = language
    if not changes:
        raise Refused("nothing to change: give --email, --phone or --language")
    with transaction(app) as uow:
        if repo.customer_by_id(uow.conn, customer_id) is None:
            raise NotFound(f"customer {customer_id} not found")
        outcome = save_customer(uow.conn, customer_id, changes, app.clock.now(), actor, "cli", app)
        uow.commit()
    return outcome


def customer_view(app: App, customer_id: str) -> dict[str, Any]:
    from sqlalchemy import select

    from hanport.calendar import isoformat_utc

    with app.engine.connect() as conn:
        c = repo.customer_by_id(conn, customer_id)
        if c is None:
            raise NotFound(f"customer {customer_id} not found")
        history = (
            conn.execute(
                select(repo.CUSTOMER_HISTORY)
                .where(repo.CUSTOMER_HISTORY.c.customer_pk == c["id"])
                .order_by(repo.CUSTOMER_HISTORY.c.version)
            )
            .mappings()
            .all()
        )
        points = (
            conn.execute(
                select(repo.POINTS)
                .where(repo.POINTS.c.customer_pk == c["id"])
                .order_by(repo.POINTS.c.gsrn)
            )
            .mappings()
            .all()
        )
        cases = (
            conn.execute(
                select(repo.CASES.c.ref, repo.CASES.c.workflow, repo.CASES.c.state)
                .where(repo.CASES.c.customer_pk == c["id"])
                .order_by(repo.CASES.c.id)
            )
            .mappings()
            .all()
        )
    return {
        "customer": c["customer_id"],
        **{k: c[k] for k in CUSTOMER_FIELDS},
        "version": c["version"],
        "updated_at": isoformat_utc(c["updated_at"]),
        "history": [
            {
                "version": h["version"],
                "valid_from": isoformat_utc(h["valid_from"]),
                "changed_by": h["changed_by"],
                "source": h["source"],
                "snapshot": json.loads(h["snapshot"]),
            }
            for h in history
        ],
        "metering_points": [
            {
                "metering_point": p["gsrn"],
                "meter_number": p["meter_number"],
                "municipality": p["municipality"],
                "port": p["han_port"],
            }
            for p in points
        ],
        "cases": [dict(r) for r in cases],
    }


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
    app: App, conn: Connection, p: dict[str, Any], now: datetime, actor: Actor, notes: list[str]
) -> str:
    customer = repo.customer_by_id(conn, p["customer_id"])
    if customer is None:
        raise BadRow(
            f"customer_id: customer {p['customer_id']} is not registered (import customers first)"
        )
    current = repo.point_by_gsrn(conn, p["gsrn"])
    fields = {
        "customer_pk": customer["id"],
        "municipality": p["municipality"],
        "street": p["street"],
        "postal_code": p["postal_code"],
        "city": p["city"],
    }
    meter = p["meter_number"]
    if meter:
        for seen in repo.points_with_meter(conn, meter):
            if seen["gsrn"] != p["gsrn"]:
                raise BadRow(
                    f"meter_number: meter {meter} is registered on metering point {seen['gsrn']}"
                )
    if current is None:
        pk = repo.insert_row(
            conn,
            repo.POINTS,
            gsrn=p["gsrn"],
            meter_number=meter,
            han_port=p["han_port"],
            port_since=now,
            updated_at=now,
            **fields,
        )
        if meter:
            replace_meter(conn, pk, meter, now, source="import")
        consent = None
        if p["han_port"] == "open":
            consent = repo.insert_consent(
                conn,
                {
                    "customer_pk": customer["id"],
                    "point_id": pk,
                    "meter_number": meter,
                    "source": "legacy_import",
                    "recorded_at": now,
                    "recorded_by": actor.name,
                    "opened_at": now,
                },
            )
        why = "imported open: legacy consent" if consent else "imported"
        repo.set_port(conn, pk, p["han_port"], now, why, consent_id=consent)
        return "inserted"
    changed = {k: v for k, v in fields.items() if current[k] != v}
    if "customer_pk" in changed and current["han_port"] in ("open", "opening", "closing"):
        raise BadRow(
            f"customer_id: the point's customer changed to {p['customer_id']} while its port is "
            f"{current['han_port']}: not applied (a move-in closes the port through the nightly "
            "Elhub batch; a new customer starts with a closed port)"
        )
    auto_close = None
    if meter and meter != current["meter_number"]:
        # A meter replaced outside a swap case: the consent was for the old meter, so a port
        # open (or opening) under it closes, and the new meter starts closed.
        decision = autoclose.decide(conn, current, "meter_replaced", None)
        if decision.close_for is not None:
            auto_close = decision.close_for
        replace_meter(conn, current["id"], meter, now, source="import")
        changed["meter_number"] = meter
        if current["han_port"] == "none" and p["han_port"] == "closed":
            # A new meter with a HAN port replaced one without.
            changed["han_port"] = "closed"
    if not changed:
        return "unchanged"
    if changed.pop("han_port", None):
        repo.set_port(conn, current["id"], "closed", now, f"meter {meter} with a HAN port imported")
    repo.update_point(conn, current["id"], updated_at=now, **changed)
    if auto_close is not None:
        point = repo.point_by_pk(conn, current["id"])
        assert point is not None
        work = autoclose.open_auto_close(
            app,
            conn,
            Actor.system("system", "registry"),
            now,
            point,
            auto_close,
            "meter_replaced",
            now,
            {"old_meter": current["meter_number"], "new_meter": meter},
        )
        notes.append(
            f"meter {current['meter_number']} replaced by {meter} on {p['gsrn']}: the port "
            f"closes automatically ({work.case.ref})"
        )
    return "updated"


def import_points(app: App, actor: Actor, path: Path) -> ImportReport:
    now = app.clock.now()

    def save(conn: Connection, item: Row, seen: set[str], warnings: list[str]) -> str:
        values = _point_values(app, item.values, warnings, item.number)
        if values["gsrn"] in seen:
            raise BadRow(f"metering point {values['gsrn']} appears twice in the file")
        seen.add(values["gsrn"])
        with conn.begin_nested():  # a row that fails half-way leaves nothing behind
            return _save_point(app, conn, values, now, actor, warnings)

    return _import(app, actor, path, "metering-points", POINT_HEADER, save)

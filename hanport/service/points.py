"""The registry's metering points: the CSV import (upserts).

A metering point's HAN port state is taken from the file only when the point is first imported;
an imported ``open`` port is recorded under a *legacy consent* so that ``audit port`` can name it.
Later imports never change the port state; a changed meter number on an open port closes it
automatically (``meter_replaced``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hanport import identifiers
from hanport.adapters.csvfile import BadRow, Row
from hanport.bootstrap import App
from hanport.service import load
from hanport.service.commands import ImportMeteringPoints
from hanport.service.policy import decision_for
from hanport.service.registry import REGISTRY, ImportReport, import_rows
from hanport.service.writer import write
from hanport.storage.repositories.ports import PortChange
from hanport.storage.uow import Repositories
from hanport.workflows import terminations
from hanport.workflows.definition import Actor

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
    _meter_free(uow, p)
    if current is None:
        return _new_point(uow, p, fields, customer["id"], now, actor)
    changed = {k: v for k, v in fields.items() if current[k] != v}
    if "customer_pk" in changed and current["han_port"] in ("open", "opening", "closing"):
        raise BadRow(
            f"customer_id: the point's customer changed to {p['customer_id']} while its port is "
            f"{current['han_port']}: not applied (a move-in closes the port through the nightly "
            "Elhub batch; a new customer starts with a closed port)"
        )
    meter = p["meter_number"]
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
        change = PortChange(
            current["id"], "closed", now, cause, False, current["consent_id"], None, None, None
        )
        uow.ports.change([change])
    reg.update_point(current["id"], {"updated_at": now, **changed})
    if closing is not None:
        notes.append(_close_replaced(app, uow, closing, current, p, now))
    return "updated"


def _meter_free(uow: Repositories, p: dict[str, Any]) -> None:
    """The file's meter number is not registered on another point."""
    meter = p["meter_number"]
    if not meter:
        return
    for seen in uow.ports.meter_seen([meter]):
        if seen.gsrn != p["gsrn"]:
            raise BadRow(f"meter_number: meter {meter} is registered on metering point {seen.gsrn}")


def _close_replaced(
    app: App,
    uow: Repositories,
    closing: tuple[Any, Any, int],
    current: dict[str, Any],
    p: dict[str, Any],
    now: datetime,
) -> str:
    """The automatic close of a port whose meter was replaced; the note saying so."""
    decision, point, customer_pk = closing
    meter = p["meter_number"]
    point.meter_number = meter
    data = {"old_meter": current["meter_number"], "new_meter": meter}
    holder = load.customer_of(uow, decision, customer_pk)
    case = terminations.open_auto_close(decision, point, holder, "meter_replaced", now, data)
    write(app, uow, decision)
    return (
        f"meter {current['meter_number']} replaced by {meter} on {p['gsrn']}: the port "
        f"closes automatically ({case.ref})"
    )


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

    return import_rows(app, actor, cmd.path, "metering-points", POINT_HEADER, save)

"""Queries on a held connection, in SQLAlchemy Core: the hot path of every command.

Rows come back as plain dicts. Nothing here commits: the unit of work does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert, Update

from hanport.storage import tables as t
from hanport.storage.hashing import canonical_json

CASES, EVENTS, NOTES, TIMERS = t.CASES, t.EVENTS, t.NOTES, t.TIMERS
CONSENTS, MAIL, HES, POINTS, METERS = t.CONSENTS, t.MAIL, t.HES, t.POINTS, t.METERS
CUSTOMERS, CUSTOMER_HISTORY, IDEMPOTENCY = t.CUSTOMERS, t.CUSTOMER_HISTORY, t.IDEMPOTENCY
META, PORT_EVENTS = t.META, t.PORT_EVENTS


def _pk(result: Any) -> int:
    """The primary key of the row an INSERT just wrote."""
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# Statements are built once and executed with parameters: building them per call (``.values(**kw)``)
# cost more than the database work on the hot path.


@cache
def _insert(table: Table) -> Insert:
    return insert(table)


@cache
def _update_by_id(table: Table, keys: tuple[str, ...]) -> Update:
    return (
        update(table)
        .where(table.c.id == bindparam("pk_"))
        .values({k: bindparam(f"v_{k}") for k in keys})
    )


def _set_by_id(conn: Connection, table: Table, pk: int, values: Mapping[str, Any]) -> int:
    params = {f"v_{k}": v for k, v in values.items()}
    params["pk_"] = pk
    return int(conn.execute(_update_by_id(table, tuple(values)), params).rowcount)


def insert_row(conn: Connection, table: Table, **values: Any) -> int:
    return _pk(conn.execute(_insert(table), values))


def _one(conn: Connection, stmt: Any, **params: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt, params).mappings().first()
    return dict(row) if row is not None else None


_CUSTOMER_BY_ID = select(CUSTOMERS).where(CUSTOMERS.c.customer_id == bindparam("customer_id"))
_CUSTOMER_BY_PK = select(CUSTOMERS).where(CUSTOMERS.c.id == bindparam("pk"))
_POINT_BY_GSRN = select(POINTS).where(POINTS.c.gsrn == bindparam("gsrn"))
_POINT_BY_PK = select(POINTS).where(POINTS.c.id == bindparam("pk"))
_POINT_CONSENT = select(POINTS.c.consent_id).where(POINTS.c.id == bindparam("pk"))
_CASE_BY_REF = select(CASES).where(CASES.c.ref == bindparam("ref"))
# A case with its metering point and customer in one round trip: (case, point, customer) columns
# are labelled ``c_*``, ``p_*``, ``u_*``.
_CASE_FULL_BY_REF = (
    select(
        *(col.label(f"c_{col.name}") for col in CASES.c),
        *(col.label(f"p_{col.name}") for col in POINTS.c),
        *(col.label(f"u_{col.name}") for col in CUSTOMERS.c),
    )
    .join(POINTS, POINTS.c.id == CASES.c.point_id)
    .join(CUSTOMERS, CUSTOMERS.c.id == CASES.c.customer_pk)
    .where(CASES.c.ref == bindparam("ref"))
)
_CASE_BY_PK = select(CASES).where(CASES.c.id == bindparam("pk"))
_HOLDING_CASE = select(CASES).where(
    and_(CASES.c.point_id == bindparam("point_id"), CASES.c.holds_port)
)
_CONSENT_BY_PK = select(CONSENTS).where(CONSENTS.c.id == bindparam("pk"))
_CAS_CASE: dict[tuple[str, ...], Update] = {}
_TIMER_STARTED = select(func.count()).where(
    and_(TIMERS.c.case_id == bindparam("case_id"), TIMERS.c.name == bindparam("name"))
)
_END_CONSENT = (
    update(CONSENTS)
    .where(and_(CONSENTS.c.id == bindparam("pk"), CONSENTS.c.ended_at.is_(None)))
    .values(ended_at=bindparam("v_ended_at"), end_reason=bindparam("v_end_reason"))
)
_ACK_LATEST_HES = (
    update(HES)
    .where(
        HES.c.id
        == select(func.max(HES.c.id))
        .where(and_(HES.c.case_id == bindparam("w_case"), HES.c.action == bindparam("w_action")))
        .scalar_subquery(),
        HES.c.status.in_(("pending", "sent")),
    )
    .values(
        status=bindparam("v_status"), done_at=bindparam("v_done_at"), result=bindparam("v_result")
    )
)


# --- meta -------------------------------------------------------------------------------------


def meta_get(conn: Connection, key: str) -> str | None:
    return conn.execute(select(META.c.value).where(META.c.key == key)).scalar_one_or_none()


def meta_set(conn: Connection, key: str, value: str) -> None:
    if conn.execute(update(META).where(META.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(insert(META).values(key=key, value=value))


def meta_setdefault(conn: Connection, key: str, value: str) -> str:
    """Insert ``value`` unless a row exists; return the stored value (first writer wins)."""
    current = meta_get(conn, key)
    if current is not None:
        return current
    try:
        with conn.begin_nested():
            conn.execute(insert(META).values(key=key, value=value))
    except IntegrityError:
        pass
    stored = meta_get(conn, key)
    assert stored is not None
    return stored


# --- customers and metering points ------------------------------------------------------------


def customer_by_id(conn: Connection, customer_id: str) -> dict[str, Any] | None:
    return _one(conn, _CUSTOMER_BY_ID, customer_id=customer_id)


def customer_by_pk(conn: Connection, pk: int) -> dict[str, Any] | None:
    return _one(conn, _CUSTOMER_BY_PK, pk=pk)


def point_by_gsrn(conn: Connection, gsrn: str) -> dict[str, Any] | None:
    return _one(conn, _POINT_BY_GSRN, gsrn=gsrn)


def point_by_pk(conn: Connection, pk: int) -> dict[str, Any] | None:
    return _one(conn, _POINT_BY_PK, pk=pk)


def points_with_meter(conn: Connection, meter_number: str) -> list[dict[str, Any]]:
    """Every time this meter number sat on a point, newest first."""
    stmt = (
        select(METERS, POINTS.c.gsrn)
        .join(POINTS, POINTS.c.id == METERS.c.point_id)
        .where(METERS.c.meter_number == meter_number)
        .order_by(METERS.c.valid_from.desc(), METERS.c.id.desc())
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


_KEEP: Any = object()


def set_port(
    conn: Connection,
    point_id: int,
    state: str,
    at: datetime,
    cause: str,
    *,
    consent_id: Any = _KEEP,
    case_id: int | None = None,
    hes_command_id: int | None = None,
    **values: Any,
) -> None:
    """Change a point's port state (and, if given, the consent behind it), appending the
    change to its timeline. Every port change goes through here."""
    updates = {"han_port": state, "port_since": at, "updated_at": at, **values}
    if consent_id is not _KEEP:
        updates["consent_id"] = consent_id
        _set_by_id(conn, POINTS, point_id, updates)
    elif conn.dialect.update_returning:  # the consent kept, read back in the same round trip
        params = {f"v_{k}": v for k, v in updates.items()}
        params["pk_"] = point_id
        stmt = _update_by_id(POINTS, tuple(updates)).returning(POINTS.c.consent_id)
        consent_id = conn.execute(stmt, params).scalar_one()
    else:
        _set_by_id(conn, POINTS, point_id, updates)
        consent_id = conn.execute(_POINT_CONSENT, {"pk": point_id}).scalar()
    conn.execute(
        _insert(PORT_EVENTS),
        {
            "point_id": point_id,
            "at": at,
            "state": state,
            "consent_id": consent_id,
            "cause": cause,
            "case_id": case_id,
            "hes_command_id": hes_command_id,
        },
    )


def update_point(conn: Connection, pk: int, **values: Any) -> None:
    _set_by_id(conn, POINTS, pk, values)


# --- cases ------------------------------------------------------------------------------------


def case_by_ref(conn: Connection, ref: str) -> dict[str, Any] | None:
    return _one(conn, _CASE_BY_REF, ref=ref)


def case_full_by_ref(
    conn: Connection, ref: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]] | None:
    """The case, its metering point and its customer."""
    row = _one(conn, _CASE_FULL_BY_REF, ref=ref)
    if row is None:
        return None
    parts: dict[str, dict[str, Any]] = {"c": {}, "p": {}, "u": {}}
    for key, value in row.items():
        parts[key[0]][key[2:]] = value
    return parts["c"], parts["p"], parts["u"]


def cases_full_by_pks(
    conn: Connection, pks: list[int]
) -> dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Several cases with their points and customers, by case id, in one round trip."""
    stmt = (
        select(*_CASE_FULL_BY_REF.selected_columns)
        .join_from(CASES, POINTS, POINTS.c.id == CASES.c.point_id)
        .join(CUSTOMERS, CUSTOMERS.c.id == CASES.c.customer_pk)
        .where(CASES.c.id.in_(pks))
    )
    out = {}
    for row in conn.execute(stmt).mappings():
        parts: dict[str, dict[str, Any]] = {"c": {}, "p": {}, "u": {}}
        for key, value in row.items():
            parts[key[0]][key[2:]] = value
        out[parts["c"]["id"]] = (parts["c"], parts["p"], parts["u"])
    return out


def case_by_pk(conn: Connection, pk: int) -> dict[str, Any] | None:
    return _one(conn, _CASE_BY_PK, pk=pk)


def holding_case(conn: Connection, point_id: int) -> dict[str, Any] | None:
    return _one(conn, _HOLDING_CASE, point_id=point_id)


def active_cases_for_point(conn: Connection, point_id: int) -> list[dict[str, Any]]:
    stmt = select(CASES).where(and_(CASES.c.point_id == point_id, CASES.c.active))
    return [dict(r) for r in conn.execute(stmt.order_by(CASES.c.id)).mappings()]


def insert_case(conn: Connection, values: Mapping[str, Any]) -> int:
    return _pk(conn.execute(_insert(CASES), dict(values)))


_CLAIM_CASE = (
    update(CASES)
    .where(and_(CASES.c.id == bindparam("pk_"), CASES.c.version == bindparam("expected_")))
    .values(version=CASES.c.version)
)


def claim_case(conn: Connection, pk: int, expected_version: int) -> bool:
    """Lock the case row if it is still at ``expected_version`` (False: someone else changed it).
    Done before a command's first write, so a loser writes nothing and waits for nothing more."""
    return conn.execute(_CLAIM_CASE, {"pk_": pk, "expected_": expected_version}).rowcount == 1


def set_case_ref(conn: Connection, pk: int, ref: str) -> None:
    _set_by_id(conn, CASES, pk, {"ref": ref})


def cas_update_case(
    conn: Connection, pk: int, expected_version: int, values: Mapping[str, Any]
) -> bool:
    """Compare-and-swap on ``version``: False when someone else changed the case first."""
    keys = tuple(values)
    stmt = _CAS_CASE.get(keys)
    if stmt is None:
        stmt = _CAS_CASE[keys] = (
            update(CASES)
            .where(and_(CASES.c.id == bindparam("pk_"), CASES.c.version == bindparam("expected_")))
            .values({k: bindparam(f"v_{k}") for k in keys})
        )
    params = {f"v_{k}": v for k, v in values.items()}
    params.update(pk_=pk, expected_=expected_version)
    return conn.execute(stmt, params).rowcount == 1


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_insert(EVENTS), rows)


def events_for_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    stmt = select(EVENTS).where(EVENTS.c.case_id == case_id).order_by(EVENTS.c.seq)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def insert_note(conn: Connection, values: Mapping[str, Any]) -> int:
    return _pk(conn.execute(_insert(NOTES), dict(values)))


# --- timers -----------------------------------------------------------------------------------


def insert_timer(conn: Connection, values: Mapping[str, Any]) -> int:
    return _pk(conn.execute(_insert(TIMERS), dict(values)))


def timer_started(conn: Connection, case_id: int, name: str) -> bool:
    return bool(conn.execute(_TIMER_STARTED, {"case_id": case_id, "name": name}).scalar_one())


_CANCEL_ALL_TIMERS = (
    update(TIMERS)
    .where(and_(TIMERS.c.case_id == bindparam("w_case"), TIMERS.c.status == "pending"))
    .values(status="cancelled", ended_at=bindparam("v_when"), outcome=bindparam("v_outcome"))
)
_CANCEL_NAMED_TIMERS = _CANCEL_ALL_TIMERS.where(
    TIMERS.c.name.in_(bindparam("w_names", expanding=True))
)


def cancel_timers(
    conn: Connection, case_id: int, names: Iterable[str] | None, when: datetime, outcome: str
) -> int:
    """Cancel the case's pending timers (all, or those named)."""
    params: dict[str, Any] = {"w_case": case_id, "v_when": when, "v_outcome": outcome}
    if names is None:
        return int(conn.execute(_CANCEL_ALL_TIMERS, params).rowcount)
    params["w_names"] = list(names)
    if not params["w_names"]:
        return 0
    return int(conn.execute(_CANCEL_NAMED_TIMERS, params).rowcount)


def pending_timers(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    stmt = (
        select(TIMERS)
        .where(and_(TIMERS.c.case_id == case_id, TIMERS.c.status == "pending"))
        .order_by(TIMERS.c.due_at)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


# --- consents, mail, HES ----------------------------------------------------------------------


def insert_consent(conn: Connection, values: Mapping[str, Any]) -> int:
    return _pk(conn.execute(_insert(CONSENTS), dict(values)))


def consent_by_pk(conn: Connection, pk: int) -> dict[str, Any] | None:
    return _one(conn, _CONSENT_BY_PK, pk=pk)


def update_consent(conn: Connection, pk: int, **values: Any) -> None:
    _set_by_id(conn, CONSENTS, pk, values)


def end_consent(conn: Connection, pk: int, when: datetime, reason: str) -> bool:
    """End a live consent; False if it had already ended."""
    params = {"pk": pk, "v_ended_at": when, "v_end_reason": reason}
    return conn.execute(_END_CONSENT, params).rowcount == 1


def insert_mail(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_insert(MAIL), rows)


def update_mail(conn: Connection, pk: int, **values: Any) -> None:
    _set_by_id(conn, MAIL, pk, values)


def mail_for_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    stmt = select(MAIL).where(MAIL.c.case_id == case_id).order_by(MAIL.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def insert_hes(conn: Connection, values: Mapping[str, Any]) -> int:
    return _pk(conn.execute(_insert(HES), dict(values)))


def latest_hes(conn: Connection, case_id: int, action: str) -> dict[str, Any] | None:
    stmt = (
        select(HES)
        .where(and_(HES.c.case_id == case_id, HES.c.action == action))
        .order_by(HES.c.id.desc())
        .limit(1)
    )
    return _one(conn, stmt)


def ack_latest_hes(
    conn: Connection, case_id: int, action: str, status: str, when: datetime, result: str | None
) -> bool:
    """Settle the case's newest ``action`` command if it is still pending or sent."""
    params = {
        "w_case": case_id,
        "w_action": action,
        "v_status": status,
        "v_done_at": when,
        "v_result": result,
    }
    return conn.execute(_ACK_LATEST_HES, params).rowcount == 1


# A command that may still change its point's port: not settled yet (pending, sent), or counted
# as failed with the gateway's answer still to come.
HES_OUT = or_(
    HES.c.status.in_(("pending", "sent")),
    and_(HES.c.status == "failed", HES.c.ack_due_at.is_not(None)),
)


@cache
def _hes_out_for_others() -> Any:
    return (
        select(HES.c.id, HES.c.action, HES.c.status, CASES.c.ref)
        .join(CASES, CASES.c.id == HES.c.case_id)
        .where(
            HES.c.point_id == bindparam("point_id"),
            HES.c.case_id != bindparam("case_id"),
            HES_OUT,
        )
        .order_by(HES.c.id)
    )


def hes_out_for_others(conn: Connection, point_id: int, case_id: int) -> list[dict[str, Any]]:
    """Commands of other cases for the point that may still change its port (``HES_OUT``)."""
    rows = conn.execute(_hes_out_for_others(), {"point_id": point_id, "case_id": case_id})
    return [dict(r) for r in rows.mappings()]


def update_hes(conn: Connection, pk: int, **values: Any) -> None:
    _set_by_id(conn, HES, pk, values)


def hes_for_case(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    stmt = select(HES).where(HES.c.case_id == case_id).order_by(HES.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


# --- idempotency ------------------------------------------------------------------------------


def idempotency_get(conn: Connection, kind: str, key: str) -> dict[str, Any] | None:
    stmt = select(IDEMPOTENCY).where(and_(IDEMPOTENCY.c.kind == kind, IDEMPOTENCY.c.key == key))
    row = _one(conn, stmt)
    if row is not None:
        row["result"] = json.loads(row["result"])
    return row


def idempotency_put(
    conn: Connection,
    kind: str,
    key: str,
    request_hash: str,
    case_id: int | None,
    result: Mapping[str, Any],
    when: datetime,
) -> None:
    conn.execute(
        insert(IDEMPOTENCY).values(
            kind=kind,
            key=key,
            request_hash=request_hash,
            case_id=case_id,
            result=canonical_json(dict(result)),
            created_at=when,
        )
    )

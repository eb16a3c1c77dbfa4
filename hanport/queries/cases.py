"""Reading cases: what ``case show`` and ``case list`` print."""

from __future__ import annotations

from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.storage import repository as repo


def _case_row(row: dict[str, Any]) -> Any:
    import json
    from types import SimpleNamespace

    return SimpleNamespace(
        **{
            **row,
            "active": bool(row["active"]),
            "holds_port": bool(row["holds_port"]),
            "flags": list(json.loads(row["flags"])),
            "data": dict(json.loads(row["data"])),
        }
    )


def case_view(app: App, ref: str) -> dict[str, Any]:
    """Everything ``case show`` prints: state, flags, allowed triggers with their fields,
    pending timers, mail and the history."""
    import json

    from hanport.calendar import format_local

    ref = ref.strip().upper()
    with app.engine.connect() as conn:
        row = repo.case_by_ref(conn, ref)
        if row is None:
            raise NotFound(f"case {ref} not found")
        case = _case_row(row)
        point = repo.point_by_pk(conn, case.point_id) or {}
        customer = repo.customer_by_pk(conn, case.customer_pk) or {}
        events = repo.events_for_case(conn, case.id)
        timers = repo.pending_timers(conn, case.id)
        mails = repo.mail_for_case(conn, case.id)
        hes = repo.hes_for_case(conn, case.id)
        consent = (
            repo.consent_by_pk(conn, case.data["consent_id"])
            if case.data.get("consent_id")
            else None
        )
    wf = workflows.get(case.workflow, case.workflow_version)
    allowed = []
    for trig in wf.allowed(case.state):
        ts = [t for t in wf.transitions_for(trig) if case.state in t.source]
        if all(t.role.value == "system" and not t.also for t in ts):
            continue
        allowed.append(
            {
                "trigger": trig,
                "help": next((t.help for t in ts if not t.guards), ts[0].help),
                "role": ts[0].role.value,
                "fields": [
                    {
                        "name": f.name,
                        "required": f.required,
                        "help": f.help,
                        **({"choices": list(f.choices)} if f.choices else {}),
                    }
                    for f in wf.fields_for(trig)
                ],
                "note_required": any(t.note_required for t in ts),
            }
        )
    return {
        "case": case.ref,
        "workflow": case.workflow,
        "workflow_version": case.workflow_version,
        "state": case.state,
        "state_help": wf.state(case.state).help,
        "version": case.version,
        "active": case.active,
        "flags": case.flags,
        "metering_point": point.get("gsrn"),
        "meter_number": point.get("meter_number"),
        "port": point.get("han_port"),
        "customer": customer.get("customer_id"),
        "created_at": isoformat_utc(case.created_at),
        "allowed": allowed,
        "timers": [
            {
                "name": t["name"],
                "trigger": t["trigger"],
                "due_at": isoformat_utc(t["due_at"]),
                "due_local": format_local(t["due_at"]),
            }
            for t in timers
        ],
        "consent": None
        if consent is None
        else {
            "id": consent["id"],
            "signer_role": consent["signer_role"],
            "channel": consent["channel"],
            "address_match": consent["address_match"],
            "declaration_version": consent["declaration_version"],
            "ended_at": isoformat_utc(consent["ended_at"]) if consent["ended_at"] else None,
            "end_reason": consent["end_reason"],
        },
        "hes_commands": [
            {"id": h["id"], "action": h["action"], "status": h["status"], "attempt": h["attempt"]}
            for h in hes
        ],
        "mail": [
            {"id": m["id"], "template": m["template"], "status": m["status"], "seq": m["seq"]}
            for m in mails
        ],
        "history": [
            {
                "seq": e["seq"],
                "at": isoformat_utc(e["occurred_at"]),
                "at_local": format_local(e["occurred_at"]),
                "actor": e["actor"],
                "actor_kind": e["actor_kind"],
                "trigger": e["trigger"],
                "from": e["from_state"],
                "to": e["to_state"],
                "data": json.loads(e["data"]),
                "hash": e["hash"],
            }
            for e in events
        ],
    }


def list_cases(
    app: App,
    *,
    workflow: str | None = None,
    state: str | None = None,
    customer: str | None = None,
    metering_point: str | None = None,
    attention: bool = False,
    overdue: bool = False,
    limit: int = 500,
) -> list[dict[str, Any]]:
    import json

    from sqlalchemy import and_, exists, or_, select

    C, P, U, T = repo.CASES, repo.POINTS, repo.CUSTOMERS, repo.TIMERS
    stmt = (
        select(
            C.c.ref, C.c.workflow, C.c.state, C.c.flags, C.c.updated_at, P.c.gsrn, U.c.customer_id
        )
        .join(P, P.c.id == C.c.point_id)
        .join(U, U.c.id == C.c.customer_pk)
    )
    conds = []
    if workflow:
        conds.append(C.c.workflow == workflows.canonical_name(workflow))
    if state:
        conds.append(C.c.state == state.replace("-", "_"))
    if customer:
        conds.append(U.c.customer_id == customer)
    if metering_point:
        conds.append(P.c.gsrn == metering_point)
    if attention:
        conds.append(or_(C.c.flags != "[]", C.c.state.in_(("needs_attention", "address_review"))))
    if overdue:
        now = app.clock.now()
        conds.append(
            or_(
                C.c.flags.like('%"sla_breached"%'),
                exists().where(
                    and_(T.c.case_id == C.c.id, T.c.status == "pending", T.c.due_at <= now)
                ),
            )
        )
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(C.c.id).limit(limit)
    with app.engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "case": r["ref"],
            "workflow": r["workflow"],
            "state": r["state"],
            "flags": json.loads(r["flags"]),
            "metering_point": r["gsrn"],
            "customer": r["customer_id"],
            "updated_at": isoformat_utc(r["updated_at"]),
        }
        for r in rows
    ]

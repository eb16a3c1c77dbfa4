"""Auditing: verify the tamper-evident history, checkpoint it, replay cases, answer "was the
port of this metering point open at T, and under which consent?", export a case's evidence.

Everything here reads; nothing writes. ``verify`` recomputes every hash from the stored fields
and streams the events in (case, seq) order, so memory stays flat however long the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, select, type_coerce

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import format_local, isoformat_utc
from hanport.errors import NotFound
from hanport.storage import repository as repo
from hanport.storage.hashing import GENESIS, canonical_event_text, chain_hash_text
from hanport.workflows.runner import NotAllowed


@dataclass
class Problem:
    case: str
    seq: int | None
    what: str

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case, "seq": self.seq, "what": self.what}


@dataclass
class VerifyReport:
    cases: int = 0
    events: int = 0
    points: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cases": self.cases,
            "events": self.events,
            "points": self.points,
            "problems": [p.as_dict() for p in self.problems],
        }


# --- verify -----------------------------------------------------------------------------------


def _sqlite_instant(raw: str) -> str:
    """``isoformat_utc`` of a naive UTC timestamp as SQLite stores it
    (``YYYY-MM-DD HH:MM:SS.ffffff``), without building a datetime: verify's hot path."""
    micro = raw[20:26]
    return f"{raw[:10]}T{raw[11:19]}{'' if not micro or micro == '000000' else '.' + micro}+00:00"


def _rows(conn: Any, ref: str | None) -> Iterator[Any]:
    """Events joined with their case, in (case, seq) order, streamed. On SQLite the instant
    comes as the stored text (see ``_sqlite_instant``)."""
    E, C = repo.EVENTS, repo.CASES
    occurred: Any = E.c.occurred_at
    if conn.dialect.name == "sqlite":
        occurred = type_coerce(E.c.occurred_at, String)
    stmt = (
        select(
            C.c.id,
            C.c.ref,
            C.c.workflow,
            C.c.state,
            C.c.version,
            C.c.last_hash,
            E.c.id,
            E.c.seq,
            occurred,
            E.c.actor,
            E.c.actor_kind,
            E.c.trigger,
            E.c.from_state,
            E.c.to_state,
            E.c.workflow_version,
            E.c.data,
            E.c.prev_hash,
            E.c.hash,
            E.c.case_id,
        )
        .join_from(E, C, C.c.id == E.c.case_id, isouter=True)
        .order_by(E.c.case_id, E.c.seq)
    )
    if ref is not None:
        stmt = stmt.where(C.c.ref == ref)
    yield from conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt)


def _check_case_end(
    case: tuple[Any, ...], last_seq: int, last_to: str, head: str, report: VerifyReport
) -> None:
    _, ref, _, state, version, last_hash = case
    if last_hash != head:
        report.problems.append(
            Problem(ref, last_seq, "the case's chain head differs from its last event's hash")
        )
    if version != last_seq:
        report.problems.append(
            Problem(
                ref,
                last_seq,
                f"the case is at version {version} but its last event is seq {last_seq}",
            )
        )
    if state != last_to:
        report.problems.append(
            Problem(ref, last_seq, f"the case is {state} but its last event leads to {last_to}")
        )


def verify(
    app: App, ref: str | None = None, checkpoint: dict[str, Any] | None = None
) -> VerifyReport:
    """Recompute every hash and check every chain; with a checkpoint, also catch truncated or
    recomputed chains and deleted cases. Then check derived state (cases, ports). Streams the
    events: memory stays flat however long the history."""
    report = VerifyReport()
    C = repo.CASES
    with app.engine.connect() as conn:
        if ref is not None and conn.execute(select(C.c.id).where(C.c.ref == ref)).first() is None:
            raise NotFound(f"case {ref} not found")
        case: tuple[Any, ...] | None = None
        expected_seq, head, last_seq, last_to, last_id = 1, GENESIS, 0, "", -1
        problems = report.problems
        instant = _sqlite_instant if conn.dialect.name == "sqlite" else isoformat_utc
        orphan = None
        for row in _rows(conn, ref):
            (cid, cref, workflow, *_), ev = row[:6], row[6:-1]
            eid, seq, occurred, actor, kind, trigger, frm, to, wv, data, prev, stored = ev
            if cid is None:  # the case row is gone: name it once, its events cannot be checked
                report.events += 1
                if row[-1] != orphan:
                    if case is not None:
                        _check_case_end(case, last_seq, last_to, head, report)
                        case = None
                    orphan = row[-1]
                    report.cases += 1
                    problems.append(
                        Problem(
                            f"case #{orphan}",
                            None,
                            "events exist for a case that does not (its case row was deleted)",
                        )
                    )
                continue
            if case is None or cid != case[0]:
                if case is not None:
                    _check_case_end(case, last_seq, last_to, head, report)
                case = tuple(row[:6])
                expected_seq, head, last_id = 1, GENESIS, -1
                report.cases += 1
            report.events += 1
            if seq != expected_seq:
                what = (
                    f"events {expected_seq}..{seq - 1} are missing (removed)"
                    if seq > expected_seq
                    else f"seq {seq} out of order"
                )
                problems.append(Problem(cref, seq, what))
            if prev != head:
                problems.append(
                    Problem(
                        cref,
                        seq,
                        "the chain is broken here: its previous hash is not the hash of the event before it (an event was removed, inserted or reordered)",
                    )
                )
            text = canonical_event_text(
                case_ref=cref,
                seq=seq,
                occurred_at=instant(occurred),
                actor=actor,
                actor_kind=kind,
                trigger=trigger,
                from_state=frm,
                to_state=to,
                workflow=workflow or "?",
                workflow_version=wv,
                data_json=data,
            )
            recomputed = chain_hash_text(prev, text)
            if recomputed != stored:
                problems.append(
                    Problem(
                        cref,
                        seq,
                        f"the event was changed: its stored fields hash to {recomputed[:12]}…, not {stored[:12]}…",
                    )
                )
            if eid < last_id:
                problems.append(
                    Problem(cref, seq, "the event's global sequence runs backwards (reordered)")
                )
            last_id, expected_seq, head, last_seq, last_to = eid, seq + 1, stored, seq, to
        if case is not None:
            _check_case_end(case, last_seq, last_to, head, report)
        E = repo.EVENTS
        empty = select(C.c.ref).where(~select(E.c.id).where(E.c.case_id == C.c.id).exists())
        if ref is not None:
            empty = empty.where(C.c.ref == ref)
        for (empty_ref,) in conn.execute(empty):
            report.cases += 1
            problems.append(Problem(empty_ref, None, "the case has no events"))
        if checkpoint is not None:
            _against_checkpoint(conn, checkpoint, ref, report)
        if ref is None:
            _check_ports(conn, report)
    return report


def _against_checkpoint(
    conn: Any, cp: dict[str, Any], ref: str | None, report: VerifyReport
) -> None:
    E, C = repo.EVENTS, repo.CASES
    heads: dict[str, list[Any]] = cp.get("cases", {})
    if _digest(heads, cp.get("max_event_id")) != cp.get("digest"):
        report.problems.append(
            Problem("checkpoint", None, "the checkpoint file itself was altered (digest mismatch)")
        )
    for case_ref, (seq, h) in heads.items():
        if ref is not None and case_ref != ref:
            continue
        row = conn.execute(select(C.c.id).where(C.c.ref == case_ref)).first()
        if row is None:
            report.problems.append(
                Problem(case_ref, None, "the case was deleted since the checkpoint")
            )
            continue
        got = conn.execute(select(E.c.hash).where(E.c.case_id == row[0], E.c.seq == seq)).scalar()
        if got is None:
            report.problems.append(
                Problem(
                    case_ref, seq, f"the chain was truncated: seq {seq}, in the checkpoint, is gone"
                )
            )
        elif got != h:
            report.problems.append(
                Problem(
                    case_ref,
                    seq,
                    "the chain was rewritten: seq {seq}'s hash differs from the checkpoint's (recomputed chain)".replace(
                        "{seq}", str(seq)
                    ),
                )
            )


def _check_ports(conn: Any, report: VerifyReport) -> None:
    """Each point's port state is the last state of its timeline."""
    P, PE = repo.POINTS, repo.PORT_EVENTS
    last: dict[int, Any] = {}
    for pe in conn.execute(
        select(PE.c.point_id, PE.c.state, PE.c.consent_id).order_by(PE.c.point_id, PE.c.id)
    ):
        last[pe[0]] = pe
    for p in conn.execute(select(P.c.id, P.c.gsrn, P.c.han_port, P.c.consent_id)).mappings():
        report.points += 1
        ev = last.get(p["id"])
        if ev is None:
            report.problems.append(
                Problem(p["gsrn"], None, "the metering point has no port history")
            )
        elif ev[1] != p["han_port"]:
            report.problems.append(
                Problem(
                    p["gsrn"], None, f"the port is {p['han_port']} but its history ends {ev[1]}"
                )
            )


# --- checkpoint -------------------------------------------------------------------------------


def _digest(heads: dict[str, Any], max_event_id: Any) -> str:
    body = json.dumps(
        {"cases": heads, "max_event_id": max_event_id}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()


def checkpoint(app: App) -> dict[str, Any]:
    """A digest of every chain head and the global sequence, to keep outside the database."""
    C, E = repo.CASES, repo.EVENTS
    with app.engine.connect() as conn:
        heads = {
            r[0]: [r[1], r[2]] for r in conn.execute(select(C.c.ref, C.c.version, C.c.last_hash))
        }
        max_id = conn.execute(select(E.c.id).order_by(E.c.id.desc()).limit(1)).scalar()
    return {
        "kind": "hanport-audit-checkpoint",
        "taken_at": isoformat_utc(app.clock.now()),
        "max_event_id": max_id,
        "cases": heads,
        "digest": _digest(heads, max_id),
    }


# --- replay -----------------------------------------------------------------------------------


@dataclass
class Replay:
    case: str
    workflow: str
    workflow_version: int
    state: str | None
    timeline: list[dict[str, Any]]
    divergences: list[Problem]

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "state": self.state,
            "ok": not self.divergences,
            "timeline": self.timeline,
            "divergences": [d.as_dict() for d in self.divergences],
        }


def _facts(data: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for g in data.get("guards", {}).values():
        facts.update(g.get("inputs", {}))
    return facts


def replay_events(
    ref: str,
    workflow: str,
    version: int,
    events: list[dict[str, Any]],
    as_of: datetime | None = None,
) -> Replay:
    """Re-apply the recorded triggers with their recorded guard inputs through the pinned
    workflow version — pure: no mail, no timers, no HES."""
    wf = workflows.get(workflow, version)
    runner = workflows.runner(wf.name, wf.version)
    state: str | None = None
    timeline: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for e in events:
        if as_of is not None and e["occurred_at"] > as_of:
            break
        data = json.loads(e["data"]) if isinstance(e["data"], str) else e["data"]
        if e["trigger"] == "open":
            got = wf.initial
        else:
            try:
                got = runner.decide(state or "", e["trigger"], _facts(data)).dest
            except NotAllowed as exc:
                got = None
                problems.append(Problem(ref, e["seq"], f"{e['trigger']} replays as refused: {exc}"))
        if e["trigger"] != "open" and e["from_state"] != state:
            problems.append(
                Problem(
                    ref,
                    e["seq"],
                    f"the event starts from {e['from_state']}, but the case was {state}",
                )
            )
        if got is not None and got != e["to_state"]:
            problems.append(
                Problem(
                    ref,
                    e["seq"],
                    f"{e['trigger']} from {state} replays to {got}, the history says {e['to_state']}",
                )
            )
        timeline.append(
            {
                "seq": e["seq"],
                "at": isoformat_utc(e["occurred_at"]),
                "at_local": format_local(e["occurred_at"]),
                "actor": e["actor"],
                "actor_kind": e["actor_kind"],
                "trigger": e["trigger"],
                "from": e["from_state"],
                "to": e["to_state"],
            }
        )
        state = e["to_state"]
    return Replay(ref, workflow, version, state, timeline, problems)


def replay(app: App, ref: str | None = None, as_of: datetime | None = None) -> list[Replay]:
    C, E = repo.CASES, repo.EVENTS
    out = []
    with app.engine.connect() as conn:
        stmt = select(C.c.id, C.c.ref, C.c.workflow, C.c.workflow_version).order_by(C.c.id)
        if ref is not None:
            stmt = stmt.where(C.c.ref == ref)
        cases = list(conn.execute(stmt).mappings())
        if ref is not None and not cases:
            raise NotFound(f"case {ref} not found")
        for c in cases:
            events = [
                dict(e)
                for e in conn.execute(
                    select(E).where(E.c.case_id == c["id"]).order_by(E.c.seq)
                ).mappings()
            ]
            out.append(replay_events(c["ref"], c["workflow"], c["workflow_version"], events, as_of))
    return out


# --- the port of a metering point -------------------------------------------------------------


def _consent_view(conn: Any, consent_id: int | None) -> dict[str, Any] | None:
    if consent_id is None:
        return None
    c = repo.consent_by_pk(conn, consent_id)
    if c is None:
        return None
    customer = repo.customer_by_pk(conn, c["customer_pk"])
    case = repo.case_by_pk(conn, c["case_id"]) if c["case_id"] else None
    return {
        "id": c["id"],
        "legacy": c["source"] == "legacy_import",
        "source": c["source"],
        "customer": customer["customer_id"] if customer else None,
        "signer_name": c["signer_name"],
        "signer_role": c["signer_role"],
        "received_at": isoformat_utc(c["received_at"]) if c["received_at"] else None,
        "recorded_at": isoformat_utc(c["recorded_at"]),
        "channel": c["channel"],
        "declaration_version": c["declaration_version"],
        "address_match": c["address_match"],
        "validated_by": c["validated_by"],
        "ended_at": isoformat_utc(c["ended_at"]) if c["ended_at"] else None,
        "end_reason": c["end_reason"],
        "case": case["ref"] if case else None,
    }


def _live(consent: dict[str, Any] | None, at: datetime) -> bool:
    if consent is None:
        return False
    ended = consent["ended_at"]
    return ended is None or datetime.fromisoformat(ended) > at


def port(app: App, gsrn: str, at: datetime | None = None) -> dict[str, Any]:
    """The point's port at ``at`` (open or closed, since when, under which consent and case), or
    its whole timeline with every "open without live consent" interval named."""
    PE, C = repo.PORT_EVENTS, repo.CASES
    with app.engine.connect() as conn:
        point = repo.point_by_gsrn(conn, gsrn)
        if point is None:
            raise NotFound(f"metering point {gsrn} not found")
        rows = [
            dict(r)
            for r in conn.execute(
                select(PE).where(PE.c.point_id == point["id"]).order_by(PE.c.id)
            ).mappings()
        ]
        consents = {
            r["consent_id"]: _consent_view(conn, r["consent_id"]) for r in rows if r["consent_id"]
        }
        refs = {
            r["case_id"]: conn.execute(select(C.c.ref).where(C.c.id == r["case_id"])).scalar()
            for r in rows
            if r["case_id"]
        }
    timeline = []
    for i, r in enumerate(rows):
        until = rows[i + 1]["at"] if i + 1 < len(rows) else None
        consent = consents.get(r["consent_id"])
        flowing = r["state"] in ("open", "closing")
        unconsented = None
        if flowing:
            # Data may flow from this change until the next one; the consent may end within.
            end_of_consent = (
                datetime.fromisoformat(consent["ended_at"])
                if consent and consent["ended_at"]
                else None
            )
            if consent is None:
                unconsented = {
                    "from": isoformat_utc(r["at"]),
                    "until": isoformat_utc(until) if until else None,
                }
            elif end_of_consent is not None and (until is None or end_of_consent < until):
                unconsented = {
                    "from": consent["ended_at"],
                    "until": isoformat_utc(until) if until else None,
                }
        timeline.append(
            {
                "from": isoformat_utc(r["at"]),
                "from_local": format_local(r["at"]),
                "until": isoformat_utc(until) if until else None,
                "state": r["state"],
                "data_may_flow": flowing,
                "cause": r["cause"],
                "case": refs.get(r["case_id"]),
                "consent": consent,
                "open_without_live_consent": unconsented,
            }
        )
    result: dict[str, Any] = {
        "metering_point": gsrn,
        "meter_number": point["meter_number"],
        "port_now": point["han_port"],
    }
    if at is None:
        result["timeline"] = timeline
        return result
    entry = None
    for t in timeline:
        if datetime.fromisoformat(t["from"]) <= at:
            entry = t
    result["at"] = isoformat_utc(at)
    if entry is None:
        result.update({"state": "unknown", "detail": "before the point's history begins"})
        return result
    consent = entry["consent"]
    result.update(
        {
            "state": entry["state"],
            "data_may_flow": entry["data_may_flow"],
            "since": entry["from"],
            "since_local": entry["from_local"],
            "cause": entry["cause"],
            "case": entry["case"],
            "consent": consent,
            "consent_live_at_that_moment": _live(consent, at) if consent else False,
        }
    )
    return result

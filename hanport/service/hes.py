"""The head-end system (HES) gateway: one interface, an adapter per area.

Commands leave only from ``hes_commands``, after the command that enqueued them committed: in
order per metering point, one at a time (a point's next command waits until the previous one is
settled). Adapters:

- ``simulated``: answers after a configurable delay and fails a configurable share, deterministic
  with a seed. The answer is stored on the command row at dispatch and applied by a later tick
  when the (injected) clock has reached it — never inside the dispatch call.
- ``manual``: a caseworker sends the request to the vendor and records the answer with
  ``hanport case advance CASE confirm_open|confirm_close|report_failure``.

Vendor HES protocols are not public; a real adapter implements ``Gateway.send``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import aliased

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict, NotFound, Refused
from hanport.service.casework import TRANSIT, Actor, Work, apply, finish
from hanport.storage import repository as repo

HES_ACTOR = Actor.system("hes")


@dataclass(frozen=True)
class Sent:
    """What dispatching a command produced: an answer to apply later, or none (manual)."""

    ack_due_at: datetime | None = None
    outcome: str | None = None  # opened | closed | failed
    error: str | None = None


class Gateway(Protocol):
    name: str

    def send(self, command: dict[str, Any], now: datetime) -> Sent: ...


class ManualGateway:
    name = "manual"

    def send(self, command: dict[str, Any], now: datetime) -> Sent:
        return Sent()


@dataclass
class SimulatedGateway:
    """Deterministic: the outcome of a command depends only on the seed, its id and attempt —
    or on a script per metering point (outcomes of its 1st, 2nd, … command), for demos."""

    delay: timedelta = timedelta(minutes=10)
    failure_share: float = 0.0
    seed: int = 0
    script: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    name: str = "simulated"

    def send(self, command: dict[str, Any], now: datetime) -> Sent:
        planned = self.script.get(command.get("gsrn", ""), ())
        n = int(command.get("sequence", 0))
        if n < len(planned):
            if planned[n] == "fail":
                return Sent(now + self.delay, "failed", "simulated: meter unreachable (scripted)")
            return Sent(now + self.delay, "opened" if command["action"] == "open" else "closed")
        digest = hashlib.sha256(
            f"{self.seed}:{command['id']}:{command['attempt']}".encode()
        ).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw < self.failure_share:
            return Sent(now + self.delay, "failed", "simulated: meter unreachable")
        return Sent(now + self.delay, "opened" if command["action"] == "open" else "closed")


def gateways(app: App) -> dict[str, Gateway]:
    s = app.settings
    return {
        "manual": ManualGateway(),
        "simulated": SimulatedGateway(
            timedelta(minutes=s.hes_sim_delay_minutes),
            s.hes_sim_failure_share,
            s.hes_sim_seed,
            s.hes_sim_script,
        ),
    }


@dataclass
class HesReport:
    dispatched: int = 0
    acknowledged: int = 0
    failed: int = 0
    conflicts: int = 0
    details: list[str] = field(default_factory=list)


def _dispatchable(now: datetime, limit: int) -> Any:
    """Pending commands that are due and first in line for their point, nothing outstanding."""
    H = repo.HES
    earlier, sent = aliased(H), aliased(H)
    return (
        select(H)
        .where(
            H.c.status == "pending",
            H.c.not_before <= now,
            ~exists().where(and_(sent.c.point_id == H.c.point_id, sent.c.status == "sent")),
            ~exists().where(
                and_(
                    earlier.c.point_id == H.c.point_id,
                    earlier.c.status == "pending",
                    earlier.c.id < H.c.id,
                )
            ),
        )
        .order_by(H.c.id)
        .limit(limit)
    )


def _supersede_stale_manual(conn: Any, now: datetime) -> None:
    """A manual command left ``sent`` by a case that has since ended (cancelled, overtaken)
    will never be acknowledged: the next command for its point supersedes it instead of
    waiting behind it forever (the caseworker acts on the newest command)."""
    H, C = repo.HES, repo.CASES
    later = aliased(H)
    conn.execute(
        update(H)
        .where(
            H.c.status == "sent",
            H.c.adapter == "manual",
            H.c.case_id.in_(select(C.c.id).where(~C.c.active)),
            exists().where(
                and_(
                    later.c.point_id == H.c.point_id,
                    later.c.status == "pending",
                    later.c.id > H.c.id,
                )
            ),
        )
        .values(status="superseded", done_at=now)
    )


def dispatch(app: App, *, limit: int = 100) -> HesReport:
    """Send every command that is first in line for its point (one transaction per batch)."""
    from hanport.service.cases import transaction

    report = HesReport()
    gws = gateways(app)
    now = app.clock.now()
    with transaction(app, immediate=True) as uow:
        _supersede_stale_manual(uow.conn, now)
        stmt = _dispatchable(now, limit)
        if app.backend == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=repo.HES)
        rows = [dict(r) for r in uow.conn.execute(stmt).mappings()]
        seen_points: set[int] = set()
        for cmd in rows:
            if cmd["point_id"] in seen_points:
                continue  # one at a time per point
            seen_points.add(cmd["point_id"])
            gw = gws.get(cmd["adapter"] or "manual", gws["manual"])
            H = repo.HES
            # The point's n-th send (what a demo script's outcomes are counted in).
            cmd["sequence"] = (
                uow.conn.execute(
                    select(func.count()).where(H.c.point_id == cmd["point_id"], H.c.id < cmd["id"])
                ).scalar_one()
                + cmd["sends"]
            )
            point = repo.point_by_pk(uow.conn, cmd["point_id"])
            assert point is not None
            cmd["gsrn"] = point["gsrn"]
            sent = gw.send(cmd, now)
            if point["han_port"] != TRANSIT[cmd["action"]]:
                # It waited behind another case's command: the port is in transit from now.
                case = repo.case_by_pk(uow.conn, cmd["case_id"])
                assert case is not None
                repo.set_port(
                    uow.conn,
                    cmd["point_id"],
                    TRANSIT[cmd["action"]],
                    now,
                    f"{cmd['action']} command sent to the HES ({case['ref']})",
                    case_id=cmd["case_id"],
                    hes_command_id=cmd["id"],
                )
            repo.update_hes(
                uow.conn,
                cmd["id"],
                status="sent",
                sent_at=now,
                sends=cmd["sends"] + 1,
                ack_due_at=sent.ack_due_at,
                ack_outcome=sent.outcome,
                # (a command sent again keeps its last failure until a new one replaces it)
                **({"error": sent.error} if sent.error else {}),
            )
            report.dispatched += 1
            report.details.append(f"sent {cmd['action']} #{cmd['id']} via {gw.name}")
        uow.commit()
    return report


def apply_acks(app: App, *, limit: int = 100) -> HesReport:
    """Apply stored acknowledgements whose time has come, as actor ``hes`` — each once, also
    when it arrives after the 24 h timeout already counted the command as failed."""
    from hanport.service.cases import transaction

    report = HesReport()
    now = app.clock.now()
    H = repo.HES
    stmt = (
        select(H)
        .where(
            H.c.status.in_(("sent", "failed")),
            H.c.ack_due_at.is_not(None),
            H.c.ack_due_at <= now,
        )
        .order_by(H.c.ack_due_at, H.c.id)
        .limit(limit)
    )
    with app.engine.connect() as conn:
        due = [dict(r) for r in conn.execute(stmt).mappings()]
    for cmd in due:
        try:
            with transaction(app) as uow:
                lock = select(H).where(H.c.id == cmd["id"])
                if app.backend == "postgresql":
                    lock = lock.with_for_update()
                current = dict(uow.conn.execute(lock).mappings().one())
                if current["ack_due_at"] is None or current["status"] not in ("sent", "failed"):
                    continue  # another scheduler applied it
                repo.update_hes(uow.conn, cmd["id"], ack_due_at=None)  # consumed, once
                _apply_ack(app, uow.conn, current, now, report)
                uow.commit()
        except (Conflict, Refused) as exc:
            report.conflicts += 1
            report.details.append(f"ack #{cmd['id']} deferred: {exc}")
    return report


def _send_again(app: App, conn: Any, cmd: dict[str, Any], now: datetime, error: str) -> None:
    """A close left behind (a cancelled case's) that failed must not be lost: it goes again, with
    backoff, in its own place in the point's queue — ahead of any command enqueued after it (a
    newer opening must not run before it and then be closed by it)."""
    backoff = timedelta(minutes=app.settings.hes_backoff_minutes * 2 ** min(cmd["attempt"] - 1, 6))
    repo.update_hes(
        conn,
        cmd["id"],
        status="pending",
        attempt=cmd["attempt"] + 1,
        not_before=now + backoff,
        done_at=None,
        ack_due_at=None,
        ack_outcome=None,
        error=error,
    )


def _apply_ack(
    app: App,
    conn: Any,
    cmd: dict[str, Any],
    now: datetime,
    report: HesReport,
    *,
    recorded_by: str | None = None,
) -> None:
    row = repo.case_by_pk(conn, cmd["case_id"])
    assert row is not None
    work = Work.for_row(app, conn, HES_ACTOR, now, row)
    busy = "opening" if cmd["action"] == "open" else "closing"
    direction_matches = (work.case.workflow == "close_port") == (cmd["action"] == "close")
    state = work.case.state
    timed_out = cmd["status"] == "failed"  # the 24 h timeout already counted it as a failure
    latest = repo.latest_hes(conn, cmd["case_id"], cmd["action"])
    late = int((now - cmd["ack_due_at"]).total_seconds())
    extra = {"hes_command": cmd["id"], "late_seconds": late}
    ref = work.case.ref
    if cmd["ack_outcome"] == "failed":
        report.failed += 1
        if timed_out:
            report.details.append(f"{ref}: {cmd['action']} #{cmd['id']} failed (already counted)")
            return
        if state == busy and direction_matches and latest is not None and latest["id"] == cmd["id"]:
            apply(work, "report_failure", {"error": cmd["error"] or "failure"}, extra=extra)
            finish(work)
        else:
            if cmd["action"] == "close":
                _send_again(app, conn, cmd, now, cmd["error"] or "failure")
            else:
                repo.update_hes(conn, cmd["id"], status="failed", done_at=now, error=cmd["error"])
        report.details.append(f"{ref}: {cmd['action']} #{cmd['id']} failed")
        return
    report.acknowledged += 1
    if direction_matches and state in (busy, "needs_attention"):
        # Also a late answer: the port did change, so the case completes (its retry, if one is
        # waiting, is settled with it).
        apply(work, f"confirm_{cmd['action']}", {}, extra=extra)
        finish(work)
        repo.update_hes(conn, cmd["id"], status="acked", done_at=now, result=cmd["ack_outcome"])
    else:
        # The case moved on (cancelled or superseded) after the command left: the port did
        # change, so record it on the point; a close queued behind follows.
        port = "open" if cmd["action"] == "open" else "closed"
        repo.update_hes(conn, cmd["id"], status="acked", done_at=now, result=cmd["ack_outcome"])
        current_port = repo.point_by_pk(conn, cmd["point_id"])
        if current_port is not None and current_port["han_port"] == port:
            # Already so (e.g. confirmed by hand before this late answer): nothing changes,
            # and the consent behind an open port stays where it is.
            report.details.append(
                f"{ref}: {cmd['action']} #{cmd['id']} acknowledged (already {port})"
            )
            return
        pending_close = conn.execute(
            select(repo.HES.c.id).where(
                repo.HES.c.point_id == cmd["point_id"],
                repo.HES.c.status.in_(("pending", "sent")),
                repo.HES.c.action == "close",
            )
        ).first()
        cause = (
            f"{cmd['action']} answer recorded by {recorded_by} for {ref} ({work.case.state})"
            if recorded_by
            else f"late {cmd['action']} acknowledgement for {ref} ({work.case.state})"
        )
        if port == "closed":
            repo.set_port(
                conn,
                cmd["point_id"],
                "closed",
                now,
                cause,
                consent_id=None,
                case_id=cmd["case_id"],
                hes_command_id=cmd["id"],
            )
        else:
            # Open with no live consent until the close queued behind it is acknowledged.
            repo.set_port(
                conn,
                cmd["point_id"],
                "open",
                now,
                cause,
                consent_id=None,
                case_id=cmd["case_id"],
                hes_command_id=cmd["id"],
            )
            if pending_close is not None:
                repo.set_port(
                    conn,
                    cmd["point_id"],
                    "closing",
                    now,
                    f"close queued behind it ({ref})",
                    case_id=cmd["case_id"],
                    hes_command_id=pending_close[0],
                )
    report.details.append(f"{ref}: {cmd['action']} #{cmd['id']} acknowledged")


# --- commands a caseworker looks after (the manual adapter) ------------------------------------

OUTCOMES = {"open": ("opened", "failed"), "close": ("closed", "failed")}


def _confirm(action: str) -> str:
    return "confirm_open" if action == "open" else "confirm_close"


def list_commands(
    app: App, *, metering_point: str | None = None, everything: bool = False
) -> list[dict[str, Any]]:
    """HES commands still out (or all with ``everything``), oldest first, each with what it waits
    for — in particular a manual command left by an ended case, which only ``answer`` settles."""
    H, C, P = repo.HES, repo.CASES, repo.POINTS
    stmt = (
        select(H, C.c.ref, C.c.state.label("case_state"), C.c.active, P.c.gsrn)
        .join(C, C.c.id == H.c.case_id)
        .join(P, P.c.id == H.c.point_id)
        .order_by(H.c.id)
    )
    if not everything:
        stmt = stmt.where(repo.HES_OUT)
    with app.engine.connect() as conn:
        if metering_point is not None:
            if repo.point_by_gsrn(conn, metering_point) is None:
                raise NotFound(f"metering point {metering_point} not found")
            stmt = stmt.where(P.c.gsrn == metering_point)
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
    return [
        {
            "id": r["id"],
            "case": r["ref"],
            "case_state": r["case_state"],
            "metering_point": r["gsrn"],
            "action": r["action"],
            "status": r["status"],
            "attempt": r["attempt"],
            "adapter": r["adapter"],
            "created_at": isoformat_utc(r["created_at"]),
            "sent_at": isoformat_utc(r["sent_at"]) if r["sent_at"] else None,
            "waits_for": _waits_for(r),
        }
        for r in rows
    ]


def _waits_for(r: Mapping[str, Any]) -> str:
    if r["status"] == "pending":
        return "its turn (sent by the next tick once the point's earlier commands are settled)"
    if r["status"] == "failed" and r["ack_due_at"] is not None:
        return "the gateway's late answer"
    if r["status"] != "sent":
        return "-"
    if r["adapter"] != "manual":
        return "the gateway's answer"
    if r["active"]:
        return (
            f"a caseworker: hanport case advance {r['ref']} {_confirm(r['action'])}|report_failure"
        )
    return f"a caseworker: hanport hes answer {r['id']} {'|'.join(OUTCOMES[r['action']])}"


def answer(
    app: App, actor: Actor, command_id: int, outcome: str, note: str | None = None
) -> dict[str, Any]:
    """Record the vendor's answer to a manual command whose case has ended (a close left behind
    by a cancelled case): the port's history records it with the caseworker's name; a failed
    close is sent again. A live case's command is answered through its case instead."""
    from hanport.service import roles
    from hanport.service.cases import transaction

    roles.require_writer(actor)
    now = app.clock.now()
    H = repo.HES
    with transaction(app) as uow:
        lock = select(H).where(H.c.id == command_id)
        if app.backend == "postgresql":
            lock = lock.with_for_update()
        row = uow.conn.execute(lock).mappings().first()
        if row is None:
            raise NotFound(f"HES command {command_id} not found")
        cmd = dict(row)
        if outcome not in OUTCOMES[cmd["action"]]:
            raise Refused(
                f"a {cmd['action']} command is answered with "
                f"{' or '.join(OUTCOMES[cmd['action']])}, not {outcome!r}",
                field="outcome",
            )
        if cmd["adapter"] != "manual":
            raise Refused(
                f"HES command {command_id} went through the {cmd['adapter']} gateway, which "
                "answers it itself"
            )
        if cmd["status"] != "sent":
            raise Refused(
                f"HES command {command_id} is {cmd['status']}: only a command sent to the "
                "vendor and not yet answered can be answered"
            )
        case = repo.case_by_pk(uow.conn, cmd["case_id"])
        assert case is not None
        if case["active"]:
            raise Refused(
                f"HES command {command_id} belongs to {case['ref']}, which is still "
                f"{case['state']}: record the answer on the case (hanport case advance "
                f"{case['ref']} {_confirm(cmd['action'])} or report_failure)"
            )
        error = note or f"failure reported by {actor.name}"
        cmd.update(
            ack_due_at=now, ack_outcome=outcome, error=error if outcome == "failed" else None
        )
        report = HesReport()
        _apply_ack(app, uow.conn, cmd, now, report, recorded_by=actor.name)
        after = uow.conn.execute(select(H.c.status, H.c.attempt).where(H.c.id == command_id)).one()
        point = repo.point_by_pk(uow.conn, cmd["point_id"])
        assert point is not None
        uow.commit()
    return {
        "id": command_id,
        "case": case["ref"],
        "action": cmd["action"],
        "outcome": outcome,
        "status": after.status,
        "attempt": after.attempt,
        "metering_point": point["gsrn"],
        "port": point["han_port"],
    }

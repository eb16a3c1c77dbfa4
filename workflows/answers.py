"""What the head-end system's answer to a command does: the case that sent it goes on (its HES
tail's confirm or failure trigger), or — when that case has moved on (cancelled, superseded)
after the command left — the port's own history records what the meter did.

A late failure of a close that a cancelled case left behind is sent again in its place in the
point's queue, never dropped: the port must not stay open without a consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hanport import workflows
from hanport.workflows.decider import Decision
from hanport.workflows.model import Case, HesCommand
from hanport.workflows.writes import HesCommandRequeued, HesCommandSettled


@dataclass(frozen=True)
class Answer:
    """A gateway's answer (or a caseworker's reading of the vendor's) to one command."""

    command: HesCommand
    outcome: str  # opened | closed | failed
    error: str | None
    timed_out: bool  # the 24 h timeout already counted the command as failed
    attempt: int
    extra: dict[str, object]
    recorded_by: str | None = None  # a caseworker recording a manual answer


def apply(decision: Decision, case: Case, a: Answer) -> str:
    """Apply the answer; returns what happened, in words (for the tick's report)."""
    cmd, ref = a.command, case.ref
    tail = workflows.get(case.workflow, case.workflow_version).hes
    assert tail is not None, f"{case.workflow} sends no HES commands"
    ours = tail.action == cmd.action
    latest = [c for c in case.hes if c.action == cmd.action][-1:]
    if a.outcome == "failed":
        if a.timed_out:
            return f"{ref}: {cmd.action} #{cmd.id} failed (already counted)"
        if ours and case.state == tail.busy and latest and latest[0].id == cmd.id:
            decision.fire(case, tail.failure, {"error": a.error or "failure"}, extra=a.extra)
        elif cmd.action == "close":
            _send_again(decision, cmd, a)
        else:
            cmd.status = "failed"
            decision.write(HesCommandSettled(cmd.id, "failed", decision.now, error=a.error))
        return f"{ref}: {cmd.action} #{cmd.id} failed"
    result = "opened" if cmd.action == "open" else "closed"
    if ours and case.state in (tail.busy, tail.attention):
        # Also a late answer: the port did change, so the case completes (its retry, if one
        # is waiting, is settled with it).
        decision.fire(case, tail.confirm, {}, extra=a.extra)
        cmd.status = "acked"
        decision.write(HesCommandSettled(cmd.id, "acked", decision.now, result=result))
        return f"{ref}: {cmd.action} #{cmd.id} acknowledged"
    return _after_the_case(decision, case, a, result)


def _after_the_case(decision: Decision, case: Case, a: Answer, result: str) -> str:
    """The case moved on after the command left: the port did change, so record it on the
    point; a close queued behind follows."""
    cmd, point, ref = a.command, case.point, case.ref
    port = "open" if cmd.action == "open" else "closed"
    cmd.status = "acked"
    decision.write(HesCommandSettled(cmd.id, "acked", decision.now, result=result))
    if point.port == port:
        # Already so (e.g. confirmed by hand before this late answer): nothing changes, and
        # the consent behind an open port stays where it is.
        return f"{ref}: {cmd.action} #{cmd.id} acknowledged (already {port})"
    pending_close = next(
        (c for c in point.hes if c.action == "close" and c.status in ("pending", "sent")), None
    )
    cause = (
        f"{cmd.action} answer recorded by {a.recorded_by} for {ref} ({case.state})"
        if a.recorded_by
        else f"late {cmd.action} acknowledgement for {ref} ({case.state})"
    )
    # Open with no live consent until the close queued behind it is acknowledged.
    decision.set_port(
        point, port, cause, consent_id=None, case_id=cmd.case_id, hes_command_id=cmd.id
    )
    if port == "open" and pending_close is not None:
        decision.set_port(
            point,
            "closing",
            f"close queued behind it ({ref})",
            case_id=cmd.case_id,
            hes_command_id=pending_close.id,
        )
    return f"{ref}: {cmd.action} #{cmd.id} acknowledged"


def _send_again(decision: Decision, cmd: HesCommand, a: Answer) -> None:
    """A close left behind (a cancelled case's) that failed must not be lost: it goes again,
    with backoff, in its own place in the point's queue — ahead of any command enqueued after
    it (a newer opening must not run before it and then be closed by it)."""
    minutes = decision.policy.hes_backoff_minutes * 2 ** min(a.attempt - 1, 6)
    not_before: datetime = decision.now + timedelta(minutes=minutes)
    cmd.status = "pending"
    decision.write(HesCommandRequeued(cmd.id, a.attempt + 1, not_before, a.error or "failure"))

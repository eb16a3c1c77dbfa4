"""The head-end system after commit: commands leave only from ``hes_commands``, in order per
metering point, one at a time (a point's next command waits until the previous one is settled),
and the gateways' answers come back through the cases that sent them.

``dispatch`` sends what is first in line; ``apply_answers`` applies the answers whose time has
come, as actor ``hes`` — each once, also when one arrives after the 24 h timeout already counted
the command as failed; ``answer`` records, for a manual area, the vendor's answer to a command
whose case has ended (the close behind a cancelled opening).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hanport.adapters.hes_gateways import gateways
from hanport.bootstrap import App
from hanport.errors import Conflict, NotFound, Refused
from hanport.service import load, roles
from hanport.service.commands import AnswerHes, ApplyHesAnswers, DispatchHes
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.repositories.ports import PortChange
from hanport.storage.uow import UnitOfWork
from hanport.workflows import answers
from hanport.workflows.definition import Actor
from hanport.workflows.model import TRANSIT

HES_ACTOR = Actor.system("hes")
OUTCOMES = {"open": ("opened", "failed"), "close": ("closed", "failed")}


@dataclass
class HesReport:
    dispatched: int = 0
    acknowledged: int = 0
    failed: int = 0
    conflicts: int = 0
    details: list[str] = field(default_factory=list)


def dispatch(app: App, actor: Actor, cmd: DispatchHes | None = None) -> HesReport:
    """Send every command that is first in line for its point (one transaction per batch)."""
    report = HesReport()
    gws = gateways(app.settings)
    now = app.clock.now()
    with transaction(app, immediate=True) as uow:
        uow.hes.supersede_stale_manual(now)
        seen_points: set[int] = set()
        for c in uow.hes.dispatchable(now, (cmd or DispatchHes()).limit):
            if c.point_id in seen_points:
                continue  # one at a time per point
            seen_points.add(c.point_id)
            gw = gws.get(c.adapter or "manual", gws["manual"])
            sent = gw.send(
                {
                    "id": c.id,
                    "action": c.action,
                    "attempt": c.attempt,
                    "gsrn": c.gsrn,
                    "sequence": c.sequence,
                },
                now,
            )
            if c.port != TRANSIT[c.action]:
                # It waited behind another case's command: the port is in transit from now.
                cause = f"{c.action} command sent to the HES ({c.case_ref})"
                uow.ports.change(
                    [
                        PortChange(
                            c.point_id,
                            TRANSIT[c.action],
                            now,
                            cause,
                            False,
                            c.consent_id,
                            c.case_id,
                            c.id,
                            None,
                        )
                    ]
                )
            uow.hes.mark_sent(c.id, now, c.sends + 1, sent.ack_due_at, sent.outcome, sent.error)
            report.dispatched += 1
            report.details.append(f"sent {c.action} #{c.id} via {gw.name}")
        uow.commit()
    return report


def apply_answers(app: App, actor: Actor, cmd: ApplyHesAnswers | None = None) -> HesReport:
    """Apply stored answers whose time has come, each in its own transaction, once."""
    report = HesReport()
    now = app.clock.now()
    with UnitOfWork(app.engine) as uow:
        due = uow.hes.answers_due(now, (cmd or ApplyHesAnswers()).limit)
    for command_id in due:
        try:
            with transaction(app) as uow:
                taken = uow.hes.claim_answer(command_id)
                if taken is None:
                    continue  # another scheduler applied it
                late = int((now - taken.ack_due_at).total_seconds())
                _apply(
                    app,
                    uow,
                    HES_ACTOR,
                    now,
                    taken,
                    report,
                    taken.error,
                    None,
                    {"hes_command": taken.id, "late_seconds": late},
                )
                uow.commit()
        except (Conflict, Refused) as exc:
            report.conflicts += 1
            report.details.append(f"ack #{command_id} deferred: {exc}")
    return report


def _apply(
    app: App,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    taken: Any,
    report: HesReport,
    error: str | None,
    recorded_by: str | None,
    extra: dict[str, Any],
) -> None:
    decision = decision_for(app, actor, now, uow)
    case = load.into(decision, uow.cases.load("id", [taken.case_id]))[taken.case_id]
    command = next(c for c in case.point.hes if c.id == taken.id)
    if taken.outcome == "failed":
        report.failed += 1
    else:
        report.acknowledged += 1
    said = answers.apply(
        decision,
        case,
        answers.Answer(
            command,
            taken.outcome,
            error,
            taken.status == "failed",
            taken.attempt,
            extra,
            recorded_by,
        ),
    )
    write(app, uow, decision)
    report.details.append(said)


def confirm_trigger(action: str) -> str:
    """The trigger that confirms an ``action`` command on its case."""
    return "confirm_open" if action == "open" else "confirm_close"


def answer(app: App, actor: Actor, cmd: AnswerHes) -> dict[str, Any]:
    """Record the vendor's answer to a manual command whose case has ended (a close left behind
    by a cancelled case): the port's history records it with the caseworker's name; a failed
    close is sent again. A live case's command is answered through its case instead."""
    roles.require_writer(actor)
    now = app.clock.now()
    with transaction(app) as uow:
        row = uow.hes.get(cmd.command_id, lock=True)
        if row is None:
            raise NotFound(f"HES command {cmd.command_id} not found")
        _check_answer(row, cmd)
        case_active, case_ref, case_state = uow.hes.case_of(row.case_id)
        if case_active:
            raise Refused(
                f"HES command {cmd.command_id} belongs to {case_ref}, which is still "
                f"{case_state}: record the answer on the case (hanport case advance "
                f"{case_ref} {confirm_trigger(row.action)} or report_failure)"
            )
        error = cmd.note or f"failure reported by {actor.name}"
        taken = answers_taken(row, cmd.outcome, now)
        _apply(
            app,
            uow,
            HES_ACTOR,
            now,
            taken,
            HesReport(),
            error if cmd.outcome == "failed" else None,
            actor.name,
            {"hes_command": row.id, "late_seconds": 0},
        )
        after = uow.hes.get(cmd.command_id)
        port = uow.hes.point_port(row.point_id)
        uow.commit()
    assert after is not None
    return {
        "id": cmd.command_id,
        "case": case_ref,
        "action": row.action,
        "outcome": cmd.outcome,
        "status": after.status,
        "attempt": after.attempt,
        "metering_point": port[0],
        "port": port[1],
    }


def _check_answer(row: Any, cmd: AnswerHes) -> None:
    if cmd.outcome not in OUTCOMES[row.action]:
        raise Refused(
            f"a {row.action} command is answered with "
            f"{' or '.join(OUTCOMES[row.action])}, not {cmd.outcome!r}",
            field="outcome",
        )
    if row.adapter != "manual":
        raise Refused(
            f"HES command {cmd.command_id} went through the {row.adapter} gateway, which "
            "answers it itself"
        )
    if row.status != "sent":
        raise Refused(
            f"HES command {cmd.command_id} is {row.status}: only a command sent to the "
            "vendor and not yet answered can be answered"
        )


def answers_taken(row: Any, outcome: str, now: datetime) -> Any:
    """A caseworker's answer, in the shape of a gateway's stored one."""
    from hanport.storage.repositories.hes import Answered

    return Answered(row.id, row.case_id, row.action, row.status, row.attempt, now, outcome, None)

"""One tick: turn kept web intakes into cases, fire due timers, dispatch HES commands, apply acknowledgements that are due, and
(from the notices issue on) deliver pending mail. ``hanport tick`` runs it once; the scheduler
service runs it every minute."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hanport.bootstrap import App
from hanport.retry import on_conflict
from hanport.service import run
from hanport.service.commands import (
    ApplyHesAnswers,
    DeliverMail,
    DispatchHes,
    FireTimers,
    ProcessIntakes,
)
from hanport.service.timers import SCHEDULER


@dataclass
class TickReport:
    timers_fired: int = 0
    timers_skipped: int = 0
    hes_dispatched: int = 0
    hes_acknowledged: int = 0
    hes_failed: int = 0
    mail_sent: int = 0
    mail_retrying: int = 0
    mail_dead: int = 0
    intakes_opened: int = 0
    intakes_merged: int = 0
    intakes_review: int = 0
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def tick(app: App) -> TickReport:
    report = TickReport()
    taken = run(app, SCHEDULER, ProcessIntakes())  # each intake settles in its own transactions
    report.intakes_opened, report.intakes_merged = taken.done, taken.merged
    report.intakes_review = taken.review
    fired = run(app, SCHEDULER, FireTimers())  # retries its batches itself
    report.timers_fired, report.timers_skipped = fired.fired, fired.skipped
    report.details += fired.details
    # Acknowledgements first (they may free a point for its next command), then dispatch.
    acks = on_conflict(lambda: run(app, SCHEDULER, ApplyHesAnswers()))
    sent = on_conflict(lambda: run(app, SCHEDULER, DispatchHes()))
    report.hes_acknowledged, report.hes_failed = acks.acknowledged, acks.failed
    report.hes_dispatched = sent.dispatched
    report.details += acks.details + sent.details
    delivered = on_conflict(lambda: run(app, SCHEDULER, DeliverMail()))
    report.mail_sent, report.mail_retrying = delivered.sent, delivered.retrying
    report.mail_dead = delivered.dead
    report.details += delivered.details
    return report

"""The figures a duty officer watches, read in one short transaction for the metrics listener:
cases by workflow and state, overdue timers, dead mail, HES commands out (and, once the intake
table exists, the intake backlog)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine

from hanport.storage.sql import _sqlite_ts


@dataclass(frozen=True)
class Gauges:
    cases: dict[tuple[str, str], int] = field(default_factory=dict)  # (workflow, state) -> n
    overdue_timers: int = 0
    dead_mail: int = 0
    hes_out: dict[str, int] = field(default_factory=dict)  # status -> n (pending, sent)


def read(engine: Engine, now: datetime) -> Gauges:
    at: object = _sqlite_ts(now) if engine.dialect.name == "sqlite" else now
    with engine.connect() as conn:
        cases = conn.execute(
            text("SELECT workflow, state, count(*) FROM cases GROUP BY workflow, state")
        ).all()
        overdue = conn.execute(
            text("SELECT count(*) FROM timers WHERE status = 'pending' AND due_at < :now"),
            {"now": at},
        ).scalar_one()
        dead = conn.execute(
            text("SELECT count(*) FROM mail_outbox WHERE status = 'dead'")
        ).scalar_one()
        hes = conn.execute(
            text(
                "SELECT status, count(*) FROM hes_commands "
                "WHERE status IN ('pending', 'sent') GROUP BY status"
            )
        ).all()
    return Gauges(
        cases={(str(w), str(s)): int(n) for w, s, n in cases},
        overdue_timers=int(overdue),
        dead_mail=int(dead),
        hes_out={str(s): int(n) for s, n in hes},
    )

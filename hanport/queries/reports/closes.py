"""Closes: on request (time to close, time to the confirmation mail) and automatic from the
nightly file (document to closed; effective time to closed), by area."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hanport.queries.reports.fold import CaseRecord
from hanport.queries.reports.sla import ALL

CONFIRMATION_TEMPLATES = ("port_closed",)


@dataclass(slots=True)
class Close:
    case_id: int
    ref: str
    area: str
    kind: str
    reason: str
    opened: datetime
    effective: datetime | None
    closed: datetime | None
    ended: str | None
    mailed: datetime | None = None


def _hours(xs: list[float]) -> dict[str, float | None]:
    return {
        "median": round(statistics.median(xs), 2) if xs else None,
        "max": round(max(xs), 2) if xs else None,
    }


def _h(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


@dataclass
class Closes:
    period: tuple[datetime, datetime]
    closes: list[Close] = field(default_factory=list)

    def add(self, rec: CaseRecord) -> None:
        lo, hi = self.period
        if rec.workflow != "close_port" or not lo <= rec.opened_at < hi:
            return
        self.closes.append(
            Close(
                rec.case_id,
                rec.ref,
                rec.area,
                rec.close_kind or "request",
                rec.close_reason or "withdrawn",
                rec.opened_at,
                rec.effective_at,
                rec.closed_at,
                rec.ended,
            )
        )

    def wants_mail(self) -> list[int]:
        """The cases whose confirmation mail the report looks up."""
        return [c.case_id for c in self.closes if c.kind == "request" and c.closed]

    def mailed(self, sent: dict[int, datetime]) -> None:
        for c in self.closes:
            c.mailed = sent.get(c.case_id)

    def rows(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str], list[Close]] = defaultdict(list)
        for c in self.closes:
            groups[(c.area, c.kind)].append(c)
            groups[(ALL, c.kind)].append(c)
        return [
            self._row(a, k, cs)
            for (a, k), cs in sorted(groups.items(), key=lambda i: (i[0][0] == ALL, i[0]))
        ]

    def _row(self, area: str, kind: str, cs: list[Close]) -> dict[str, Any]:
        closed = [c for c in cs if c.closed]
        row: dict[str, Any] = {
            "area": area,
            "kind": kind,
            "cases": len(cs),
            "closed": len(closed),
            "rejected": sum(1 for c in cs if c.ended == "rejected"),
            "cancelled": sum(1 for c in cs if c.ended == "cancelled"),
            "in_progress": sum(1 for c in cs if c.ended is None),
        }
        to_close = _hours([_h(c.opened, c.closed) for c in closed if c.closed])
        row["hours_to_close_median"], row["hours_to_close_max"] = to_close.values()
        if kind == "request":
            mails = _hours([_h(c.opened, c.mailed) for c in closed if c.mailed])
            row["hours_to_mail_median"], row["hours_to_mail_max"] = mails.values()
        else:
            lag = _hours([_h(c.effective, c.closed) for c in closed if c.effective and c.closed])
            row["hours_effective_to_closed_median"], row["hours_effective_to_closed_max"] = (
                lag.values()
            )
            row["by_reason"] = dict(sorted(_reasons(cs).items()))
        return row


def _reasons(cs: list[Close]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for c in cs:
        out[c.reason] += 1
    return out

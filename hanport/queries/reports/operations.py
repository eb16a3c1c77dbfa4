"""Operations: HES failures and retries, dead mail and manual interventions per area and
vendor; and the ports that were found open without a live consent, and for how long."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from hanport.calendar import isoformat_utc
from hanport.queries.reports.fold import CaseRecord
from hanport.queries.reports.sla import ALL
from hanport.storage.views.reports import PortRow

OPS = (
    "hes_failures",
    "hes_resent",
    "hes_needs_attention",
    "hes_manual_retries",
    "dead_mail",
    "sla_timer_breaches",
    "manual_interventions",
)
OPEN_STATES = frozenset({"open", "closing"})  # the stream flows until the HES closes it


@dataclass
class Operations:
    counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)

    def add(self, rec: CaseRecord) -> None:
        if rec.ops:
            self.counts.setdefault((rec.area, rec.vendor), Counter()).update(rec.ops)

    def rows(self) -> list[dict[str, Any]]:
        total: Counter[str] = Counter()
        rows = []
        for (area, vendor), c in sorted(self.counts.items()):
            rows.append({"area": area, "vendor": vendor, **{k: c[k] for k in OPS}})
            total.update(c)
        if rows:
            rows.append({"area": ALL, "vendor": ALL, **{k: total[k] for k in OPS}})
        return rows


def _interval(
    steps: list[PortRow], lo: datetime, hi: datetime, area: str
) -> Iterable[dict[str, Any]]:
    """The stretches of one point's timeline where its port was open with no live consent
    that overlap [lo, hi)."""
    start: PortRow | None = None
    for row in steps:
        if row.state in OPEN_STATES and start is None:
            start = row
        elif row.state not in OPEN_STATES and start is not None:
            yield from _unconsented(start, row.at, row.case_ref, lo, hi, area, False)
            start = None
    if start is not None:
        yield from _unconsented(start, hi, start.case_ref, lo, hi, area, True)


def _unconsented(
    start: PortRow,
    until: datetime,
    ref: str | None,
    lo: datetime,
    hi: datetime,
    area: str,
    still: bool,
) -> Iterable[dict[str, Any]]:
    ended = start.consent_ended_at if start.consent_id is not None else start.at
    if ended is None or ended >= until:
        return
    since = max(start.at, ended)
    if since >= hi or until < lo:
        return
    yield {
        "area": area,
        "case": ref,
        "opened_by": start.case_ref,
        "since": isoformat_utc(since),
        "until": None if still else isoformat_utc(until),
        "hours": round((until - since).total_seconds() / 3600, 2),
        "still_open": still,
    }


def unconsented(
    rows: Iterable[PortRow],
    period: tuple[datetime, datetime],
    until: datetime,
    area_of: Callable[[str], str],
    keep: Callable[[str], bool],
) -> list[dict[str, Any]]:
    """Every stretch, in the period, of a port open without a live consent (streamed per
    point); a stretch still open at ``until`` is measured to it."""
    out: list[dict[str, Any]] = []
    areas: dict[str, str] = {}
    for _, steps in groupby(rows, key=lambda r: r.point_id):
        batch = list(steps)
        code = batch[0].municipality
        area = areas.get(code) or areas.setdefault(code, area_of(code))
        if keep(area):
            out.extend(_interval(batch, period[0], min(period[1], until), area))
    return out

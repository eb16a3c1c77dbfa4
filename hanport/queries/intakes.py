"""The intakes for people: the caseworkers' list and one intake in full (the form as typed is a
personal read, logged), and the backlog a duty officer watches."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from hanport.bootstrap import App
from hanport.errors import NotFound
from hanport.storage.views import reading
from hanport.storage.views.intakes import IntakeSummary
from hanport.storage.views.personal import Access

STATUSES = ("new", "done", "merged", "review", "resolved")


def backlog(app: App) -> int:
    """Intakes kept and not yet processed."""
    with reading(app.engine) as views:
        return views.intakes.waiting()


def listed(app: App, statuses: tuple[str, ...] = (), limit: int = 200) -> list[IntakeSummary]:
    with reading(app.engine) as views:
        return views.intakes.listed(statuses, limit)


@dataclass(frozen=True)
class IntakeDetail:
    summary: IntakeSummary
    fields: dict[str, str] | None  # None: not asked for (or erased)
    resolution_note: str | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self.summary)
        for k in ("received_at", "processed_at", "resolved_at"):
            out[k] = out[k].isoformat() if out[k] else None
        return {**out, "fields": self.fields, "resolution_note": self.resolution_note}


def show(app: App, intake_id: int, access: Access | None) -> IntakeDetail:
    """One intake; with ``access`` (who reads, and why) the form as typed too, logged."""
    with reading(app.engine) as views:
        summary = views.intakes.one(intake_id)
        if summary is None:
            raise NotFound(f"intake {intake_id} not found")
        if access is None:
            return IntakeDetail(summary, None, None)
        personal = views.personal.intake(intake_id, access)
    fields = json.loads(personal.fields) if personal and personal.fields else None
    return IntakeDetail(summary, fields, personal.resolution_note if personal else None)

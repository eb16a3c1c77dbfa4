"""The evidence as one HTML page (``templates/evidence/case.html.j2``): inline CSS and an inline
SVG diagram, no script, no external URL — it opens offline. Every instant is shown in
Europe/Oslo with its UTC offset, to the minute."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from hanport import workflows
from hanport.calendar import format_local_offset
from hanport.queries.evidence_diagram import svg
from hanport.templates import environment

CONSENT_INSTANTS = ("received_at", "recorded_at", "ended_at")


def oslo(value: str | datetime | None) -> str:
    """An instant (ISO 8601 text or aware datetime) as ``2026-03-02 09:15 +01:00``; ``-`` for
    none."""
    if value is None or value == "":
        return "-"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_local_offset(dt)


def consent_brief(c: dict[str, Any] | None) -> str:
    """A consent in a timeline row: legacy, or its number and whether it is live."""
    if c is None:
        return "-"
    if c["legacy"]:
        return "legacy"
    return f"#{c['id']} " + (
        f"ended {oslo(c['ended_at'])} ({c['end_reason']})" if c["ended_at"] else "live"
    )


@cache
def _env() -> Environment:
    env = environment("evidence", autoescape=True)
    env.filters["oslo"] = oslo
    env.filters["consent_brief"] = consent_brief
    return env


def verdicts(ev: dict[str, Any]) -> tuple[str, str]:
    """What the hash chain check and the replay found, in words."""
    verdict = (
        "intact"
        if ev["verification"]["ok"]
        else "PROBLEMS: " + "; ".join(p["what"] for p in ev["verification"]["problems"])
    )
    replay = (
        "replays as recorded"
        if ev["replay"]["ok"]
        else "DIVERGES: " + "; ".join(d["what"] for d in ev["replay"]["divergences"])
    )
    return verdict, replay


def to_html(ev: dict[str, Any]) -> str:
    c = ev["case"]
    wf = workflows.get(c["workflow"], c["workflow_version"])
    verdict, replay = verdicts(ev)
    return (
        _env()
        .get_template("case.html.j2")
        .render(
            ev=ev,
            c=c,
            port=ev["port"],
            verdict=verdict,
            replay=replay,
            instants=CONSENT_INSTANTS,
            diagram=Markup(svg(wf, ev["path"])),  # built from escaped names only
        )
    )

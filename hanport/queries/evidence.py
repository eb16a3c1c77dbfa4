"""``audit export``: one case's evidence in one file — the case, its events with their hashes,
its consent, its mails as sent, and its state diagram with the path it took highlighted.

The HTML opens offline: inline CSS and an inline SVG diagram, no script, no external URL.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.queries import audit
from hanport.queries.cases import case_view
from hanport.queries.mail import show_mail
from hanport.storage.views import reading
from hanport.workflows.definition import Workflow

CASE_FIELDS = (
    "case",
    "workflow",
    "workflow_version",
    "state",
    "version",
    "flags",
    "metering_point",
    "meter_number",
    "customer",
    "created_at",
)
MAIL_FIELDS = (
    "id",
    "seq",
    "template",
    "language",
    "recipient",
    "status",
    "message_id",
    "subject",
    "text",
    "html",
    "sent_at",
    "created_at",
)


def evidence(app: App, ref: str) -> dict[str, Any]:
    view = case_view(app, ref)
    with reading(app.engine) as views:
        case = views.cases.by_ref(view["case"])
        assert case is not None
        consent = audit.consent_view(views, json.loads(case.data).get("consent_id"))
        mail_ids = [m.id for m in views.mail.of_case(case.id)]
    verify = audit.verify(app, view["case"])
    replay = audit.replay(app, view["case"])[0]
    mails = [{k: m[k] for k in MAIL_FIELDS} for m in (show_mail(app, i) for i in mail_ids)]
    return {
        "kind": "hanport-case-evidence",
        "exported_at": isoformat_utc(app.clock.now()),
        "case": {k: view[k] for k in CASE_FIELDS},
        "events": view["history"],
        "consent": consent,
        "mails": mails,
        "hes_commands": view["hes_commands"],
        "verification": verify.as_dict(),
        "replay": replay.as_dict(),
        "path": [(e["from"], e["to"]) for e in view["history"] if e["from"]],
    }


# --- the diagram ------------------------------------------------------------------------------

BOX_W, BOX_H, GAP_X, GAP_Y = 150, 34, 40, 54


def _layers(wf: Workflow) -> dict[str, int]:
    """Depth of each state from the initial one (breadth first), for a top-down layout."""
    edges = defaultdict(set)
    for t in wf.transitions:
        if t.dest and t.trigger not in ("cancel", "clear_flag"):
            for s in t.source:
                if s != t.dest:
                    edges[s].add(t.dest)
    depth = {wf.initial: 0}
    queue = [wf.initial]
    while queue:
        s = queue.pop(0)
        for d in sorted(edges[s]):
            if d not in depth:
                depth[d] = depth[s] + 1
                queue.append(d)
    for st in wf.states:
        depth.setdefault(st.name, max(depth.values(), default=0) + 1)
    return depth


def svg(wf: Workflow, path: list[tuple[str, str]]) -> str:
    depth = _layers(wf)
    rows: dict[int, list[str]] = defaultdict(list)
    for st in wf.states:
        rows[depth[st.name]].append(st.name)
    pos: dict[str, tuple[int, int]] = {}
    width = max(len(v) for v in rows.values()) * (BOX_W + GAP_X) + GAP_X
    for d, names in rows.items():
        total = len(names) * (BOX_W + GAP_X) - GAP_X
        x0 = (width - total) // 2
        for i, n in enumerate(names):
            pos[n] = (x0 + i * (BOX_W + GAP_X), 20 + d * (BOX_H + GAP_Y))
    height = 40 + (max(rows) + 1) * (BOX_H + GAP_Y)
    taken = set(path)
    visited = {s for pair in path for s in pair}
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="state diagram">',
        '<defs><marker id="a" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#9aa5b1"/></marker>'
        '<marker id="t" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#b45309"/></marker></defs>',
    ]
    drawn = set()
    for t in wf.transitions:
        if not t.dest or t.trigger in ("clear_flag",):
            continue
        for s in t.source:
            if s == t.dest or (s, t.dest) in drawn:
                continue
            if t.trigger == "cancel" and (s, t.dest) not in taken:
                continue
            drawn.add((s, t.dest))
            (x1, y1), (x2, y2) = pos[s], pos[t.dest]
            hot = (s, t.dest) in taken
            parts.append(
                f'<line x1="{x1 + BOX_W // 2}" y1="{y1 + BOX_H}" x2="{x2 + BOX_W // 2}" y2="{y2}" '
                f'stroke="{"#b45309" if hot else "#cbd2d9"}" stroke-width="{3 if hot else 1}" marker-end="url(#{"t" if hot else "a"})"/>'
            )
    for st in wf.states:
        x, y = pos[st.name]
        on = st.name in visited
        fill = "#fde68a" if on else ("#eef2f6" if not st.final else "#e4e7eb")
        stroke = "#b45309" if on else "#9aa5b1"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="{14 if st.final else 6}" fill="{fill}" stroke="{stroke}" stroke-width="{2 if on else 1}"/>'
            f'<text x="{x + BOX_W // 2}" y="{y + 22}" text-anchor="middle" font-family="Arial, sans-serif" font-size="13">{html.escape(st.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


STYLE = """\
body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#1f2933} table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #cbd2d9;padding:4px 8px;font-size:13px;vertical-align:top} th{background:#f4f4f1;text-align:left}
code,td:last-child{font-family:monospace;font-size:11px} pre{background:#f4f4f1;padding:8px;white-space:pre-wrap}
.ok{color:#0b6e4f} .bad{color:#b91c1c}
"""


def _row(cells: list[Any], tag: str = "td") -> str:
    e = html.escape
    return (
        "<tr>"
        + "".join(f"<{tag}>{e('' if v is None else str(v))}</{tag}>" for v in cells)
        + "</tr>"
    )


def _events_html(ev: dict[str, Any]) -> str:
    return "".join(
        _row(
            [
                x["seq"],
                x["at_local"],
                x["actor"],
                x["actor_kind"],
                x["trigger"],
                f"{x['from'] or '∅'} → {x['to']}",
                x["hash"],
            ]
        )
        for x in ev["events"]
    )


def _mails_html(ev: dict[str, Any]) -> str:
    e = html.escape
    return (
        "".join(
            f"<details><summary>{e(m['template'])} ({e(m['language'])}) — {e(m['status'])} — {e(m['subject'] or '')}</summary>"
            f"<p>Message-ID: <code>{e(m['message_id'])}</code>; to {e(m['recipient'] or '(no address)')}; sent {e(m['sent_at'] or '-')}</p>"
            f"<pre>{e(m['text'] or '')}</pre></details>"
            for m in ev["mails"]
        )
        or "<p>(none)</p>"
    )


def _consent_html(ev: dict[str, Any]) -> str:
    consent = ev["consent"]
    if consent is None:
        return "<p>(none)</p>"
    return "<table>" + "".join(_row([k, v]) for k, v in consent.items()) + "</table>"


def _verdicts(ev: dict[str, Any]) -> tuple[str, str]:
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
    e = html.escape
    verdict, replay = _verdicts(ev)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence {e(c["case"])}</title>
<style>
{STYLE}</style></head><body>
<h1>Case {e(c["case"])}</h1>
<p>{e(c["workflow"])} v{c["workflow_version"]} — state <b>{e(c["state"])}</b> — metering point {e(str(c["metering_point"]))}, meter {e(str(c["meter_number"]))}, customer {e(str(c["customer"]))}. Flags: {e(", ".join(c["flags"]) or "none")}.</p>
<p>Exported {e(ev["exported_at"])}. Hash chain: <span class="{"ok" if ev["verification"]["ok"] else "bad"}">{e(verdict)}</span>. Replay: <span class="{"ok" if ev["replay"]["ok"] else "bad"}">{e(replay)}</span>.</p>
<h2>Path through the workflow</h2>
{svg(wf, [tuple(p) for p in ev["path"]])}
<h2>Events</h2>
<table>{_row(["seq", "when (Oslo)", "actor", "kind", "trigger", "change", "SHA-256"], "th")}{_events_html(ev)}</table>
<h2>Consent</h2>
{_consent_html(ev)}
<h2>Mail as sent</h2>
{_mails_html(ev)}
</body></html>
"""

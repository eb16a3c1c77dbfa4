"""Render a workflow definition as Mermaid or as plain text."""

from __future__ import annotations

from hanport.workflows.definition import Workflow
from hanport.workflows.diff import WorkflowDiff


def mermaid(wf: Workflow, highlight: list[tuple[str, str]] | None = None) -> str:
    """A ``stateDiagram-v2``; ``highlight`` is a path of (source, dest) pairs to emphasise."""
    lines = ["stateDiagram-v2", f"    [*] --> {wf.initial}"]
    seen: set[tuple[str, str, str]] = set()
    for t in wf.transitions:
        if t.dest is None or t.trigger in ("cancel", "clear_flag"):
            continue
        for s in t.source:
            key = (s, t.dest, t.trigger)
            if key in seen:
                continue
            seen.add(key)
            guard = f" [{' and '.join(t.guards)}]" if t.guards else ""
            lines.append(f"    {s} --> {t.dest}: {t.trigger}{guard}")
    lines.append(f"    note right of {wf.initial}: cancel from every non-final state")
    for st in wf.states:
        if st.final:
            lines.append(f"    {st.name} --> [*]")
    if highlight:
        lines.append("    classDef taken fill:#fde68a,stroke:#b45309")
        for name in sorted({n for pair in highlight for n in pair}):
            lines.append(f"    class {name} taken")
    return "\n".join(lines) + "\n"


def text(wf: Workflow) -> str:
    out = [f"{wf.name} v{wf.version}: {wf.title}", "", "States:"]
    for s in wf.states:
        marks = []
        if s.final:
            marks.append("final")
        if s.flag:
            marks.append(f"flag {s.flag}")
        if s.notices:
            marks.append("notice " + ", ".join(n.template for n in s.notices))
        extra = f"  [{'; '.join(marks)}]" if marks else ""
        out.append(f"  {s.name:<18} {s.help}{extra}")
    out += ["", "Transitions:"]
    for t in wf.transitions:
        dest = t.dest or "(stays)"
        cond = ""
        if t.guards:
            cond += " if " + " and ".join(t.guards)
        if t.unless:
            cond += " unless " + " or ".join(t.unless)
        src = ", ".join(t.source) if len(t.source) <= 4 else "every non-final state"
        fields = ", ".join(
            f"{f.name} ({'; '.join(f.rules)})" if f.rules else f.name for f in t.fields
        )
        out.append(f"  {t.trigger:<24} {src} -> {dest}{cond}  (role {t.role.value})")
        if fields:
            out.append(f"  {'':<24} fields: {fields}")
    out += ["", "Timers:"]
    for tm in wf.timers:
        when = str(tm.after) if tm.after else f"at {tm.at_field}"
        out.append(f"  {tm.name:<18} {tm.kind.value:<9} {when:<18} -> {tm.trigger}  {tm.help}")
    return "\n".join(out) + "\n"


def _edges(wf: Workflow) -> dict[tuple[str, str, str], str]:
    """(source, dest, trigger) → its guard text, for the diagram's arrows."""
    out: dict[tuple[str, str, str], str] = {}
    for t in wf.transitions:
        if t.dest is None or t.trigger in ("cancel", "clear_flag"):
            continue
        for s in t.source:
            out.setdefault(
                (s, t.dest, t.trigger), f" [{' and '.join(t.guards)}]" if t.guards else ""
            )
    return out


def mermaid_diff(old: Workflow, new: Workflow, d: WorkflowDiff) -> str:
    """``new``'s diagram with what changed from ``old`` marked: added states green, changed
    states amber, removed states (and arrows) grey and dashed, arrows of added or changed
    triggers labelled."""
    lines = ["stateDiagram-v2", f"    [*] --> {new.initial}"]
    e_old, e_new = _edges(old), _edges(new)
    added, changed = d.of("trigger", "added"), d.of("trigger", "changed")
    for (s, dest, trig), guard in e_new.items():
        mark = " (new)" if trig in added or (s, dest, trig) not in e_old else ""
        mark = mark or (" (changed)" if trig in changed else "")
        lines.append(f"    {s} --> {dest}: {trig}{guard}{mark}")
    for s, dest, trig in e_old.keys() - e_new.keys():
        lines.append(f"    {s} --> {dest}: {trig} (removed)")
    for st in new.states:
        if st.final:
            lines.append(f"    {st.name} --> [*]")
    lines += [
        "    classDef added fill:#bbf7d0,stroke:#15803d",
        "    classDef changed fill:#fde68a,stroke:#b45309",
        "    classDef removed fill:#e5e7eb,stroke:#6b7280,stroke-dasharray:4 4",
    ]
    for change in ("added", "changed", "removed"):
        for name in sorted(d.of("state", change)):
            lines.append(f"    class {name} {change}")
    return "\n".join(lines) + "\n"

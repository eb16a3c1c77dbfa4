"""Render a workflow definition as Mermaid or as plain text."""

from __future__ import annotations

from hanport.workflows.definition import Workflow


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

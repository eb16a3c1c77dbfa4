"""What changed between two versions of a workflow: states, triggers (with their guards, roles,
fields and intents), timers and notices added, removed or changed. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hanport.workflows.definition import Workflow
from hanport.workflows.versions import notices, plain


@dataclass(frozen=True)
class Change:
    kind: str  # state | trigger | timer | notice
    name: str
    change: str  # added | removed | changed
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "change": self.change, "detail": self.detail}


@dataclass(frozen=True)
class WorkflowDiff:
    name: str
    old: int
    new: int
    changes: tuple[Change, ...]

    def of(self, kind: str, change: str) -> set[str]:
        return {c.name for c in self.changes if c.kind == kind and c.change == change}

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.name,
            "from": self.old,
            "to": self.new,
            "changes": [c.as_dict() for c in self.changes],
        }


def _states(wf: Workflow) -> dict[str, Any]:
    return {s.name: plain(s) for s in wf.states}


def _triggers(wf: Workflow) -> dict[str, Any]:
    return {t: [plain(x) for x in wf.transitions_for(t)] for t in wf.triggers}


def _timers(wf: Workflow) -> dict[str, Any]:
    return {t.name: plain(t) for t in wf.timers}


def _guards(transitions: list[dict[str, Any]]) -> set[str]:
    return {g for t in transitions for g in (*t["guards"], *(f"not {u}" for u in t["unless"]))}


def _detail(kind: str, old: Any, new: Any) -> str:
    """In words, what differs in a changed element."""
    if kind == "trigger":
        parts = []
        src_old = {s for t in old for s in t["source"]}
        src_new = {s for t in new for s in t["source"]}
        if src_new - src_old:
            parts.append("now also from " + ", ".join(sorted(src_new - src_old)))
        if src_old - src_new:
            parts.append("no longer from " + ", ".join(sorted(src_old - src_new)))
        g_old, g_new = _guards(old), _guards(new)
        if g_new - g_old:
            parts.append("guards added: " + ", ".join(sorted(g_new - g_old)))
        if g_old - g_new:
            parts.append("guards removed: " + ", ".join(sorted(g_old - g_new)))
        if {t["dest"] for t in old} != {t["dest"] for t in new}:
            parts.append(
                "destinations " + _arrow({t["dest"] for t in old}, {t["dest"] for t in new})
            )
        return "; ".join(parts) or "roles, fields, notices or intents changed"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "type")
    return "changed: " + ", ".join(keys)


def _arrow(old: set[Any], new: set[Any]) -> str:
    def words(s: set[Any]) -> str:
        return ", ".join(sorted(str(x or "(stays)") for x in s))

    return f"{words(old)} → {words(new)}"


def diff(old: Workflow, new: Workflow) -> WorkflowDiff:
    """The changes from ``old`` to ``new`` (two versions of one workflow)."""
    changes: list[Change] = []
    for kind, part in (("state", _states), ("trigger", _triggers), ("timer", _timers)):
        a, b = part(old), part(new)
        for name in sorted(set(a) | set(b)):
            if name not in a:
                changes.append(Change(kind, name, "added"))
            elif name not in b:
                changes.append(Change(kind, name, "removed"))
            elif a[name] != b[name]:
                changes.append(Change(kind, name, "changed", _detail(kind, a[name], b[name])))
    n_old, n_new = set(notices(old)), set(notices(new))
    changes += [Change("notice", n, "added") for n in sorted(n_new - n_old)]
    changes += [Change("notice", n, "removed") for n in sorted(n_old - n_new)]
    return WorkflowDiff(new.name, old.version, new.version, tuple(changes))


def text(d: WorkflowDiff) -> str:
    """The diff as plain text, one change per line, grouped by kind."""
    out = [f"{d.name} v{d.old} → v{d.new}: {len(d.changes)} changes"]
    sign = {"added": "+", "removed": "-", "changed": "~"}
    for kind in ("state", "trigger", "timer", "notice"):
        rows = [c for c in d.changes if c.kind == kind]
        if not rows:
            continue
        out += ["", f"{kind.capitalize()}s:"]
        for c in rows:
            out.append(f"  {sign[c.change]} {c.name}" + (f"  ({c.detail})" if c.detail else ""))
    return "\n".join(out) + "\n"

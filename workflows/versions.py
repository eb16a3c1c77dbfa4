"""Released workflow versions are immutable: each version's declared definition reduces to a
canonical description (states, transitions with their guards, roles, fields and intents, timers,
notices, open rules), hashed into a fingerprint. ``workflows/released.py`` records the fingerprint
of every released version; a test fails when a released definition changes (release a new
version instead). Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from enum import Enum
from typing import Any

from hanport.workflows.definition import Workflow


def plain(value: Any) -> Any:
    """A JSON-able, deterministic form of a definition's value (no object addresses)."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        for f in dataclasses.fields(value):
            if f.name.startswith("_"):
                continue
            out[f.name] = plain(getattr(value, f.name))
        return out
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in sorted(value.items())}
    if callable(value):
        return f"{value.__module__}.{value.__qualname__}"
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def describe(wf: Workflow) -> dict[str, Any]:
    """The canonical description of a workflow version (what its fingerprint hashes)."""
    described = plain(wf)
    assert isinstance(described, dict)
    return described


def fingerprint(wf: Workflow) -> str:
    text = json.dumps(describe(wf), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def notices(wf: Workflow) -> tuple[str, ...]:
    """Every notice template a version can send (on open, on entering a state, on a
    transition), sorted."""
    names = {n.template for n in wf.open_notices}
    names |= {n.template for s in wf.states for n in s.notices}
    names |= {n.template for t in wf.transitions for n in t.notices}
    return tuple(sorted(names))


def released_problems(workflows: tuple[Workflow, ...], released: dict[str, str]) -> list[str]:
    """What differs between the declared versions and the released fingerprints: a released
    version whose definition changed or that is no longer declared."""
    declared = {wf.key: wf for wf in workflows}
    problems = []
    for key, recorded in sorted(released.items()):
        wf = declared.get(key)
        if wf is None:
            problems.append(f"{key} was released but is no longer declared")
        elif fingerprint(wf) != recorded:
            problems.append(
                f"{key} was released with fingerprint {recorded[:12]}…, its definition now "
                f"hashes to {fingerprint(wf)[:12]}…: a released version never changes — "
                f"declare version {wf.version + 1} beside it instead"
            )
    return problems

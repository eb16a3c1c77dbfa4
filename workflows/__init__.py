"""Pure workflow definitions (no I/O): one module per workflow, plus the runner.

Every version of every workflow stays importable so that old cases replay under the version they
were pinned to: ``get(name, version)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from hanport.workflows import close_port, meter_swap, nore_open, privacy_request
from hanport.workflows.definition import Workflow
from hanport.workflows.runner import Runner

_ALL: tuple[Workflow, ...] = (
    nore_open.V1,
    nore_open.V2,
    meter_swap.WORKFLOW,
    close_port.WORKFLOW,
    close_port.WORKFLOW_V2,
    privacy_request.WORKFLOW,
)
WORKFLOWS: dict[tuple[str, int], Workflow] = {(w.name, w.version): w for w in _ALL}
LATEST: dict[str, Workflow] = {}
for _w in _ALL:
    if _w.version >= LATEST.get(_w.name, _w).version:
        LATEST[_w.name] = _w


def canonical_name(name: str) -> str:
    """Accept ``nore-open`` as well as ``nore_open``."""
    return name.strip().replace("-", "_")


def versions_of(name: str) -> tuple[int, ...]:
    """The declared versions of workflow ``name``, oldest first (empty: no such workflow)."""
    return tuple(sorted(v for n, v in WORKFLOWS if n == canonical_name(name)))


def for_new_case(name: str, pins: Mapping[str, int] | None = None) -> Workflow:
    """The version a new case of ``name`` starts on: the pinned one (configuration
    ``workflow_versions``), else the newest. ``KeyError`` for an unknown workflow."""
    name = canonical_name(name)
    pinned = (pins or {}).get(name)
    return LATEST[name] if pinned is None else WORKFLOWS[(name, pinned)]


def get(name: str, version: int | None = None) -> Workflow:
    name = canonical_name(name)
    if version is None:
        return LATEST[name]
    return WORKFLOWS[(name, version)]


@cache
def runner(name: str, version: int) -> Runner:
    """The one runner (one ``Machine``) for a workflow version, built on first use."""
    return Runner(WORKFLOWS[(name, version)])

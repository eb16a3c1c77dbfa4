"""``workflow versions``: each workflow's declared versions, the one new cases start on, whether
it is released (its fingerprint recorded), the notices it sends, and its live and ended cases."""

from __future__ import annotations

from typing import Any

from hanport import workflows
from hanport.bootstrap import App
from hanport.errors import NotFound
from hanport.storage.views import reading
from hanport.workflows.released import RELEASED
from hanport.workflows.versions import fingerprint, notices


def versions(app: App, name: str | None = None) -> list[dict[str, Any]]:
    """One row per workflow version (of ``name``, or of every workflow), oldest first."""
    names = sorted({n for n, _ in workflows.WORKFLOWS})
    if name is not None:
        if not workflows.versions_of(name):
            raise NotFound(f"no workflow {name!r} (known: {', '.join(names)})")
        names = [workflows.canonical_name(name)]
    with reading(app.engine) as views:
        counts = views.cases.by_version()
    live = {(c.workflow, c.version): c.count for c in counts if c.active}
    ended = {(c.workflow, c.version): c.count for c in counts if not c.active}
    rows = []
    for n in names:
        starts = workflows.for_new_case(n, app.settings.workflow_versions).version
        for v in workflows.versions_of(n):
            wf = workflows.get(n, v)
            rows.append(
                {
                    "workflow": n,
                    "version": v,
                    "title": wf.title,
                    "new_cases": v == starts,
                    "newest": v == workflows.LATEST[n].version,
                    "released": RELEASED.get(wf.key) == fingerprint(wf),
                    "fingerprint": fingerprint(wf),
                    "live_cases": live.get((n, v), 0),
                    "ended_cases": ended.get((n, v), 0),
                    "notices": list(notices(wf)),
                }
            )
    return rows

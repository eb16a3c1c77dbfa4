"""``hanport workflow versions`` and ``workflow diff`` at the command line."""

from __future__ import annotations

from tests.e2e.cli import Hanport
from tests.support import NORE_POINT


def test_versions_list_counts_and_the_version_new_cases_start_on(hp: Hanport) -> None:
    hp.call("case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT).ok()
    out = hp.call("workflow", "versions", as_json=False).ok().out
    lines = {ln.split()[0] + " " + ln.split()[1]: ln for ln in out.splitlines()[1:]}
    assert lines["nore_open v1"].split()[2:5] == ["yes", "yes", "1"]  # pinned: new cases, live
    assert lines["nore_open v2"].split()[2:4] == ["yes", "0"]  # released, no cases
    rows = hp.call("workflow", "versions", "nore-open").ok().json
    assert [(r["version"], r["live_cases"], r["newest"]) for r in rows] == [
        (1, 1, False),
        (2, 0, True),
    ]
    hp.refused(3, "workflow", "versions", "nore-shut", says="no workflow 'nore-shut'")


def test_diff_as_text_and_mermaid(hp: Hanport) -> None:
    text = hp.call("workflow", "diff", "nore-open", "1", "2", as_json=False).ok().out
    assert text.startswith("nore_open v1 → v2:")
    assert "  + objection_window" in text and "  + object" in text
    mermaid = hp.call("workflow", "diff", "nore-open", "1", "2", "--format", "mermaid").ok().json
    assert mermaid["rendered"].startswith("stateDiagram-v2")
    assert {"kind": "state", "name": "identity_review", "change": "added", "detail": ""} in (
        mermaid["changes"]
    )
    hp.refused(3, "workflow", "diff", "nore-open", "1", "9", says="has no version 9")
    hp.refused(2, "workflow", "diff", "nore-open", "1", "two")

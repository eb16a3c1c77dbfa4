"""``workflow versions`` counts each version's live and ended cases (both backends) and says
which version new cases start on under the configured pins."""

from __future__ import annotations

from pathlib import Path

from hanport.bootstrap import App
from hanport.queries.versions import versions
from tests.support import NORE_POINT, NORE_POINT_2, actor, advance, make_app, open_case, seed


def _open(app: App, customer: str, point: str) -> str:
    return open_case(app, actor(app), "nore_open", customer=customer, metering_point=point).case


def _row(rows: list[dict[str, object]], version: int) -> dict[str, object]:
    return next(r for r in rows if r["workflow"] == "nore_open" and r["version"] == version)


def test_live_and_ended_cases_per_version(db_url: str, tmp_path: Path) -> None:
    old = make_app(db_url)  # pinned to v1
    try:
        seed(old, tmp_path / "registry")
        ended = _open(old, "1001", NORE_POINT)
        advance(old, actor(old), ended, "cancel", {"reason": "test"})
        _open(old, "1001", NORE_POINT)
        rows = versions(old, "nore-open")
        assert [(r["version"], r["new_cases"]) for r in rows] == [(1, True), (2, False)]
        assert (_row(rows, 1)["live_cases"], _row(rows, 1)["ended_cases"]) == (1, 1)
    finally:
        old.close()
    new = make_app(db_url, workflow_versions={})
    try:
        _open(new, "1005", NORE_POINT_2)
        rows = versions(new)
        assert {r["workflow"] for r in rows} == {
            "nore_open",
            "meter_swap",
            "close_port",
            "privacy_request",
        }
        assert _row(rows, 2)["new_cases"] and _row(rows, 2)["live_cases"] == 1
        assert (_row(rows, 1)["live_cases"], _row(rows, 1)["ended_cases"]) == (1, 1)
        assert all(r["released"] for r in rows)
        assert "objection_window" in _row(rows, 2)["notices"]  # type: ignore[operator]
    finally:
        new.close()

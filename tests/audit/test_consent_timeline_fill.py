"""Migration 0010 fills the consent timeline from a history recorded before it existed: on a
copy of tests/fixtures/demo-history-v1.db (a v1 database), the register the old way (folding
the events, on the schema before 0010) and the new way (``consent list --at`` from the
timeline, after it) agree at every instant of the history, and ``audit verify`` passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from hanport.bootstrap import App, bootstrap
from hanport.calendar import isoformat_utc
from hanport.config import load
from hanport.queries import audit
from hanport.service.reads import consent_register
from hanport.service.roles import resolve
from hanport.storage import migrate
from tests.audit.helpers import Cli, copy_history
from tests.integration.register_oracle import old_register

ROLES = "revisor=auditor"
FILTERS: list[dict[str, Any]] = [{}, {"live": True}, {"live": False}]


def _instants(url: str) -> list[datetime]:
    """Every instant the history holds (events and the port timeline), and a moment before."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            raw = c.execute(
                text("SELECT occurred_at FROM case_events UNION SELECT at FROM port_events")
            ).scalars()
            found = sorted({datetime.fromisoformat(v).replace(tzinfo=UTC) for v in raw})
    finally:
        engine.dispose()
    return [found[0] - timedelta(hours=1), *found]


@pytest.fixture
def old_way(tmp_path: Path) -> Iterator[tuple[str, dict[tuple[Any, ...], list[Any]]]]:
    """The copy at revision 0009, and the old register at each instant (None: now) and
    filter."""
    dest = copy_history(tmp_path / "history" / "demo-history-v1.db")
    url = f"sqlite:///{dest}"
    engine = create_engine(url)
    try:
        migrate.upgrade(engine, "0009")
        moments: list[datetime | None] = [None, *_instants(url)]
        answers = {
            (at, tuple(f.items())): old_register(engine, at, **f) for at in moments for f in FILTERS
        }
        with engine.connect() as c:
            assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0009"
    finally:
        engine.dispose()
    yield url, answers


@pytest.fixture
def app(old_way: tuple[str, Any]) -> Iterator[App]:
    """The copy opened as an auditor: bootstrap migrates it to the head (0010 fills the
    timeline)."""
    url, _ = old_way
    a = bootstrap(load({"HANPORT_DATABASE_URL": url, "HANPORT_ROLES": ROLES}, user="revisor"))
    try:
        yield a
    finally:
        a.close()


def test_the_filled_timeline_answers_as_the_events_did(
    app: App, old_way: tuple[str, dict[tuple[Any, ...], list[Any]]]
) -> None:
    _, answers = old_way
    with app.engine.connect() as c:
        kinds = dict(
            c.execute(text("SELECT kind, count(*) FROM consent_events GROUP BY kind")).all()
        )
    assert kinds.get("given", 0) >= 5 and kinds.get("ended", 0) >= 3, kinds
    reader = resolve(app, "revisor")
    for (at, f), old in answers.items():
        assert consent_register(app, reader, at=at, **dict(f)) == old, (at, f)
    assert any(r["source"] == "legacy_import" for r in answers[(None, ())])
    assert any(r["end_reason"] for r in answers[(None, ())])
    report = audit.verify(app)
    assert report.ok, report.problems


def test_consent_list_at_instants_after_the_fill(
    app: App, old_way: tuple[str, dict[tuple[Any, ...], list[Any]]], tmp_path: Path
) -> None:
    """``consent list --at T --format json`` (the database's JSON) at several instants."""
    url, answers = old_way
    cli = Cli(url, tmp_path / "cli", roles=ROLES)
    moments = sorted(at for at, f in answers if at is not None and not f)
    for at in [*moments[:: max(1, len(moments) // 6)], moments[-1]]:
        for f, flag in (((), None), ((("live", True),), "--live"), ((("live", False),), "--ended")):
            args = ["consent", "list", "--at", isoformat_utc(at), "--format", "json"]
            r = cli(*args, *([flag] if flag else []), user="revisor", as_json=False)
            assert r.code == 0, str(r)
            assert r.json == answers[(at, f)], (at, flag)

"""The scheduler's nightly slot: every new file in ``HANPORT_BATCH_INBOX`` applied once and
moved (with its rejects file) to ``done/``; the same content dropped again is not applied again;
two schedulers on one database apply each file exactly once. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanport.bootstrap import App
from hanport.entrypoints.inbox import run_inbox
from hanport.entrypoints.scheduler import nightly
from tests.batch import crashdata
from tests.batch.helpers import (
    FUTURE,
    PAST,
    cases_for,
    documents,
    open_port_1001,
    row,
    rows,
    sha256,
    write_file,
)
from tests.batch.workers import WAIT, inbox_app, scheduler
from tests.support import (
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    actor,
    import_customers,
    import_points,
    make_app,
)

UNREGISTERED = "707057500000000995"  # valid check digit, not in the registry


def url_of(app: App) -> str:
    return app.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def scheduled(seeded: App, inbox: Path) -> Any:
    """A second App on the seeded database, configured through HANPORT_BATCH_INBOX."""
    app = inbox_app(url_of(seeded), str(inbox))
    assert app.settings.batch_inbox == str(inbox)
    try:
        yield app
    finally:
        app.close()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def runs_per_hash(app: App) -> Counter[str]:
    return Counter(r["file_hash"] for r in rows(app.engine, "SELECT file_hash FROM batch_runs"))


def two_files(inbox: Path) -> tuple[Path, Path]:
    a = write_file(
        inbox / "2026-03-01.csv",
        [
            row("a-1", NORE_POINT, "move_out", FUTURE, "1001"),
            row("a-bad", UNREGISTERED, "move_out", PAST, "1001"),
        ],
    )
    b = write_file(
        inbox / "2026-03-02.csv",
        [
            row("b-1", NORE_OPEN_POINT, "move_in", PAST, "9001"),
            row("b-2", NORE_POINT_2, "move_out", PAST, "1005"),
        ],
    )
    return a, b


def test_the_inbox_applies_each_file_and_moves_it_and_its_rejects_to_done(
    seeded: App, scheduled: App, inbox: Path
) -> None:
    open_port_1001(seeded)
    a, b = two_files(inbox)
    hashes = {sha256(a), sha256(b)}
    result = run_inbox(scheduled)
    assert result["files"] == 2, result
    assert [s["file"] for s in result["applied"]] == [str(a), str(b)]  # oldest name first
    assert listing(inbox) == [
        "done/2026-03-01.csv",
        "done/2026-03-01.csv.rejects.csv",
        "done/2026-03-02.csv",
    ]
    assert runs_per_hash(seeded) == Counter(dict.fromkeys(hashes, 1))
    docs = documents(seeded.engine)
    assert {d: docs[d]["outcome"] for d in docs} == {
        "a-1": "applied",
        "a-bad": "rejected",
        "b-1": "applied",
        "b-2": "noop",
    }
    files = rows(seeded.engine, "SELECT * FROM batch_files ORDER BY file_name")
    assert [(f["file_name"], f["status"]) for f in files] == [
        ("2026-03-01.csv", "done"),
        ("2026-03-02.csv", "done"),
    ]
    assert {f["run_id"] for f in files} == {
        r["id"] for r in rows(seeded.engine, "SELECT id FROM batch_runs")
    }
    assert len(cases_for(seeded, NORE_POINT, "close_port")) == 1
    assert len(cases_for(seeded, NORE_OPEN_POINT, "close_port")) == 1


def test_the_same_content_dropped_again_is_not_applied_again(
    seeded: App, scheduled: App, inbox: Path
) -> None:
    open_port_1001(seeded)
    a, _ = two_files(inbox)
    content = a.read_bytes()
    run_inbox(scheduled)
    before_docs, before_runs = documents(seeded.engine), runs_per_hash(seeded)
    cases_before = rows(seeded.engine, "SELECT id, state, version FROM cases ORDER BY id")

    (inbox / "2026-03-01.csv").write_bytes(content)  # the same name again
    (inbox / "resent.csv").write_bytes(content)  # and under another name
    result = run_inbox(scheduled)
    assert result["files"] == 0, result
    assert sorted(result["skipped"]) == ["2026-03-01.csv", "resent.csv"]
    assert runs_per_hash(seeded) == before_runs
    assert documents(seeded.engine) == before_docs
    assert rows(seeded.engine, "SELECT id, state, version FROM cases ORDER BY id") == cases_before
    done = listing(inbox)
    assert all(p.startswith("done/") for p in done), done
    assert "done/resent.csv" in done
    assert len([p for p in done if p.startswith("done/2026-03-01.")]) == 3  # kept, not replaced
    assert run_inbox(scheduled)["files"] == 0


def test_nightly_runs_the_inbox(seeded: App, scheduled: App, inbox: Path) -> None:
    open_port_1001(seeded)
    a, b = two_files(inbox)
    result = nightly(scheduled)
    assert result["terminations"]["files"] == 2, result
    assert listing(inbox)[-1] == "done/2026-03-02.csv"
    assert runs_per_hash(seeded) == Counter(
        {sha256(inbox / "done" / a.name): 1, sha256(inbox / "done" / b.name): 1}
    )
    assert nightly(scheduled)["terminations"]["files"] == 0


def test_no_inbox_configured_or_missing_does_nothing(seeded: App, tmp_path: Path) -> None:
    assert run_inbox(seeded) == {"files": 0}
    app = inbox_app(url_of(seeded), str(tmp_path / "not-there"))
    try:
        assert run_inbox(app) == {"files": 0}
    finally:
        app.close()
    assert rows(seeded.engine, "SELECT id FROM batch_runs") == []


def test_an_unusable_file_in_the_inbox_does_not_stop_the_others(
    seeded: App, scheduled: App, inbox: Path
) -> None:
    open_port_1001(seeded)
    two_files(inbox)
    (inbox / "2026-03-01b.csv").write_bytes(b"\xff\xfe not a terminations file")
    result = run_inbox(scheduled)
    assert result["files"] == 2, result
    assert {"done/2026-03-01.csv", "done/2026-03-02.csv"} <= set(listing(inbox))
    assert "done/2026-03-01b.csv" not in listing(inbox)  # not filed as applied
    assert len(runs_per_hash(seeded)) == 2


# --- two schedulers at once -------------------------------------------------------------------


def generated(app: App, folder: Path, n: int) -> crashdata.Registry:
    """``n`` Nore points, every port open (legacy consents), imported into ``app``."""
    reg = crashdata.registry(n, 1.0, random.Random(4))
    c, p = crashdata.write_registry(reg, folder)
    assert not import_customers(app, actor(app), c).rejected
    assert not import_points(app, actor(app), p).rejected
    return reg


def files_for(reg: crashdata.Registry, inbox: Path, files: int, per_file: int) -> list[Path]:
    points = reg.open_points
    out = []
    for f in range(files):
        lines = []
        for i in range(per_file):
            g = points[f * per_file + i]
            lines.append(row(f"f{f}-{i}", g, "move_out", PAST, reg.customer_of[g]))
        lines.append(row(f"f{f}-noop", points[0], "move_out", PAST, reg.customer_of[points[-1]]))
        out.append(write_file(inbox / f"terminations-{f:02d}.csv", lines))
    return out


def collect(queue: Any, n: int) -> dict[str, tuple[int, Any]]:
    out = {}
    for _ in range(n):
        name, code, detail = queue.get(timeout=WAIT * 2)
        out[name] = (code, detail)
    return out


def check_each_file_once(app: App, paths: list[Path], hashes: list[str], per_file: int) -> None:
    assert runs_per_hash(app) == Counter(dict.fromkeys(hashes, 1))
    docs = documents(app.engine)
    assert len(docs) == len(paths) * (per_file + 1)
    assert Counter(d["outcome"] for d in docs.values()) == Counter(
        applied=len(paths) * per_file, noop=len(paths)
    )
    closes = rows(app.engine, "SELECT point_id FROM cases WHERE workflow = 'close_port'")
    assert len(closes) == len({c["point_id"] for c in closes}) == len(paths) * per_file
    files = rows(app.engine, "SELECT status FROM batch_files")
    assert [f["status"] for f in files] == ["done"] * len(paths)


@pytest.fixture
def pg_app() -> Iterator[App]:
    """An App on a fresh PostgreSQL database (several schedulers share one in production)."""
    from tests.conftest import drop_pg_database, new_pg_database

    url = new_pg_database()
    app = make_app(url)
    try:
        yield app
    finally:
        app.close()
        drop_pg_database(url)


def test_two_schedulers_at_once_on_postgresql_apply_each_file_exactly_once(
    pg_app: App, tmp_path: Path, inbox: Path
) -> None:
    app = pg_app
    files, per_file = 6, 8
    reg = generated(app, tmp_path / "registry", files * per_file)
    paths = files_for(reg, inbox, files, per_file)
    hashes = [sha256(p) for p in paths]
    ctx = multiprocessing.get_context("spawn")
    queue, barrier = ctx.Queue(), ctx.Barrier(2)
    procs = [
        ctx.Process(target=scheduler, args=(name, url_of(app), str(inbox), queue, barrier))
        for name in ("one", "two")
    ]
    for p in procs:
        p.start()
    try:
        results = collect(queue, 2)
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.kill()
    assert all(code == 0 for code, _ in results.values()), results
    applied = sum(r["files"] for _, r in results.values())
    assert applied == files, results
    check_each_file_once(app, paths, hashes, per_file)
    assert listing(inbox) == sorted(f"done/{p.name}" for p in paths)


def test_a_scheduler_that_finds_its_file_already_moved_carries_on(
    app: App, tmp_path: Path, inbox: Path
) -> None:
    """Forced overlap: scheduler one applies the first file and marks it done, and is held just
    before moving it; scheduler two starts then, files that one as done and applies the rest;
    then one goes on."""
    files, per_file = 3, 4
    reg = generated(app, tmp_path / "registry", files * per_file)
    paths = files_for(reg, inbox, files, per_file)
    hashes = [sha256(p) for p in paths]
    ctx = multiprocessing.get_context("spawn")
    queue, paused, resume = ctx.Queue(), ctx.Event(), ctx.Event()
    url = url_of(app)
    one = ctx.Process(
        target=scheduler,
        args=("one", url, str(inbox), queue),
        kwargs={"paused": paused, "resume": resume},
    )
    two = ctx.Process(
        target=scheduler, args=("two", url, str(inbox), queue), kwargs={"start": paused}
    )
    one.start()
    two.start()
    try:
        first = collect(queue, 1)
        resume.set()
        results = {**first, **collect(queue, 1)}
    finally:
        resume.set()
        for p in (one, two):
            p.join(WAIT)
            if p.is_alive():
                p.kill()
    assert results["two"][0] == 0, results
    assert results["one"][0] == 0, results["one"][1]
    assert results["one"][1]["files"] + results["two"][1]["files"] == files
    check_each_file_once(app, paths, hashes, per_file)
    assert listing(inbox) == sorted(f"done/{p.name}" for p in paths)


# --- a busy SQLite database -------------------------------------------------------------------


def test_a_busy_sqlite_database_does_not_fail_the_nightly_slot(
    sqlite_url: str, tmp_path: Path, inbox: Path
) -> None:
    import sqlite3
    import threading
    import time

    from tests.support import seed

    app = make_app(sqlite_url)
    try:
        seed(app, tmp_path / "registry")
        open_port_1001(app)
        two_files(inbox)
        sched = inbox_app(sqlite_url, str(inbox))
        # Another writer holds SQLite's write lock while the scheduler starts its slot …
        raw = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("UPDATE meta SET value = value WHERE key = 'salt'")
        outcome: dict[str, Any] = {}

        def slot() -> None:
            try:
                outcome["result"] = run_inbox(sched)
            except Exception as exc:
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        worker = threading.Thread(target=slot)
        worker.start()
        time.sleep(1.0)
        raw.execute("COMMIT")  # … and commits well within the busy timeout.
        raw.close()
        worker.join(WAIT)
        sched.close()
        assert "error" not in outcome, outcome["error"]
        assert outcome["result"]["files"] == 2
        assert len(runs_per_hash(app)) == 2
    finally:
        app.close()


def test_the_kept_files_go_when_their_retention_period_ends(
    seeded: App, scheduled: App, inbox: Path
) -> None:
    """The files a run leaves in ``done/`` and ``failed/`` (with their rejects and reasons)
    are the batch's evidence for the ``batch_file`` period (3 years), then the nightly slot
    deletes them — once; ``privacy due`` lists them first."""
    from datetime import timedelta

    from hanport.service.retention import due

    open_port_1001(seeded)
    two_files(inbox)
    (inbox / "broken.csv").write_bytes(b"\xff\xfe not a terminations file")
    run_inbox(scheduled)
    kept = listing(inbox)
    assert "done/2026-03-01.csv.rejects.csv" in kept and "failed/broken.csv.reason.txt" in kept
    dpo = actor(seeded, "dpo")
    assert due(scheduled, dpo)["batch_files"] == []
    assert nightly(scheduled)["retention"]["batch_file"] == 0
    assert listing(inbox) == kept
    scheduled.clock.advance(timedelta(days=3 * 366))  # type: ignore[attr-defined]
    assert sorted(due(scheduled, dpo)["batch_files"]) == [
        "2026-03-01.csv",
        "2026-03-02.csv",
        "broken.csv",
    ]
    assert nightly(scheduled)["retention"]["batch_file"] == 3
    assert listing(inbox) == []
    assert nightly(scheduled)["retention"]["batch_file"] == 0  # idempotent
    # A file dropped later is kept for its own period.
    write_file(inbox / "2029-04-01.csv", [row("c-1", NORE_POINT_2, "move_out", PAST, "1005")])
    run_inbox(scheduled)
    assert nightly(scheduled)["retention"]["batch_file"] == 0
    assert listing(inbox) == ["done/2029-04-01.csv"]

"""kill -9 anywhere in a long batch, many times in a row, then one run to completion: the result
is exactly what one clean run gives.

A registry of 1,700 Nore points (about 30% of the ports open under legacy consents) and a
5,000-row terminations file mixing closes by the holder, move_out of someone else, move_in by
newcomers, rows for closed ports, rollbacks of earlier rows, repeated documents, a reused
document id and a few bad rows. ``python -m hanport … batch terminations FILE`` runs as a
subprocess and is SIGKILLed 20 times at random points (seeded), on the same database, then once
to completion. A second fresh database, given the same registry, runs the file once cleanly:
the reference.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hanport.storage.engine import create_engine
from tests.batch import crashdata
from tests.batch.helpers import cli_args, cli_env, rows, verify_chains
from tests.support import actor, import_customers, import_points, make_app

SEED = 20260302
POINTS = 1_700
OPEN_SHARE = 0.3
ROWS = 5_000
KILLS = 20
RUN_TIMEOUT = 120.0


@pytest.fixture
def reference_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A second fresh database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    from tests.conftest import drop_pg_database, new_pg_database

    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def _prepare(url: str, folder: Path, reg: crashdata.Registry) -> None:
    app = make_app(url)
    try:
        c, p = crashdata.write_registry(reg, folder)
        rc = import_customers(app, actor(app), c)
        rp = import_points(app, actor(app), p)
        assert not rc.rejected and not rp.rejected, (rc.rejected[:3], rp.rejected[:3])
    finally:
        app.close()


def _batch(url: str, path: Path, out: Path) -> subprocess.Popen[bytes]:
    """``python -m hanport --db URL --as cw --json batch terminations FILE``, stdout to ``out``."""
    with out.open("wb") as stdout:
        return subprocess.Popen(
            cli_args(url, "--json", "batch", "terminations", str(path)),
            env=cli_env(url),
            stdout=stdout,
            stderr=subprocess.PIPE,
        )


def _finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=RUN_TIMEOUT)
    return proc.returncode, err.decode("utf-8", "replace")


def _count(engine: Any, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)


def _wait(proc: subprocess.Popen[bytes], started: float, done: Any) -> None:
    """Poll until ``done()`` or the process ends (bounded)."""
    while proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
        if done():
            return
        time.sleep(0.002)


@dataclass(frozen=True)
class Pace:
    """How a clean run went: seconds from spawn until its ``batch_runs`` row appeared (start-up),
    and the median seconds between its commits of documents (a chunk)."""

    startup: float
    chunk: float


def _timed_run(url: str, path: Path, out: Path) -> tuple[int, str, Pace]:
    """Run the batch to completion, watching the database to learn its pace."""
    engine = create_engine(url)
    try:
        proc = _batch(url, path, out)
        started = time.monotonic()
        startup, commits, last = None, [], 0
        while proc.poll() is None and time.monotonic() - started < RUN_TIMEOUT:
            if startup is None and _count(engine, "batch_runs"):
                startup = time.monotonic() - started
            n = _count(engine, "batch_documents")
            if n != last:
                commits.append(time.monotonic())
                last = n
            time.sleep(0.002)
        code, err = _finish(proc)
    finally:
        engine.dispose()
    gaps = [b - a for a, b in itertools.pairwise(commits)]
    return code, err, Pace(startup or 0.5, statistics.median(gaps) if gaps else 0.2)


def _crash_runs(
    url: str, path: Path, tmp: Path, rnd: random.Random, pace: Pace, distinct: int
) -> list[str]:
    """Runs on the same database until KILLS of them were SIGKILLed at a random point; what
    happened in each.

    Every other kill waits for the run to commit new documents (so the runs make progress
    through the file) and then strikes at once or a random moment within the next chunk. The
    others strike during start-up, or a random moment after the run began (its ``batch_runs``
    row exists): while it skips what is already recorded, or in its first chunk of new work.
    The moments scale with the pace of the clean run.
    """
    log: list[str] = []
    kills = 0
    engine = create_engine(url)
    try:
        # A run may finish before its kill (the machine got faster than the clean run's pace):
        # try again, up to three times as often, until KILLS runs were killed.
        for i in range(3 * KILLS):
            if kills == KILLS:
                break
            docs, runs = _count(engine, "batch_documents"), _count(engine, "batch_runs")
            proc = _batch(url, path, tmp / f"crash-{i}.json")
            started = time.monotonic()
            if i % 2 == 0 and docs < distinct:
                _wait(proc, started, lambda n=docs: _count(engine, "batch_documents") > n)
                pause = rnd.choice((0.0, rnd.uniform(0.0, 0.9 * pace.chunk)))
                how = f"{pause:.3f}s after a commit"
            elif rnd.random() < 0.5:
                pause = rnd.uniform(0.02, pace.startup)
                how = f"{pause:.3f}s after the start"
            else:
                _wait(proc, started, lambda n=runs: _count(engine, "batch_runs") > n)
                pause = rnd.uniform(0.0, 1.5 * pace.chunk)
                how = f"{pause:.3f}s into the run"
            until = time.monotonic() + pause
            while proc.poll() is None and time.monotonic() < until:
                time.sleep(0.001)
            if proc.poll() is None:
                proc.kill()
                code, err = _finish(proc)
                assert code == -9, (code, err[-2000:])
                what = "killed"
                kills += 1
            else:
                code, err = _finish(proc)
                assert code in (0, 6), (code, err[-2000:])
                what = f"finished (exit {code}) before the kill"
            log.append(f"{i}: {what} {how}: {docs}→{_count(engine, 'batch_documents')} documents")
    finally:
        engine.dispose()
    return log


REF = re.compile(r"HAN-\d{4}-\d+")


def _documents(url: str) -> dict[str, tuple[Any, ...]]:
    """Per document: what it did, independent of ids (which differ where a killed transaction
    consumed PostgreSQL sequence values)."""
    engine = create_engine(url)
    try:
        docs = rows(
            engine,
            "SELECT d.document_id, d.row_number, d.event, d.gsrn, d.outcome, d.detail, "
            "c.workflow, c.state, c.version, c.data, p.gsrn AS case_point, u.customer_id "
            "FROM batch_documents d LEFT JOIN cases c ON c.id = d.case_id "
            "LEFT JOIN metering_points p ON p.id = c.point_id "
            "LEFT JOIN customers u ON u.id = c.customer_pk",
        )
    finally:
        engine.dispose()
    out = {}
    for d in docs:
        data = json.loads(d["data"]) if d["data"] else {}
        out[d["document_id"]] = (
            d["row_number"],
            d["event"],
            d["gsrn"],
            d["outcome"],
            REF.sub("HAN-*", d["detail"] or ""),
            d["workflow"],
            d["state"],
            d["version"],
            data.get("close_reason"),
            data.get("document_id"),
            d["case_point"],
            d["customer_id"],
        )
    return out


def _state(url: str) -> dict[str, Any]:
    """Everything the batch may have changed, aggregated without ids."""
    engine = create_engine(url)
    try:
        q = lambda sql: [tuple(r.values()) for r in rows(engine, sql)]  # noqa: E731
        return {
            "cases": Counter(
                q(
                    "SELECT c.workflow, c.state, c.version, p.gsrn, u.customer_id FROM cases c "
                    "JOIN metering_points p ON p.id = c.point_id "
                    "JOIN customers u ON u.id = c.customer_pk"
                )
            ),
            "events": Counter(
                q(
                    "SELECT p.gsrn, e.seq, e.trigger, e.from_state, e.to_state, e.actor "
                    "FROM case_events e JOIN cases c ON c.id = e.case_id "
                    "JOIN metering_points p ON p.id = c.point_id"
                )
            ),
            "points": Counter(q("SELECT gsrn, han_port, consent_id IS NULL FROM metering_points")),
            "consents": Counter(
                q(
                    "SELECT p.gsrn, s.source, s.ended_at, s.end_reason FROM consents s "
                    "JOIN metering_points p ON p.id = s.point_id"
                )
            ),
            "timers": Counter(q("SELECT name, status, due_at FROM timers")),
            "hes": Counter(q("SELECT point_id, action, status FROM hes_commands")),
            "mail": Counter(q("SELECT template, recipient, status FROM mail_outbox")),
            "customers": Counter(q("SELECT customer_id, version FROM customers")),
        }
    finally:
        engine.dispose()


@pytest.mark.slow
def test_kill_9_twenty_times_then_rerun_equals_one_clean_run(
    db_url: str, reference_url: str, tmp_path: Path
) -> None:
    rnd = random.Random(SEED)
    reg = crashdata.registry(POINTS, OPEN_SHARE, rnd)
    lines = crashdata.terminations(reg, ROWS, rnd)
    path = crashdata.write_terminations(tmp_path / "terminations.csv", lines)
    distinct = len({line.split(";")[0] for line in lines if line.count(";") == 6})
    _prepare(db_url, tmp_path / "registry", reg)
    _prepare(reference_url, tmp_path / "registry-ref", reg)

    # The reference: one clean run on a fresh database.
    code, err, pace = _timed_run(reference_url, path, tmp_path / "reference.json")
    assert code == 6, err[-2000:]  # the bad rows are rejected
    reference = json.loads((tmp_path / "reference.json").read_text(encoding="utf-8"))
    assert reference["rows"] == ROWS
    assert reference["applied"] > 300 and reference["noop"] > 1000
    assert 0 < reference["rejected"] < ROWS // 10

    # Twenty kills, then one run to completion.
    log = _crash_runs(db_url, path, tmp_path, rnd, pace, distinct)
    killed = [line for line in log if "killed" in line]
    assert len(killed) == KILLS, (pace, log)
    code, err = _finish(_batch(db_url, path, tmp_path / "final.json"))
    assert code == 6, err[-2000:]
    final = json.loads((tmp_path / "final.json").read_text(encoding="utf-8"))
    assert final["rows"] == ROWS
    assert final["applied"] + final["noop"] + final["rejected"] == ROWS
    assert final["rejected"] == reference["rejected"], log
    engine = create_engine(db_url)
    runs = rows(
        engine,
        "SELECT id, rows_read, applied, noop, rejected, finished_at FROM batch_runs ORDER BY id",
    )
    engine.dispose()
    assert runs[-1]["id"] == final["run_id"] and runs[-1]["finished_at"] is not None
    assert (runs[-1]["rows_read"], runs[-1]["applied"], runs[-1]["noop"]) == (
        ROWS,
        final["applied"],
        final["noop"],
    )
    # A run that got as far as finishing its batch_runs row recorded the whole file (a kill may
    # still come after that, while it writes the rejects file or its output).
    for r in runs:
        if r["finished_at"] is not None:
            assert r["rows_read"] == r["applied"] + r["noop"] + r["rejected"] == ROWS, r

    # Every document recorded exactly once, with the clean run's outcome.
    got, want = _documents(db_url), _documents(reference_url)
    assert len(want) == distinct
    assert set(got) == set(want), log
    differ = {d: (got[d], want[d]) for d in want if got[d] != want[d]}
    assert not differ, (list(differ.items())[:5], log)

    # As many close cases as applied closes; one live close per point at most.
    engine = create_engine(db_url)
    try:
        applied_closes = rows(
            engine,
            "SELECT COUNT(*) AS n FROM batch_documents "
            "WHERE outcome = 'applied' AND event <> 'rollback'",
        )[0]["n"]
        applied_rollbacks = rows(
            engine,
            "SELECT COUNT(*) AS n FROM batch_documents "
            "WHERE outcome = 'applied' AND event = 'rollback'",
        )[0]["n"]
        close_cases = rows(
            engine,
            "SELECT c.state, p.gsrn FROM cases c JOIN metering_points p ON p.id = c.point_id "
            "WHERE c.workflow = 'close_port'",
        )
        assert len(close_cases) == applied_closes == reference["applied"] - applied_rollbacks
        assert sum(c["state"] == "cancelled" for c in close_cases) == applied_rollbacks
        live = Counter(c["gsrn"] for c in close_cases if c["state"] != "cancelled")
        assert max(live.values()) == 1, live.most_common(3)
        # Every case a document names is that document's case, and no case is named twice.
        named = rows(
            engine,
            "SELECT case_id, COUNT(*) AS n FROM batch_documents "
            "WHERE outcome = 'applied' AND event <> 'rollback' GROUP BY case_id",
        )
        assert len(named) == applied_closes and all(r["n"] == 1 for r in named)
        # Every hash chain intact.
        assert verify_chains(engine) > 2 * applied_closes
        # A live port never lost its consent without a close under way.
        orphans = rows(
            engine,
            "SELECT p.gsrn FROM metering_points p JOIN consents s ON s.id = p.consent_id "
            "WHERE p.han_port = 'open' AND s.ended_at IS NOT NULL",
        )
        assert not orphans, orphans[:5]
    finally:
        engine.dispose()

    # And nothing else differs from the clean run.
    assert _state(db_url) == _state(reference_url), log

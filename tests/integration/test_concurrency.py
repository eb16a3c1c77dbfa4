"""Two writers at once, with real processes, on a real SQLite file and on PostgreSQL.

design.md, "Reliability and security": two caseworkers advancing one case → one wins, the other
exits 5 and nothing of theirs is written (SQLite busy counts as a conflict). Overlap is forced:
each process waits on a shared barrier inside the command (after it loaded the case, or after the
opening checks), so both work from the same state before either writes.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hanport.bootstrap import App
from hanport.storage.engine import create_engine
from tests.integration import dbstate as db
from tests.integration.procs import advance_worker, open_at_once
from tests.support import NORE_METER, NORE_POINT, PINNED, actor, advance, consent, open_case

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT = 60.0
ROUNDS = 5
# Unforced overlap on SQLite: about 2 rounds in 5 overlap here; stop at the first conflict.
CLI_ROUNDS_SQLITE = 4


def _race(target: Any, argsets: list[tuple[Any, ...]]) -> dict[str, tuple[int, str]]:
    """Start one process per argument tuple (the name is the 4th argument) sharing a barrier;
    return each one's exit code and report. Every wait is bounded."""
    barrier = SPAWN.Barrier(len(argsets))
    queue = SPAWN.Queue()
    procs = {a[3]: SPAWN.Process(target=target, args=(*a, barrier, queue)) for a in argsets}
    for p in procs.values():
        p.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    reports: dict[str, tuple[int, str]] = {}
    try:
        # Read the reports before joining: a process exits only once its queue is flushed.
        while len(reports) < len(procs):
            try:
                name, code, detail = queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue_module.Empty:
                break
            reports[name] = (code, detail)
        for p in procs.values():
            p.join(max(0.1, deadline - time.monotonic()))
    finally:
        hung = [name for name, p in procs.items() if p.is_alive()]
        for name in hung:
            procs[name].kill()
            procs[name].join(5)
    assert not hung, f"processes still running after {JOIN_TIMEOUT}s: {hung} {reports}"
    for name, p in procs.items():
        code, detail = reports.get(name, (None, "no report"))
        assert p.exitcode == code, (name, p.exitcode, detail)
    return reports


def _free_point(app: App) -> None:
    """Bring NORE_POINT back to a closed port with no case holding it."""
    cw = actor(app)
    for c in db.rows(app.engine, "SELECT ref, workflow, state FROM cases WHERE holds_port"):
        advance(app, cw, c["ref"], "cancel", {"reason": "next round"})
    if db.point(app.engine, NORE_POINT)["han_port"] == "open":
        r = open_case(
            app,
            cw,
            "close_port",
            customer="1001",
            meter_number=NORE_METER,
            channel="email",
            from_email="kari@example.no",
        )
        advance(app, cw, r.case, "confirm_close")


def _opening_case(app: App) -> str:
    _free_point(app)
    r = open_case(
        app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT, fields=consent()
    )
    assert r.state == "opening"
    return r.case


def _check_one_winner(
    app: App, ref: str, trigger: str, before: dict[str, int], outcome: dict[str, tuple[int, str]]
) -> None:
    codes = sorted(code for code, _ in outcome.values())
    after = db.counts(app.engine, ref)
    evs = db.events(app.engine, ref)
    winners = [name for name, (code, _) in outcome.items() if code == 0]
    # Whatever the loser's exit code, only one command may have been applied ...
    assert len(winners) == 1, outcome
    assert evs[-1]["actor"] == winners[0] and evs[-1]["trigger"] == trigger
    # ... and only one command's rows written.
    grown = {k: after[k] - before[k] for k in before if k != "pending_timers"}
    expected = {k: v for k, v in db.ONE_ADVANCE[trigger].items() if k != "pending_timers"}
    assert grown == expected, (grown, outcome)
    assert after["pending_timers"] == db.ONE_ADVANCE[trigger]["pending_timers"]
    assert db.case_row(app.engine, ref)["version"] == evs[-1]["seq"] == len(evs)
    # The loser saw a conflict (not a refusal: it had loaded the same version).
    assert codes == [0, 5], outcome


@pytest.mark.parametrize("trigger", ["report_failure", "confirm_open"])
def test_two_processes_advance_one_case(
    seeded: App, db_url: str, trigger: str, request: pytest.FixtureRequest
) -> None:
    """Two caseworker processes, ROUNDS fresh cases: each round both load the case, meet at the
    barrier, then write; one wins, the other gets Conflict and writes nothing."""
    app = seeded
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    jobs = {user: SPAWN.Queue() for user in ("cw", "cw2")}
    workers = [
        SPAWN.Process(
            target=advance_worker, args=(db_url, user, trigger, barrier, jobs[user], results)
        )
        for user in jobs
    ]
    for w in workers:
        w.start()
    try:
        for _ in range(ROUNDS):
            ref = _opening_case(app)
            before = db.counts(app.engine, ref)
            for q in jobs.values():
                q.put(ref)
            outcome = {}
            for _ in jobs:
                got_ref, user, code, detail = results.get(timeout=JOIN_TIMEOUT)
                assert got_ref == ref
                outcome[user] = (code, detail)
            _check_one_winner(app, ref, trigger, before, outcome)
    finally:
        for q in jobs.values():
            q.put(None)
        for w in workers:
            w.join(JOIN_TIMEOUT)
            if w.is_alive():
                w.kill()
                w.join(5)
    assert [w.exitcode for w in workers] == [0, 0]


def test_two_processes_open_the_same_point(seeded: App, db_url: str) -> None:
    app = seeded
    before = db.snapshot(app.engine)
    outcome = _race(
        open_at_once,
        [(db_url, NORE_POINT, "1001", "cw"), (db_url, NORE_POINT, "1001", "cw2")],
    )
    codes = sorted(code for code, _ in outcome.values())
    # SQLite: the second writer is busy (5); PostgreSQL: the partial unique index refuses (4).
    assert codes in ([0, 4], [0, 5]), outcome
    # The loser was stopped at its write (the index or the busy database), not by the opening
    # checks: the two really overlapped.
    loser = next(detail for code, detail in outcome.values() if code != 0)
    assert "meanwhile" in loser or "busy" in loser, loser
    cases = db.rows(app.engine, "SELECT ref, state, holds_port FROM cases")
    assert len(cases) == 1, cases
    ref = cases[0]["ref"]
    assert cases[0]["state"] == "requested" and cases[0]["holds_port"]
    # Only the winner's rows: one case, its opening event, its one notice.
    changed = db.diff(before, db.snapshot(app.engine))
    assert set(changed) == {"cases", "case_events", "mail_outbox"}, changed
    assert len(db.events(app.engine, ref)) == 1
    assert len(db.mail(app.engine, ref)) == 1
    assert all(not c["gone"] for c in changed.values())


# --- the same through the real CLI ------------------------------------------------------------


def _cli(db_url: str, ref: str, trigger: str, cwd: Path) -> subprocess.Popen[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HANPORT_") and k not in ("PYTEST_CURRENT_TEST",)
    }
    env.update(HANPORT_ROLES="cw=caseworker", **PINNED)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hanport",
            "--db",
            db_url,
            "--as",
            "cw",
            "case",
            "advance",
            ref,
            trigger,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str]]:
    out = []
    deadline = time.monotonic() + JOIN_TIMEOUT
    for p in procs:
        try:
            _, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate(timeout=5)
            pytest.fail(f"hanport did not finish within {JOIN_TIMEOUT}s: {err}")
        out.append((p.returncode, err.strip()))
    return out


@contextmanager
def _timers_row_locked(db_url: str, ref: str) -> Iterator[Any]:
    """PostgreSQL: hold the lock on the case's pending timers (the first rows ``confirm_open``
    updates), so both CLI processes load the case and then wait; released on exit."""
    engine = create_engine(db_url, pool=False)
    conn = engine.connect()
    try:
        conn.begin()
        conn.execute(
            text(
                "SELECT t.id FROM timers t JOIN cases c ON c.id = t.case_id "
                "WHERE c.ref = :ref AND t.status = 'pending' FOR UPDATE OF t"
            ),
            {"ref": ref},
        )
        yield conn
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


def _waiting_on_locks(app: App) -> int:
    return db.scalar(
        app.engine,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'",
    )


def test_cli_two_advances_at_once(
    seeded: App, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``hanport case advance REF confirm-open`` twice at once: never two successes, exactly one
    event more. SQLite: both start together, a bounded number of rounds until one conflicts.
    PostgreSQL: overlap forced by holding the timers' row lock until both processes wait on it."""
    app = seeded
    pg = app.backend == "postgresql"
    seen: list[list[int]] = []
    for _ in range(2 if pg else CLI_ROUNDS_SQLITE):
        ref = _opening_case(app)
        before = db.counts(app.engine, ref)
        if pg:
            with _timers_row_locked(db_url, ref):
                procs = [_cli(db_url, ref, "confirm-open", tmp_path) for _ in range(2)]
                try:
                    deadline = time.monotonic() + 30
                    while _waiting_on_locks(app) < 2 and time.monotonic() < deadline:
                        if any(p.poll() is not None for p in procs):
                            break
                        time.sleep(0.02)
                    waiting = _waiting_on_locks(app)
                except BaseException:
                    for p in procs:
                        p.kill()
                    raise
            results = _finish(procs)
            if waiting != 2:
                pytest.fail(f"the two processes did not both wait on the lock: {results}")
        else:
            results = _finish([_cli(db_url, ref, "confirm-open", tmp_path) for _ in range(2)])
        codes = sorted(code for code, _ in results)
        seen.append(codes)
        after = db.counts(app.engine, ref)
        # Never two successes, and only one command's rows.
        assert codes.count(0) == 1, results
        grown = {k: after[k] - before[k] for k in before if k != "pending_timers"}
        expected = {
            k: v for k, v in db.ONE_ADVANCE["confirm_open"].items() if k != "pending_timers"
        }
        assert grown == expected, results
        assert db.case_row(app.engine, ref)["state"] == "confirmed"
        # The loser: a conflict (it overlapped) or a refusal (it came after the winner).
        assert codes[1] in (4, 5), results
        if codes == [0, 5]:
            if not pg:
                break
        elif pg:
            pytest.fail(f"forced overlap did not conflict: {results}")
    request.node.user_properties.append(("cli_exit_codes_per_round", seen))


def test_processes_starting_together_all_start(db_url: str) -> None:
    """Several processes starting at the same moment, each moving the simulated clock (a write to
    ``meta``), all start: none fails with "database is locked" because another one wrote between
    its read and its write (SQLite) or with a serialization error (PostgreSQL)."""
    from tests.integration.procs import bootstrap_repeatedly
    from tests.support import make_app

    make_app(db_url).close()  # migrated before the race: the race is about meta, not migrations
    procs_n, rounds = 4, 15
    barrier = SPAWN.Barrier(procs_n)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=bootstrap_repeatedly, args=(db_url, str(i), rounds, barrier, results))
        for i in range(procs_n)
    ]
    for p in procs:
        p.start()
    outcome: dict[str, tuple[int, str]] = {}
    try:
        for _ in procs:
            name, code, detail = results.get(timeout=JOIN_TIMEOUT)
            outcome[name] = (code, detail)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert outcome == {str(i): (0, str(rounds)) for i in range(procs_n)}, outcome

"""Four caseworkers advancing one case at the same moment, ten times over, with real processes on
a real SQLite file and on PostgreSQL (design.md, "Reliability and security": one wins, the others
exit 5 and nothing of theirs is written; SQLite busy counts as a conflict).

Four long-lived racer processes (multiprocessing "spawn") meet at a barrier inside
``hanport.service.cases.advance``, after each has loaded the case (``app.extras["after_load"]``), so
all four hold the same version before any of them writes. Each race is a fresh case in
``opening``; the racers fire ``confirm_open`` (final), ``report_failure`` (internal: a retry is
enqueued), or two of each.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hanport.service.roles import resolve
from tests.faults import helpers as h
from tests.faults.workers import JOB_TIMEOUT, RACERS, racer, racer_app
from tests.integration import dbstate as db
from tests.support import open_case

SPAWN = multiprocessing.get_context("spawn")
RACES = 10
# Tables an advance never adds rows to; one port_events row per advance (the port moves).
UNTOUCHED = ("cases", "case_notes", "consents", "metering_points", "meter_history")
PORT_CHANGES = {"confirm_open": 1, "report_failure": 1}  # open; opening again (retry)


def _plan(race: int) -> list[str]:
    """The racers' triggers in one race: all the same, or two of each."""
    kind = race % 3
    if kind == 0:
        return ["confirm_open"] * len(RACERS)
    if kind == 1:
        return ["report_failure"] * len(RACERS)
    mixed = ["confirm_open", "report_failure"] * (len(RACERS) // 2)
    return mixed[race % 2 :] + mixed[: race % 2]


def _totals(engine: Any) -> dict[str, int]:
    tables = (*db.WRITTEN_TABLES, "port_events")
    with engine.connect() as conn:
        from sqlalchemy import text

        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


@pytest.fixture
def racers(db_url: str) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    """Four racer processes on ``db_url``: (barrier, job queue per racer, results queue)."""
    barrier = SPAWN.Barrier(len(RACERS))
    results = SPAWN.Queue()
    jobs = {u: SPAWN.Queue() for u in RACERS}
    procs = [
        SPAWN.Process(target=racer, args=(db_url, u, barrier, jobs[u], results)) for u in RACERS
    ]
    for p in procs:
        p.start()
    try:
        yield barrier, jobs, results
    finally:
        for q in jobs.values():
            q.put(None)
        deadline = time.monotonic() + 30
        for p in procs:
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        barrier.abort()


def test_four_processes_advance_one_case_one_wins_ten_times(
    db_url: str, tmp_path: Path, racers: tuple[Any, dict[str, Any], Any]
) -> None:
    _barrier, jobs, results = racers
    app = racer_app(db_url)
    try:
        reg = h.import_registry(app, tmp_path / "registry", RACES, 0, 0)
        cw = resolve(app, "cw")
        refs = []
        for i, gsrn in enumerate(reg.waiting):
            r = open_case(
                app,
                cw,
                "nore_open",
                customer=reg.customer_of[gsrn],
                metering_point=gsrn,
                fields=h.consent_for(i),
            )
            assert r.state == "opening", r
            refs.append(r.case)
        log = []
        for race, ref in enumerate(refs):
            plan = dict(zip(RACERS, _plan(race), strict=True))
            before, totals = db.counts(app.engine, ref), _totals(app.engine)
            version = db.case_row(app.engine, ref)["version"]
            for user, trigger in plan.items():
                jobs[user].put((ref, trigger))
            outcome: dict[str, tuple[int, str]] = {}
            deadline = time.monotonic() + JOB_TIMEOUT
            while len(outcome) < len(RACERS):
                try:
                    got, user, code, detail = results.get(
                        timeout=max(0.1, deadline - time.monotonic())
                    )
                except queue_module.Empty:
                    pytest.fail(f"race {race}: only {outcome} answered in {JOB_TIMEOUT}s")
                assert got == ref, (got, ref)
                outcome[user] = (code, detail)
            log.append((race, {u: (plan[u], c) for u, (c, _) in outcome.items()}))

            # Exactly one wins; every other racer got a conflict (exit 5).
            winners = [u for u, (code, _) in outcome.items() if code == 0]
            assert len(winners) == 1, (race, plan, outcome)
            losers = {u: o for u, o in outcome.items() if u not in winners}
            assert all(code == 5 for code, _ in losers.values()), (race, plan, outcome)
            winner, trigger = winners[0], plan[winners[0]]

            # Only the winner's command is in the history ...
            evs = db.events(app.engine, ref)
            assert len(evs) == version + 1 == db.case_row(app.engine, ref)["version"]
            assert (evs[-1]["actor"], evs[-1]["trigger"]) == (winner, trigger), evs[-1]
            assert not any(e["actor"] in losers for e in evs), evs
            # ... and only its rows were written, for this case and anywhere else.
            after = db.counts(app.engine, ref)
            grown = {k: after[k] - before[k] for k in before if k != "pending_timers"}
            want = {k: v for k, v in db.ONE_ADVANCE[trigger].items() if k != "pending_timers"}
            assert grown == want, (race, plan, outcome, grown)
            assert after["pending_timers"] == db.ONE_ADVANCE[trigger]["pending_timers"]
            now_totals = _totals(app.engine)
            moved = {t: now_totals[t] - totals[t] for t in totals if now_totals[t] != totals[t]}
            want_moved = {k: v for k, v in want.items() if v}
            if PORT_CHANGES[trigger]:
                want_moved["port_events"] = PORT_CHANGES[trigger]
            assert moved == want_moved, (race, plan, moved)
            assert not any(moved.get(t) for t in UNTOUCHED)
        print("\n".join(f"race {r}: {o}" for r, o in log))
        h.assert_chains_and_ports(app)
    finally:
        app.close()

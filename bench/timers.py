"""Timers fired per second by two processes on one database, each firing a real transition
(``remind_consent``: an event, a mail intent), counting duplicates.

    python -m bench.timers [--cases N] [--runs R] [--backend postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from bench.common import app_for, database, machine, median, nore_registry
from hanport.service import run
from hanport.service.commands import Advance, FireTimers, OpenCase
from hanport.service.roles import resolve
from hanport.service.timers import SCHEDULER
from hanport.storage import tables


def _worker(url: str, now: str, start: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[name-defined]
    app = app_for(url)
    app.clock.set(app.clock.now().fromisoformat(now))  # type: ignore[attr-defined]
    start.wait(30)
    report = run(app, SCHEDULER, FireTimers(batch=50))
    out.put(report.fired)
    app.close()


def one_run(backend: str, n: int) -> tuple[float, int, int]:
    with database(backend) as url, tempfile.TemporaryDirectory() as d:
        app = app_for(url)
        pairs = nore_registry(app, Path(d), n)
        actor = resolve(app, "bench")
        for cid, gsrn in pairs:
            r = run(app, actor, OpenCase("nore_open", customer=cid, metering_point=gsrn))
            run(app, actor, Advance(r.case, "request_consent"))
        due = (app.clock.now() + timedelta(days=8)).isoformat()
        app.close()
        ctx = mp.get_context("spawn")
        start, out = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(url, due, start, out)) for _ in range(2)]
        for p in procs:
            p.start()
        time.sleep(2.0)  # both processes imported and connected
        t0 = time.perf_counter()
        start.set()
        fired = [out.get(timeout=600) for _ in procs]
        elapsed = time.perf_counter() - t0
        for p in procs:
            p.join(30)
        app = app_for(url)
        with app.engine.connect() as conn:
            events = conn.execute(
                select(func.count()).where(tables.EVENTS.c.trigger == "remind_consent")
            ).scalar_one()
            distinct = conn.execute(
                text(
                    "SELECT count(DISTINCT case_id) FROM case_events WHERE trigger = 'remind_consent'"
                )
            ).scalar_one()
        app.close()
        assert sum(fired) == events, (fired, events)
        return events / elapsed, events - distinct, n - distinct


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=3000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    a = p.parse_args()
    print(f"machine: {machine()}")
    results = [one_run(a.backend, a.cases) for _ in range(a.runs)]
    rates = [r[0] for r in results]
    dups = sum(r[1] for r in results)
    missed = sum(r[2] for r in results)
    print(
        f"timers fired/s, two processes, {a.backend}: median {median(rates):6.0f} "
        f"(runs: {', '.join(f'{r:.0f}' for r in rates)}; {a.cases} timers each; "
        f"duplicates {dups}, missed {missed})"
    )


if __name__ == "__main__":
    main()

"""Workflow migration throughput: live nore_open v1 cases moved to v2 by ``workflow migrate``
(one transaction per case: load, plan, the migration event, timers), in cases per second.

    python -m bench.migration [--cases N] [--runs R] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.common import app_for, database, machine, median, nore_registry
from hanport.service import run
from hanport.service.commands import Advance, MigrateCases, OpenCase
from hanport.service.roles import resolve


def one_run(backend: str, n: int) -> tuple[float, float]:
    """(cases/s applied, cases/s dry run) for ``n`` cases, half of them awaiting consent."""
    with database(backend) as url, tempfile.TemporaryDirectory() as d:
        app = app_for(url)
        try:
            actor = resolve(app, "bench")
            for i, (cid, gsrn) in enumerate(nore_registry(app, Path(d), n)):
                r = run(app, actor, OpenCase("nore_open", customer=cid, metering_point=gsrn))
                if i % 2:
                    run(app, actor, Advance(r.case, "request_consent"))
            boss = resolve(app, "bench.leder")
            dry = run(app, boss, MigrateCases("nore_open", 1, 2))
            done = run(app, boss, MigrateCases("nore_open", 1, 2, apply=True))
            assert len(done.migrated) == n and not done.refused, done.refused[:3]
            return n / done.seconds, n / dry.seconds
        finally:
            app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    a = ap.parse_args()
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    print(f"machine: {machine()}")
    for backend in backends:
        runs = [one_run(backend, a.cases) for _ in range(a.runs)]
        applied = median([r[0] for r in runs])
        dry = median([r[1] for r in runs])
        print(
            f"{backend}: {a.cases} cases, median of {a.runs}: {applied:.0f} cases/s migrated "
            f"({1000 / applied:.2f} ms each), dry run {dry:.0f} cases/s"
        )


if __name__ == "__main__":
    main()

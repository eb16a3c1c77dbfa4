"""Case commands per second through the service layer, one transaction each, on the full
nore_open path: open, record_consent (consent row, mail intent, HES command, timers), confirm_open.

    python bench/commands.py [--cases N] [--runs R] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import app_for, database, machine, median, nore_registry
from hanport.service import run
from hanport.service.commands import Advance, OpenCase
from hanport.service.roles import resolve


def consent(i: int) -> dict[str, str]:
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber",
        "address": f"Bjørkeveien {i}",
        "postal_code": "3630",
        "security": "locked_cabinet",
        "channel": "form",
        "declaration_version": "v2",
        "received_at": "2026-03-02T08:00:00+01:00",
    }


def one_run(backend: str, n: int) -> float:
    with database(backend) as url, tempfile.TemporaryDirectory() as d:
        app = app_for(url)
        try:
            pairs = nore_registry(app, Path(d), n)
            actor = resolve(app, "bench")
            t0 = time.perf_counter()
            for i, (cid, gsrn) in enumerate(pairs):
                r = run(app, actor, OpenCase("nore_open", customer=cid, metering_point=gsrn))
                run(app, actor, Advance(r.case, "record_consent", consent(i)))
                r = run(app, actor, Advance(r.case, "confirm_open"))
                assert r.state == "confirmed"
            elapsed = time.perf_counter() - t0
        finally:
            app.close()
    return 3 * n / elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=500)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    a = p.parse_args()
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    print(f"machine: {machine()}")
    for b in backends:
        rates = [one_run(b, a.cases) for _ in range(a.runs)]
        print(
            f"case commands/s, full nore_open path, {b:<10}: median {median(rates):7.0f}  "
            f"(runs: {', '.join(f'{r:.0f}' for r in rates)}; {a.cases} cases x 3 commands)"
        )


if __name__ == "__main__":
    main()

"""Every figure the issues name, as one table: ``make bench``.

Runs each benchmark module (each takes the median of ``--runs`` runs itself) and collects the
lines it prints. Takes a while (the 100,000-row batch and the million-event histories dominate).

    python -m bench.all [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import machine

BENCHES = [
    ("case commands/s (nore_open path)", ["bench.commands", "--cases", "500"]),
    ("hanport vs eventsourcing cases/s", ["bench.hotpath", "--cases", "1000"]),
    ("case show wall time", ["bench.startup", "--runs", "7"]),
    ("timers/s, two processes", ["bench.timers", "--cases", "3000", "--backend", "postgresql"]),
    ("mail/s to local SMTP", ["bench.mail", "--messages", "2000"]),
    ("nightly batch", ["bench.batch", "--rows", "10000,100000"]),
    ("audit verify", ["bench.verify", "--events", "1000000"]),
    ("workflow migrate cases/s", ["bench.migration", "--cases", "1000"]),
    ("consent list --at T --live", ["bench.consent", "--events", "1000000"]),
    ("monthly SLA report", ["bench.report", "--events", "1000000"]),
    ("web intake under load", ["bench.web", "--pg", "2000", "--sqlite", "1000"]),
]
QUICK = {
    "bench.commands": ["--cases", "150"],
    "bench.hotpath": ["--cases", "150"],
    "bench.timers": ["--cases", "600"],
    "bench.mail": ["--messages", "500"],
    "bench.batch": ["--rows", "2000,10000"],
    "bench.verify": ["--events", "100000"],
    "bench.migration": ["--cases", "200"],
    "bench.consent": ["--events", "100000"],
    "bench.report": ["--events", "100000"],
    "bench.web": ["--pg", "300", "--sqlite", "200"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="Smaller sizes, for a smoke run.")
    a = ap.parse_args()
    rows: list[tuple[str, str]] = []
    for title, (module, *args) in BENCHES:
        if a.quick and module in QUICK:
            args = QUICK[module]
        if module != "bench.startup":
            args = [*args, "--runs", str(a.runs)]
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
        if out.returncode != 0:
            rows.append((title, f"FAILED: {out.stderr.strip().splitlines()[-1:]}"))
            continue
        for line in out.stdout.splitlines():
            if not line.startswith("machine:"):
                rows.append((title, line.strip()))
        print(f"  {title}: done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"machine: {machine()}; median of {a.runs} runs per figure")
    width = max(len(t) for t, _ in rows)
    print(f"{'benchmark':<{width}}  figure")
    for title, line in rows:
        print(f"{title:<{width}}  {line}")


if __name__ == "__main__":
    main()

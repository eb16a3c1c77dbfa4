"""Start-up of the command line: `hanport case show` and `hanport --help`, whole processes,
against the bare import of the libraries they are built on (issue 10: case show ≤ 1.3×).

    python -m bench.startup [--runs N]

Each figure is the median wall time of N runs of a fresh process; the three commands run in
turn (bare, help, show, bare, …) so a drift in the machine's speed touches all three alike:

- bare: ``python -c 'import sqlmodel, transitions, jinja2, click'``
- ``hanport --help``
- ``hanport --as anne.saksbehandler case show HAN-2026-000003`` on the demo's SQLite database
  (made first with ``hanport demo`` in a temporary folder)

It prints each median, each command's ratio to the bare import (ratio of the medians) and the
median of the run-by-run ratios. The children may write bytecode caches (PYTHONDONTWRITEBYTECODE
is dropped from their environment), as an installed package has them; the warm-up run writes
them and is not counted.

Measured by this script (``--runs 9``, x86_64, 2 shared cores, Python 3.11.7; on a loaded machine
the ratios move by about ±0.05 from one call to the next): bare import 999 ms; ``hanport --help``
126 ms, 0.13× (0.67× before the lazy CLI); ``hanport case show`` 1324 ms, 1.33× (run by run
1.36×; 1.42× before).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, median

CASE = "HAN-2026-000003"
BARE = "import sqlmodel, transitions, jinja2, click"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def hanport_command() -> list[str]:
    """The console script beside this interpreter, as a user runs it; else ``python -m hanport``."""
    script = Path(sys.executable).parent / "hanport"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hanport"]


def make_demo(folder: Path, env: dict[str, str]) -> Path:
    demo = folder / "demo"
    subprocess.run(
        [*hanport_command(), "--json", "demo", "--dir", str(demo)],
        env={**env, "HANPORT_DATABASE_URL": f"sqlite:///{folder / 'unused.db'}"},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return demo / "hanport-demo.db"


def measure(runs: int, folder: Path) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env = {k: v for k, v in env.items() if not k.startswith("HANPORT_")}
    db = make_demo(folder, env)
    env["HANPORT_DATABASE_URL"] = f"sqlite:///{db}"
    env["HANPORT_ROLES"] = "anne.saksbehandler=caseworker"
    commands = {
        "bare": [sys.executable, "-c", BARE],
        "help": [*hanport_command(), "--help"],
        "show": [*hanport_command(), "--as", "anne.saksbehandler", "case", "show", CASE],
    }
    for cmd in commands.values():  # warm the file cache and the bytecode caches
        timed(cmd, env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(timed(cmd, env))
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        times = measure(a.runs, Path(d))
    bare = median(times["bare"])
    print(f"machine: {machine()}")
    print(f"bare import ({BARE}): median {bare * 1000:6.0f} ms ({a.runs} runs)")
    for name, label in (("help", "hanport --help"), ("show", "hanport case show")):
        m = median(times[name])
        pairs = median([t / b for t, b in zip(times[name], times["bare"], strict=True)])
        print(
            f"{label}: median {m * 1000:6.0f} ms; ratio to the bare import {m / bare:.2f}x "
            f"(run by run {pairs:.2f}x)"
        )


if __name__ == "__main__":
    main()

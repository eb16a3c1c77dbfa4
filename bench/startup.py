"""Wall time of `hanport case show` against the bare import of its main libraries.

python bench/startup.py [--runs N]
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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=7)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "HANPORT_DATABASE_URL": f"sqlite:///{Path(d) / 'h.db'}"}
        subprocess.run(
            [sys.executable, "-m", "hanport", "--json", "demo", "--dir", str(Path(d) / "demo")],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        env["HANPORT_DATABASE_URL"] = f"sqlite:///{Path(d) / 'demo' / 'hanport-demo.db'}"
        env["HANPORT_ROLES"] = "anne.saksbehandler=caseworker"
        show = [
            sys.executable,
            "-m",
            "hanport",
            "--as",
            "anne.saksbehandler",
            "case",
            "show",
            "HAN-2026-000003",
        ]
        bare = [sys.executable, "-c", "import sqlmodel, transitions, jinja2"]
        timed(show, env), timed(bare, env)  # warm the file cache
        t_show = [timed(show, env) for _ in range(a.runs)]
        t_bare = [timed(bare, env) for _ in range(a.runs)]
    ms, mb = median(t_show) * 1000, median(t_bare) * 1000
    print(f"machine: {machine()}")
    print(
        f"hanport case show: median {ms:6.0f} ms; import sqlmodel, transitions, jinja2: {mb:6.0f} ms; ratio {ms / mb:.2f}x ({a.runs} runs)"
    )


if __name__ == "__main__":
    main()

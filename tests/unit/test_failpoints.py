"""Failpoints (``hanport.failpoints``): a process armed with ``HANPORT_FAILPOINT=NAME[:N]``
kills itself the N-th time it reaches NAME — on a simulated clock only."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hanport import failpoints
from hanport.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from hanport import failpoints

class App:
    def __init__(self, simulated):
        self.simulated = simulated
        self.extras = {}

app = App(sys.argv[1] == "simulated")
for i in range(1, 6):
    failpoints.reached(app, "tick.before_commit")
    print(i, flush=True)
    failpoints.reached(app, "mail.claimed")
print("done", flush=True)
"""


def _run(clock: str, spec: str | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    if spec is not None:
        env[failpoints.ENV] = spec
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, clock],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_unarmed_runs_through() -> None:
    r = _run("simulated", None)
    assert r.returncode == 0 and r.stdout.split() == ["1", "2", "3", "4", "5", "done"], r


@pytest.mark.parametrize(
    ("spec", "printed"),
    [
        ("tick.before_commit", []),
        ("tick.before_commit:3", ["1", "2"]),
        ("mail.claimed:2", ["1", "2"]),
    ],
)
def test_armed_kills_at_the_nth_reach(spec: str, printed: list[str]) -> None:
    r = _run("simulated", spec)
    assert r.returncode == -signal.SIGKILL, r
    assert r.stdout.split() == printed


def test_a_real_clock_ignores_it() -> None:
    r = _run("system", "tick.before_commit")
    assert r.returncode == 0 and r.stdout.split()[-1] == "done", r


@pytest.mark.parametrize("spec", ["tick.nowhere", "tick.before_commit:0", "mail.claimed:x"])
def test_a_bad_spec_is_a_usage_error_naming_the_variable(spec: str) -> None:
    with pytest.raises(UsageError, match=failpoints.ENV):
        failpoints.parse(spec)

"""The scheduler service: ``hanport.entrypoints.scheduler.run`` in a thread, and the real ``hanport scheduler``
process stopped by SIGTERM and SIGINT; the nightly slot's configuration.

Waits are bounded polls of the database (every 50 ms, with a deadline), never a fixed sleep for a
timer's duration: the due timer is made due by moving the simulated clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hanport.bootstrap import App, save_clock
from hanport.config import ConfigError, load
from hanport.entrypoints.scheduler import run
from hanport.storage import tables
from hanport.storage.engine import create_engine
from tests.support import NORE_POINT, PINNED, actor, advance, make_app, open_case, seed

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0


def due_reminder(app: App) -> str:
    """A case in awaiting_consent whose reminder is due now."""
    r = open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT)
    advance(app, actor(app), r.case, "request_consent")
    app.clock.advance(timedelta(days=7, minutes=1))
    return r.case


def reminder_events(url: str) -> list[dict[str, Any]]:
    eng = create_engine(url, pool=False)
    try:
        E = tables.EVENTS
        with eng.connect() as conn:
            rows = conn.execute(select(E).where(E.c.trigger == "remind_consent")).mappings()
            return [{**r, "data": json.loads(r["data"])} for r in rows]
    finally:
        eng.dispose()


def wait_for(check: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline}s waiting for {what}")
        time.sleep(0.05)


def test_run_fires_a_due_timer_and_stops_when_asked(seeded: App, db_url: str) -> None:
    app = seeded
    ref = due_reminder(app)
    stop = threading.Event()
    reports: list[Any] = []
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            run(app, tick_seconds=0.2, stop=stop, on_tick=reports.append, install_signals=False)
        ),
        daemon=True,
    )
    thread.start()
    try:
        wait_for(lambda: len(reminder_events(db_url)) == 1, "the reminder to fire")
        wait_for(lambda: len(reports) >= 2, "a second tick")
    finally:
        stop.set()
        thread.join(DEADLINE)
    assert not thread.is_alive(), "run() did not return after stop was set"
    assert result and result[0] >= 2
    assert result[0] == len(reports)
    assert sum(r.timers_fired for r in reports) == 1
    ev = reminder_events(db_url)
    assert len(ev) == 1 and ev[0]["actor_kind"] == "scheduler"
    with app.engine.connect() as conn:
        state = conn.execute(
            select(tables.CASES.c.state).where(tables.CASES.c.ref == ref)
        ).scalar_one()
    assert state == "awaiting_consent"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_scheduler_service_fires_then_stops_on_a_signal(
    sqlite_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    app = make_app(sqlite_url)
    try:
        seed(app, tmp_path / "registry")
        due_reminder(app)
        save_clock(app)  # the service continues from the simulated time
    finally:
        app.close()

    env = dict(os.environ)
    env.update(
        HANPORT_ROLES="cw=caseworker",
        HANPORT_USER="cw",
        PYTHONPATH=str(ROOT),
        **PINNED,
    )
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hanport",
                "--db",
                sqlite_url,
                "scheduler",
                "--tick-seconds",
                "0.3",
            ],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=err,
        )
        try:
            wait_for(
                lambda: proc.poll() is not None or len(reminder_events(sqlite_url)) == 1,
                "the service to fire the reminder",
            )
            assert proc.poll() is None, err_path.read_text()
            proc.send_signal(sig)
            rc = proc.wait(DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = out_path.read_text() + err_path.read_text()
    assert rc == 0, output
    assert "stopped" in output
    assert "scheduler stopped after" in out_path.read_text()
    assert len(reminder_events(sqlite_url)) == 1


@pytest.mark.parametrize("slot", ["02:30", "02:00", "02:59"])
def test_a_nightly_slot_inside_the_dst_hour_is_refused(slot: str) -> None:
    with pytest.raises(ConfigError, match="02:00"):
        load({"HANPORT_NIGHTLY_AT": slot}, user="cw")


@pytest.mark.parametrize(
    ("slot", "stored"), [("04:15", "04:15"), ("3:05", "03:05"), ("01:59", "01:59")]
)
def test_a_nightly_slot_outside_the_dst_hour_is_accepted(slot: str, stored: str) -> None:
    assert load({"HANPORT_NIGHTLY_AT": slot}, user="cw").nightly_at == stored


def test_the_default_nightly_slot() -> None:
    assert load({}, user="cw").nightly_at == "04:15"
    with pytest.raises(ConfigError):
        load({"HANPORT_NIGHTLY_AT": "25:00"}, user="cw")
    with pytest.raises(ConfigError):
        load({"HANPORT_NIGHTLY_AT": "late"}, user="cw")

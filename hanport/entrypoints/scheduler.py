"""``hanport scheduler``: an APScheduler 3.x service that runs ``tick`` every minute and owns a
nightly slot.

Exactly-once comes from the database claims (timers, HES commands, batch files), not from
APScheduler: several schedulers on several machines against one PostgreSQL are safe, and a
restart loses nothing because the work lives in tables, not in the job store (in memory here).

Choices:
- tick: ``coalesce=True`` — after a pause (suspended VM, long tick) missed runs collapse into one,
  which catches up on everything due anyway; ``max_instances=1`` — ticks never overlap in one
  process; ``misfire_grace_time=None`` — a late tick still runs.
- nightly: ``coalesce=True`` and a 6 h grace time — a service that was down at the slot runs the
  batch when it comes back the same morning; the batch itself is idempotent per file.
  The slot is local Oslo time and never 02:00–03:00 (skipped or repeated on DST days).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import OSLO

log = logging.getLogger("hanport.entrypoints.scheduler")

NIGHTLY_GRACE_SECONDS = 6 * 3600


def _terminations(app: App) -> dict[str, Any]:
    from hanport.entrypoints.inbox import run_inbox

    return run_inbox(app)


# The nightly slot's jobs, run in order; each takes the app and returns a summary to log.
NIGHTLY_JOBS: list[Callable[[App], dict[str, Any]]] = [_terminations]


def nightly(app: App) -> dict[str, Any]:
    """Run the nightly jobs (each must be idempotent: several schedulers may share the slot)."""
    return {job.__name__.strip("_"): job(app) for job in NIGHTLY_JOBS}


def run(
    app: App,
    *,
    tick_seconds: float = 60.0,
    stop: threading.Event | None = None,
    on_tick: Callable[[Any], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); returns the number of ticks run."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from hanport.entrypoints.tick import tick

    stop = stop or threading.Event()
    ticks = 0
    lock = threading.Lock()

    def tick_job() -> None:
        nonlocal ticks
        try:
            report = tick(app)
        except Exception:  # keep the service alive; the next tick retries
            log.exception("tick failed")
            return
        with lock:
            ticks += 1
        if report.details:
            for line in report.details:
                log.info("tick: %s", line)
        if on_tick is not None:
            on_tick(report)

    def nightly_job() -> None:
        try:
            log.info("nightly: %s", nightly(app))
        except Exception:
            log.exception("nightly job failed")

    hh, mm = (int(x) for x in app.settings.nightly_at.split(":"))
    sched = BackgroundScheduler(timezone=OSLO)
    sched.add_job(
        tick_job,
        IntervalTrigger(seconds=tick_seconds, timezone=OSLO),
        id="tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=None,
    )
    sched.add_job(
        nightly_job,
        CronTrigger(hour=hh, minute=mm, timezone=OSLO),
        id="nightly",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=NIGHTLY_GRACE_SECONDS,
    )
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    sched.start()
    sched.modify_job("tick", next_run_time=_now_local())  # first tick at once
    log.info(
        "scheduler started: tick every %ss, nightly at %s Oslo time",
        tick_seconds,
        app.settings.nightly_at,
    )
    try:
        while not stop.wait(0.2):
            pass
    finally:
        log.info("scheduler stopping: waiting for a running tick to finish")
        sched.shutdown(wait=True)
        log.info("scheduler stopped after %d ticks", ticks)
    return ticks


def _now_local() -> Any:
    from datetime import datetime

    return datetime.now(OSLO)

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
  batch when it comes back the same morning; the batch itself is idempotent per file, and so is
  retention (what is cleared is not cleared again).
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


def _retention(app: App) -> dict[str, Any]:
    """The automatic retention periods (mail bodies, web forms that became nothing), then the
    erasure ledger's file made whole (an erasure's append lost to a crash)."""
    from hanport.service import run
    from hanport.service.commands import ApplyRetention
    from hanport.service.erasure import sync_ledger_file
    from hanport.service.timers import SCHEDULER

    cleared: dict[str, Any] = run(app, SCHEDULER, ApplyRetention())
    if app.settings.erasure_ledger:
        for warning in sync_ledger_file(app):
            log.warning("nightly: %s", warning)
    return cleared


# The nightly slot's jobs, run in order; each takes the app and returns a summary to log.
NIGHTLY_JOBS: list[Callable[[App], dict[str, Any]]] = [_terminations, _retention]


def nightly(app: App) -> dict[str, Any]:
    """Run the nightly jobs (each must be idempotent: several schedulers may share the slot)."""
    return {job.__name__.strip("_"): job(app) for job in NIGHTLY_JOBS}


class _Jobs:
    """The two jobs, each surviving its own failure (the next run retries)."""

    def __init__(self, app: App, on_tick: Callable[[Any], None] | None) -> None:
        self.app, self.on_tick = app, on_tick
        self.ticks = 0
        self.lock = threading.Lock()

    def tick(self) -> None:
        from hanport.entrypoints.tick import tick

        try:
            report = tick(self.app)
        except Exception:  # keep the service alive; the next tick retries
            log.exception("tick failed")
            return
        with self.lock:
            self.ticks += 1
        for line in report.details:
            log.info("tick: %s", line)
        if self.on_tick is not None:
            self.on_tick(report)

    def nightly(self) -> None:
        try:
            log.info("nightly: %s", nightly(self.app))
        except Exception:
            log.exception("nightly job failed")


def _scheduler(app: App, jobs: _Jobs, tick_seconds: float) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    hh, mm = (int(x) for x in app.settings.nightly_at.split(":"))
    sched = BackgroundScheduler(timezone=OSLO)
    sched.add_job(
        jobs.tick,
        IntervalTrigger(seconds=tick_seconds, timezone=OSLO),
        id="tick",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
        next_run_time=None,
    )
    sched.add_job(
        jobs.nightly,
        CronTrigger(hour=hh, minute=mm, timezone=OSLO),
        id="nightly",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=NIGHTLY_GRACE_SECONDS,
    )
    return sched


def run(
    app: App,
    *,
    tick_seconds: float = 60.0,
    stop: threading.Event | None = None,
    on_tick: Callable[[Any], None] | None = None,
    install_signals: bool = True,
) -> int:
    """Run until SIGTERM/SIGINT (or ``stop`` is set); returns the number of ticks run."""
    stop = stop or threading.Event()
    jobs = _Jobs(app, on_tick)
    sched = _scheduler(app, jobs, tick_seconds)
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
        log.info("scheduler stopped after %d ticks", jobs.ticks)
    return jobs.ticks


def _now_local() -> Any:
    from datetime import datetime

    return datetime.now(OSLO)

"""Entry points of the processes test_concurrent_ticks.py starts with multiprocessing "spawn":
each imports this module afresh and gets only picklable arguments."""

from __future__ import annotations

import sys
import traceback
from typing import Any

BARRIER_TIMEOUT = 30.0


def fire_due_at_once(db_url: str, now: str, name: str, barrier: Any, queue: Any) -> None:
    """Build an App at ``now``, wait until the other worker is ready too, fire every due timer;
    report (name, exit code, timers fired or the error)."""
    code, detail = 0, ""
    try:
        from tests.support import fire_due, make_app

        app = make_app(db_url, now=now)
        try:
            barrier.wait(BARRIER_TIMEOUT)
            detail = str(fire_due(app).fired)
        finally:
            app.close()
    except BaseException as exc:
        code = getattr(exc, "exit_code", 1)
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    queue.put((name, code, detail))
    sys.exit(code)

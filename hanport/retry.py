"""Retrying work that lost a race for the database (SQLite's one writer, a PostgreSQL lock).

The scheduler's own passes (timers, HES, mail) are safe to repeat: their claims make a repeat
do nothing twice. A caseworker's command is not retried here: it exits 5 and says so.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from hanport.errors import Conflict

T = TypeVar("T")


def on_conflict(fn: Callable[[], T], *, tries: int = 60, max_sleep: float = 0.25) -> T:
    """Call ``fn``; on ``Conflict`` sleep a little (jittered, growing) and call it again."""
    delay = 0.005
    for attempt in range(tries):
        try:
            return fn()
        except Conflict:
            if attempt == tries - 1:
                raise
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, max_sleep)
    raise AssertionError("unreachable")

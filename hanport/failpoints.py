"""Named points in the work where a fault test may have the process kill itself.

``HANPORT_FAILPOINT=NAME[:N]`` in a process's environment makes it SIGKILL itself the N-th time
(default: the first) it reaches the point ``NAME`` — right before a commit, right after one, after
the SMTP server accepted a message whose outcome is not yet recorded. So a test kills a process
at a chosen moment by construction instead of racing the machine's speed with a timer.

Honoured only on a database whose clock is simulated (the demo's and the tests'): a process on
the system clock — a grid company's — ignores the variable. The points:

=========================  =====================================================================
``started``                the application is built, nothing done yet
``tick.before_commit``     a batch of due timers is fired and written, not yet committed
``tick.timers_committed``  that batch is committed
``batch.run_started``      the terminations run's row is committed, no chunk yet
``batch.before_chunk_commit``  a chunk of rows is written, not yet committed
``batch.chunk_committed``  that chunk is committed
``batch.run_finished``     the run's counts are committed
``mail.claimed``           a batch of mail is claimed (``sending``), nothing sent yet
``mail.before_record``     the server accepted (or refused) a message; its outcome not recorded
``mail.message_recorded``  that outcome is committed
``retention.before_commit``  the nightly retention cleared what is due, not yet committed
``retention.committed``    that is committed; SQLite's write-ahead log not yet emptied
=========================  =====================================================================
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from typing import Any

from hanport.errors import UsageError

ENV = "HANPORT_FAILPOINT"
POINTS = frozenset(
    {
        "started",
        "tick.before_commit",
        "tick.timers_committed",
        "batch.run_started",
        "batch.before_chunk_commit",
        "batch.chunk_committed",
        "batch.run_finished",
        "mail.claimed",
        "mail.before_record",
        "mail.message_recorded",
        "retention.before_commit",
        "retention.committed",
    }
)


@dataclass
class Armed:
    name: str
    at: int
    reached: int = 0


def parse(spec: str) -> Armed:
    """``NAME[:N]``; a usage error (exit 2) naming what is wrong."""
    name, _, count = spec.strip().partition(":")
    if name not in POINTS:
        raise UsageError(f"{ENV}: no failpoint {name!r} (known: {', '.join(sorted(POINTS))})")
    try:
        at = int(count) if count else 1
    except ValueError:
        raise UsageError(f"{ENV}: {count!r} is not a count (NAME[:N], N ≥ 1)") from None
    if at < 1:
        raise UsageError(f"{ENV}: {count!r} is not a count (NAME[:N], N ≥ 1)")
    return Armed(name, at)


def reached(app: Any, name: str) -> None:
    """The work reached the point ``name``: die here if a test armed it."""
    armed = app.extras.get("failpoint", False)
    if armed is False:  # the first point this process reaches decides, once
        spec = os.environ.get(ENV)
        armed = app.extras["failpoint"] = parse(spec) if spec and app.simulated else None
    if armed is None or armed.name != name:
        return
    armed.reached += 1
    if armed.reached == armed.at:
        os.kill(os.getpid(), signal.SIGKILL)

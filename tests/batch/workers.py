"""Entry points of the scheduler processes the inbox tests start (``multiprocessing`` "spawn":
each process imports this module afresh and gets only picklable arguments).

Each process builds its own App from the environment-style settings (``HANPORT_BATCH_INBOX``
names the inbox), waits for its start signal, calls ``run_inbox`` and puts
``(name, code, result-or-error)`` on the queue: code 0 when ``run_inbox`` returned, 1 when it
raised, 9 when a start signal never came. Every wait is bounded.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

WAIT = 60.0
EXIT_NO_START = 9


def inbox_app(db_url: str, inbox: str) -> Any:
    from hanport.bootstrap import bootstrap
    from hanport.config import load
    from tests.support import PINNED, ROLES, START

    settings = load(
        {
            "HANPORT_DATABASE_URL": db_url,
            "HANPORT_ROLES": ROLES,
            "HANPORT_BATCH_INBOX": inbox,
            **PINNED,
        },
        user="cw",
    )
    return bootstrap(settings, now=START, simulated=True)


def scheduler(
    name: str,
    db_url: str,
    inbox: str,
    queue: Any,
    barrier: Any = None,
    start: Any = None,
    paused: Any = None,
    resume: Any = None,
) -> None:
    """One scheduler's nightly slot. ``barrier``: start together with the others. ``start``: an
    event to wait for first. ``paused``/``resume``: hold this scheduler after it has applied and
    marked its first file done, before it moves it to ``done/`` (set ``paused``, wait for
    ``resume``)."""
    from hanport.entrypoints import inbox as inbox_module

    app = inbox_app(db_url, inbox)
    try:
        if barrier is not None:
            barrier.wait(WAIT)
        if start is not None and not start.wait(WAIT):
            queue.put((name, EXIT_NO_START, "never told to start"))
            return
        if paused is not None:
            original = inbox_module._move
            held = {"done": False}

            def move(path: Any, done: Any) -> Any:
                if not held["done"]:
                    held["done"] = True
                    paused.set()
                    resume.wait(WAIT)
                return original(path, done)

            inbox_module._move = move  # type: ignore[assignment]
        result = inbox_module.run_inbox(app)
        queue.put((name, 0, result))
    except threading.BrokenBarrierError:
        queue.put((name, EXIT_NO_START, "the other scheduler never reached the barrier"))
    except BaseException as exc:
        queue.put((name, 1, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        if paused is not None:
            paused.set()  # never leave the other side waiting
        app.close()

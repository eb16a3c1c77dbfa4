"""Entry points of the processes the concurrency tests start (``multiprocessing`` "spawn": each
process imports this module afresh and gets only picklable arguments: the database URL, case
references, user names, a barrier and queues).

Each process builds its own App and reports every command's outcome with the CLI's exit code
(0 success, 3 not found, 4 refused, 5 conflict, 1 anything else), or ``EXIT_BARRIER`` when the
other process never arrived at the barrier. Every wait is bounded.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

EXIT_BARRIER = 9
BARRIER_TIMEOUT = 20.0
JOB_TIMEOUT = 60.0


def _report(queue: Any, name: str, code: int, detail: str) -> None:
    queue.put((name, code, detail))
    if code not in (0,):
        print(f"[{name}] exit {code}: {detail}", file=sys.stderr)


def _run(name: str, queue: Any, body: Callable[[], str]) -> None:
    from hanport.errors import HanportError

    try:
        detail = body()
        code = 0
    except threading.BrokenBarrierError:
        code, detail = EXIT_BARRIER, "the other process never reached the barrier"
    except HanportError as exc:
        code, detail = exc.exit_code, f"{type(exc).__name__}: {exc}"
    except BaseException as exc:
        code = 1
        detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    _report(queue, name, code, detail)
    sys.exit(code)


def advance_worker(
    db_url: str, user: str, trigger: str, barrier: Any, jobs: Any, queue: Any
) -> None:
    """A caseworker's long-lived process: for each case reference from ``jobs`` (``None`` ends),
    advance it with ``trigger``, waiting inside ``after_load`` until the other worker has loaded
    the same case too — both work from the same version — and report ``(ref, user, code,
    detail)``. Exits 0 after the last job."""
    from hanport.errors import HanportError
    from tests.support import actor, advance, make_app

    app = make_app(db_url)
    app.extras["after_load"] = lambda: barrier.wait(BARRIER_TIMEOUT)
    try:
        while True:
            ref = jobs.get(timeout=JOB_TIMEOUT)
            if ref is None:
                return
            try:
                r = advance(app, actor(app, user), ref, trigger)
                code, detail = 0, f"{r.case} {r.state} v{r.version}"
            except threading.BrokenBarrierError:
                code, detail = EXIT_BARRIER, "the other worker never reached the barrier"
            except HanportError as exc:
                code, detail = exc.exit_code, f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                code = 1
                detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            queue.put((ref, user, code, detail))
    finally:
        app.close()


def open_at_once(
    db_url: str, point: str, customer: str, user: str, barrier: Any, queue: Any
) -> None:
    """Open a nore_open case on ``point``, waiting after the opening checks (no case holds the
    point yet) until the other process has passed them too."""

    def body() -> str:
        from tests.support import actor, make_app, open_case

        app = make_app(db_url)
        app.extras["after_load"] = lambda: barrier.wait(BARRIER_TIMEOUT)
        try:
            r = open_case(
                app, actor(app, user), "nore_open", customer=customer, metering_point=point
            )
            return f"{r.case} {r.state}"
        finally:
            app.close()

    _run(user, queue, body)


def bootstrap_repeatedly(db_url: str, name: str, rounds: int, barrier: Any, queue: Any) -> None:
    """(``name`` is the process's number.) Start the application ``rounds`` times on the shared database, each time moving its
    simulated clock to a new instant (a write to ``meta``), after waiting for the other
    processes at the barrier; report how many starts succeeded."""

    def body() -> str:
        from datetime import datetime, timedelta

        from tests.support import START, make_app

        start = datetime.fromisoformat(START)
        for i in range(rounds):
            barrier.wait(BARRIER_TIMEOUT)
            now = start + timedelta(minutes=i, seconds=int(name))
            make_app(db_url, now=now.isoformat()).close()
        return str(rounds)

    _run(name, queue, body)

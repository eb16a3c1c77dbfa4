"""Entry points of the processes test_races.py starts with multiprocessing "spawn": each imports
this module afresh and gets only picklable arguments (URL, user, a barrier, queues).

A racer is a caseworker's long-lived process. For each job ``(ref, trigger)`` from its queue
(``None`` ends) it advances the case, waiting inside the command — after the case is loaded, in
``app.extras["after_load"]`` — until every racer has loaded the same case, so all of them work
from the same version before any writes. It reports ``(ref, user, exit code, detail)`` with the
CLI's exit codes (0 success, 4 refused, 5 conflict, 1 anything else, 9 the barrier broke).
Every wait is bounded.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

BARRIER_TIMEOUT = 30.0
JOB_TIMEOUT = 90.0
EXIT_BARRIER = 9
RACERS = ("w1", "w2", "w3", "w4")
ROLES = ",".join(f"{u}=caseworker" for u in RACERS) + ",cw=caseworker"


def racer_app(db_url: str) -> Any:
    from hanport.bootstrap import bootstrap
    from hanport.config import load
    from tests.support import PINNED, START

    env = {"HANPORT_DATABASE_URL": db_url, "HANPORT_ROLES": ROLES, **PINNED}
    return bootstrap(load(env, user="cw"), now=START, simulated=True)


def racer(db_url: str, user: str, barrier: Any, jobs: Any, results: Any) -> None:
    from hanport.errors import HanportError
    from hanport.service.roles import resolve
    from tests.support import advance

    app = racer_app(db_url)
    app.extras["after_load"] = lambda: barrier.wait(BARRIER_TIMEOUT)
    who = resolve(app, user)
    try:
        while True:
            job = jobs.get(timeout=JOB_TIMEOUT)
            if job is None:
                return
            ref, trigger = job
            try:
                r = advance(app, who, ref, trigger)
                code, detail = 0, f"{r.case} {r.state} v{r.version}"
            except threading.BrokenBarrierError:
                code, detail = EXIT_BARRIER, "a racer never reached the barrier"
            except HanportError as exc:
                code, detail = exc.exit_code, f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                code = 1
                detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            results.put((ref, user, code, detail))
    finally:
        app.close()

"""PostgreSQL restarted in the middle of a tick (``pg_ctlcluster … restart``, fast mode: every
connection is cut) while ``hanport tick`` fires many due timers. The interrupted tick may fail,
but must end, with a clear message; the next tick fires the rest: every timer exactly once, every
reminder mailed once, every hash chain intact.

The restart cuts every connection on the server, other sessions' too. So it runs only when
``HANPORT_FAULTS_RESTART_PG`` is not ``0``; this module sorts last in tests/faults (run it last,
or alone); and the test waits until the server answers again before it ends, also when it fails
(starting the cluster if it stays down).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from hanport.service.mail import LEASE
from hanport.storage.engine import create_engine
from tests.conftest import PG_ADMIN_URL, drop_pg_database, new_pg_database
from tests.faults import helpers as h
from tests.support import make_app

pytestmark = pytest.mark.slow

SERVER_BACK = 90.0  # the longest PostgreSQL may take to answer again


def _cluster() -> tuple[str, str]:
    """The (version, name) of the local cluster serving ``HANPORT_TEST_PG``'s port."""
    url = make_url(PG_ADMIN_URL)
    if url.host not in ("127.0.0.1", "localhost") or not shutil.which("pg_ctlcluster"):
        pytest.skip(f"no local cluster to restart for {url.host}:{url.port or 5432}")
    out = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for line in out.splitlines():
        ver, name, port, *_ = line.split()
        if int(port) == (url.port or 5432):
            return ver, name
    pytest.skip(f"no local cluster listens on port {url.port or 5432}: {out}")


def _answers() -> bool:
    url = make_url(PG_ADMIN_URL)
    p = subprocess.run(
        ["pg_isready", "-q", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)],
        timeout=30,
    )
    return p.returncode == 0


def _wait_until_back(cluster: tuple[str, str]) -> None:
    """Bounded: start the cluster if it is down, wait until it answers (and takes a query)."""
    deadline = time.monotonic() + SERVER_BACK
    started = False
    while time.monotonic() < deadline:
        if _answers():
            eng = create_engine(PG_ADMIN_URL, pool=False)
            try:
                with eng.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except OperationalError:
                pass
            finally:
                eng.dispose()
        elif not started and time.monotonic() > deadline - SERVER_BACK / 2:
            started = True
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "start"],
                capture_output=True,
                timeout=60,
            )
        time.sleep(0.2)
    raise AssertionError(f"PostgreSQL did not answer within {SERVER_BACK}s")


@pytest.fixture
def pg_url() -> Iterator[str]:
    if os.environ.get("HANPORT_FAULTS_RESTART_PG", "1") == "0":
        pytest.skip("HANPORT_FAULTS_RESTART_PG=0: the shared PostgreSQL server is not restarted")
    cluster = _cluster()
    url = new_pg_database()
    try:
        yield url
    finally:
        _wait_until_back(cluster)  # never leave the server down for what runs next
        drop_pg_database(url)


def _fired(engine: Any) -> int:
    try:
        return int(h.scalar(engine, "SELECT count(*) FROM timers WHERE status = 'fired'"))
    except OperationalError:
        return -1  # the server is going down or coming back


def test_postgresql_restarted_during_a_tick_fires_every_timer_once(
    pg_url: str, tmp_path: Path
) -> None:
    """250 cases with four due reminders each (1,000 firings); the cluster is restarted once
    about a fifth of them have fired."""
    cluster = _cluster()
    app = make_app(pg_url, maildir=str(tmp_path / "maildir"))
    try:
        reg = h.import_registry(app, tmp_path / "registry", 250, 0, 0)
        reminders = h.awaiting_consent(app, reg, 4)
    finally:
        app.close()
    total = len(reminders)
    env = h.cli_env(pg_url, tmp_path)
    now = h.AFTER_REMINDER
    engine = create_engine(pg_url, pool=False)
    proc = h.start_cli(env, tmp_path, now, "tick")
    try:
        h.wait_until(lambda: _fired(engine) >= total // 5 or proc.poll() is not None, 90, "fired")
        assert proc.poll() is None, f"the tick ended before the restart: {h.finish(proc)}"
        seen = _fired(engine)
        restarted = subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restarted.returncode == 0, restarted.stderr
        _wait_until_back(cluster)
        # The interrupted tick may fail, but it must end.
        code, _out, err = h.finish(proc, 90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    after = _fired(engine)
    engine.dispose()
    print(f"restart after {seen} of {total} fired; the tick exited {code}; {after} fired then")
    assert code in (0, 5), err[-2000:]
    if code == 0:
        assert after == total
    else:  # a clear message, not a traceback: the database went away, retry
        assert "Traceback" not in err and "went away" in err and "retry" in err, err[-2000:]

    later = now + LEASE + timedelta(minutes=1)  # past the lease of mail the tick had claimed
    code, _out, err = h.run_cli(env, tmp_path, later, "tick")
    assert code == 0, err[-2000:]
    app = make_app(pg_url, now=later.isoformat())
    try:
        h.assert_timers_exactly_once(app.engine, reminders)
        assert (
            h.scalar(
                app.engine, "SELECT count(*) FROM mail_outbox WHERE template = 'consent_reminder'"
            )
            == total
        )
        left = h.rows(app.engine, "SELECT status, count(*) AS n FROM mail_outbox GROUP BY status")
        assert {r["status"] for r in left} == {"sent"}, left
        h.assert_chains_and_ports(app)
    finally:
        app.close()

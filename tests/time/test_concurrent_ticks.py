"""Exactly once under concurrency and crashes: thousands of due timers, two real tick processes at
once (and two workers released together from a barrier), and a tick killed with SIGKILL mid-run
then run again — on a real SQLite file and on PostgreSQL.

The due timers belong to real cases in ``awaiting_consent`` opened through the service layer;
each case gets its own ``remind_consent`` timer plus extra ``remind_consent`` timer rows (written
with Core, a minute apart) so that the firings outnumber the cases and one case's timers land in
different batches, possibly in different processes. A reminder is an internal transition, so a
correctly fired timer ends ``fired``.

Sizes keep each test well under 40 s on the 2-core test machine; the seeded database is built once
per backend and copied for every test.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from hanport.entrypoints.tick import tick
from hanport.identifiers import gsrn_with_check_digit
from hanport.storage import tables
from hanport.storage.engine import create_engine
from tests.conftest import PG_ADMIN_URL, drop_pg_database, new_pg_database
from tests.support import (
    PINNED,
    START,
    actor,
    advance,
    copy_reminders,
    import_customers,
    import_points,
    make_app,
    open_case,
)
from tests.time.workers import fire_due_at_once

SPAWN = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[2]
# (cases, timers per case): 1,500 due timers on SQLite, 3,000 on PostgreSQL.
SIZES = {"sqlite": (750, 2), "postgresql": (750, 4)}
NOW = (datetime.fromisoformat(START) + timedelta(days=7, hours=1)).isoformat()
PROCESS_TIMEOUT = 90.0


@dataclass(frozen=True)
class Seeded:
    backend: str
    url: str  # the seeded original; tests work on copies
    timer_ids: frozenset[int]
    cases: int


def _admin_url() -> str:
    return make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg").render_as_string(False)


def _pg_clone(source_url: str) -> str:
    name = f"hanport_t_{uuid.uuid4().hex[:12]}"
    src = make_url(source_url).database
    eng = sa_create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{src}"'))
    eng.dispose()
    return make_url(source_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def _maildir() -> Iterator[str]:
    """A throw-away Maildir for the ticks' mail delivery, in memory when the machine has
    /dev/shm (one fsync per message is most of a tick's time otherwise)."""
    shm = Path("/dev/shm")
    folder = tempfile.mkdtemp(prefix="hanport-time-", dir=shm if shm.is_dir() else None)
    try:
        yield str(Path(folder) / "maildir")  # created by the first delivery
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _seed(url: str, folder: Path, n: int, per_case: int, maildir: str) -> frozenset[int]:
    """``n`` Nore points and customers (CSV import), one case each in awaiting_consent (their
    first notices delivered by a tick), and ``per_case - 1`` extra reminder timers per case;
    returns the ids of all reminder timers."""
    app = make_app(url, maildir=maildir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        cust = ["customer_id;name;email;phone;street;postal_code;city;language;energipilot"]
        pts = [
            "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;"
            "han_port"
        ]
        pairs = []
        for i in range(n):
            cid, gsrn = str(500000 + i), gsrn_with_check_digit(f"70705751{i:09d}")
            cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};3630;Rødberg;nb;no")
            pts.append(f"{gsrn};{cid};73{i:014d};3338;Bjørkeveien {i};3630;Rødberg;closed")
            pairs.append((cid, gsrn))
        (folder / "c.csv").write_text("\n".join(cust) + "\n", encoding="utf-8")
        (folder / "p.csv").write_text("\n".join(pts) + "\n", encoding="utf-8")
        who = actor(app)
        assert not import_customers(app, who, folder / "c.csv").rejected
        assert not import_points(app, who, folder / "p.csv").rejected
        for cid, gsrn in pairs:
            r = open_case(app, who, "nore_open", customer=cid, metering_point=gsrn)
            advance(app, who, r.case, "request_consent")
        report = tick(app)  # nothing due yet: delivers the "received"/"consent needed" notices
        assert report.timers_fired == 0 and report.mail_sent == 2 * n, report.mail_sent
        with app.engine.begin() as conn:
            before, timer_ids = copy_reminders(conn, per_case)
        assert before == n
    finally:
        app.close()
    assert len(timer_ids) == n * per_case
    return timer_ids


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    backend = request.param
    n, per_case = SIZES[backend]
    folder = tmp_path_factory.mktemp(f"ticks-{backend}")
    with _maildir() as maildir:
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'seeded.db'}"
            yield Seeded(backend, url, _seed(url, folder / "registry", n, per_case, maildir), n)
            return
        url = new_pg_database()
        try:
            yield Seeded(backend, url, _seed(url, folder / "registry", n, per_case, maildir), n)
        finally:
            drop_pg_database(url)


@pytest.fixture
def due_db(seeded_db: Seeded, tmp_path: Path) -> Iterator[str]:
    """A copy of the seeded database for one test."""
    if seeded_db.backend == "sqlite":
        src = Path(make_url(seeded_db.url).database or "")
        dst = tmp_path / "copy.db"
        for suffix in ("", "-wal", "-shm"):  # closing the last connection normally leaves none
            if Path(f"{src}{suffix}").exists():
                shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")
        yield f"sqlite:///{dst}"
        return
    url = _pg_clone(seeded_db.url)
    try:
        yield url
    finally:
        drop_pg_database(url)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def maildir() -> Iterator[str]:
    with _maildir() as folder:
        yield folder


def _tick(url: str, maildir: str) -> subprocess.Popen[str]:
    """``hanport tick`` as a real process, in the test's own folder (the working directory)."""
    env = dict(os.environ)
    env.update(
        HANPORT_ROLES="cw=caseworker",
        HANPORT_USER="cw",
        HANPORT_MAILDIR=maildir,
        PYTHONPATH=str(ROOT),
        **PINNED,
    )
    env.pop("HANPORT_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "hanport", "--db", url, "--json", "tick", "--now", NOW],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"tick did not finish in {PROCESS_TIMEOUT}s: {err[-2000:]}")
    return proc.returncode, out, err


def _fired_count(url: str) -> int:
    eng = create_engine(url, pool=False)
    try:
        with eng.connect() as conn:
            T = tables.TIMERS
            return int(
                conn.execute(
                    select(func.count()).select_from(T).where(T.c.status == "fired")
                ).scalar_one()
            )
    finally:
        eng.dispose()


def _assert_exactly_once(url: str, seeded: Seeded) -> None:
    """Every due timer fired exactly once: one event per timer id, none twice, none missed; every
    timer row ``fired``; one reminder mail per firing."""
    eng = create_engine(url, pool=False)
    try:
        with eng.connect() as conn:
            T, E, M = tables.TIMERS, tables.EVENTS, tables.MAIL
            rows = conn.execute(select(T.c.id, T.c.status)).all()
            fired_events = conn.execute(
                select(E.c.data, E.c.actor_kind).where(E.c.trigger == "remind_consent")
            ).all()
            mails = conn.execute(
                select(func.count()).select_from(M).where(M.c.template == "consent_reminder")
            ).scalar_one()
            states = dict(
                conn.execute(
                    select(tables.CASES.c.state, func.count()).group_by(tables.CASES.c.state)
                ).all()
            )
    finally:
        eng.dispose()
    per_timer = Counter(json.loads(d)["timer"]["id"] for d, _ in fired_events)
    twice = sorted(t for t, c in per_timer.items() if c > 1)
    missed = sorted(seeded.timer_ids - set(per_timer))
    assert not twice, f"{len(twice)} timers fired more than once, e.g. {twice[:10]}"
    assert not missed, f"{len(missed)} due timers never fired, e.g. {missed[:10]}"
    assert set(per_timer) == set(seeded.timer_ids)
    assert {k for _, k in fired_events} == {"scheduler"}
    status = {tid: s for tid, s in rows if tid in seeded.timer_ids}
    not_fired = Counter(s for s in status.values() if s != "fired")
    assert not not_fired, f"due timer rows not marked fired: {dict(not_fired)}"
    assert mails == len(seeded.timer_ids)
    assert states == {"awaiting_consent": seeded.cases}


def _wait_for_idle_pg(url: str, deadline_s: float = 15.0) -> None:
    """After a SIGKILL, wait until the server has noticed (the dead client's backend is gone and
    its transaction rolled back), so its row locks are released."""
    eng = create_engine(url, pool=False)
    try:
        deadline = time.monotonic() + deadline_s
        while True:
            with eng.connect() as conn:
                others = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            if others == 0:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{others} backends of the killed tick are still connected")
            time.sleep(0.05)
    finally:
        eng.dispose()


# --- the tests --------------------------------------------------------------------------------


def test_two_tick_processes_fire_every_timer_exactly_once(
    seeded_db: Seeded, due_db: str, maildir: str
) -> None:
    procs = [_tick(due_db, maildir), _tick(due_db, maildir)]
    results = [_finish(p) for p in procs]
    for rc, _out, err in results:
        assert rc == 0, err[-3000:]
    fired = [json.loads(out)["timers_fired"] for _, out, _ in results]
    assert sum(fired) == len(seeded_db.timer_ids), fired
    _assert_exactly_once(due_db, seeded_db)


def test_two_workers_released_together_share_the_timers(seeded_db: Seeded, due_db: str) -> None:
    barrier = SPAWN.Barrier(2)
    queue = SPAWN.Queue()
    procs = [
        SPAWN.Process(target=fire_due_at_once, args=(due_db, NOW, name, barrier, queue))
        for name in ("a", "b")
    ]
    for p in procs:
        p.start()
    reports = {}
    try:
        for _ in procs:
            name, code, detail = queue.get(timeout=PROCESS_TIMEOUT)
            reports[name] = (code, detail)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert all(code == 0 for code, _ in reports.values()), reports
    fired = {name: int(detail) for name, (_, detail) in reports.items()}
    assert sum(fired.values()) == len(seeded_db.timer_ids), fired
    if seeded_db.backend == "postgresql":
        # SKIP LOCKED: both really work at the same time, each fires a share. (SQLite has one
        # writer at a time and its lock is not fair: one worker may well fire them all.)
        assert min(fired.values()) > 0, fired
    _assert_exactly_once(due_db, seeded_db)


def test_a_tick_killed_mid_run_then_rerun_fires_every_timer_once(
    seeded_db: Seeded, due_db: str, maildir: str
) -> None:
    total = len(seeded_db.timer_ids)
    proc = _tick(due_db, maildir)
    deadline = time.monotonic() + PROCESS_TIMEOUT
    seen = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen = _fired_count(due_db)
            if seen >= total // 10:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the tick finished before it could be killed ({seen} fired)"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    proc.communicate()
    if seeded_db.backend == "postgresql":
        _wait_for_idle_pg(due_db)
    after_kill = _fired_count(due_db)
    assert 0 < after_kill < total, f"not killed mid-run: {after_kill} of {total} fired"

    rc, out, err = _finish(_tick(due_db, maildir))
    assert rc == 0, err[-3000:]
    assert json.loads(out)["timers_fired"] == total - after_kill
    _assert_exactly_once(due_db, seeded_db)

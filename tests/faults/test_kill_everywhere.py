"""kill -9 anywhere, in any of three kinds of work on one database, then rerun: everything exactly
once (design.md, "Reliability and security").

One database holds three kinds of work:

- ``tick``: 240 cases awaiting consent whose reminders are due (3 reminder timers each: 720
  firings, each with a reminder mail to deliver);
- ``batch terminations FILE``: a file of about 800 rows (two chunks), most closing an open port,
  mixed with rollbacks, repeats, second closes, closed ports and bad rows — every document's
  outcome is known in advance;
- ``mail send``: the notices of the opened cases (and whatever the other two produced), to a real
  SMTP server (aiosmtpd on 127.0.0.1, in this process).

One seeded random schedule runs them as real ``python -m hanport`` processes, one at a time, and
SIGKILLs each at a random moment: during start-up, right after a commit (polling the database), a
moment later, or right after the SMTP server stored its n-th message of a batch (the row is then
``sending``: it goes out again after the lease, with the same Message-ID). The simulated clock
moves six minutes per run, past the five-minute lease. Then each kind is rerun to completion and:

- every document is recorded once with its known outcome; one close case per applied close;
- every due timer fired exactly once (one event per timer id) and its row is ``fired``;
- every mail row is ``sent``; each Message-ID arrived once, or once more per claim of it that a
  kill interrupted (at most twice when interrupted once);
- ``audit verify`` is clean: every hash chain, case state and port state agrees with its history.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanport.service.mail import LEASE
from hanport.storage.engine import create_engine
from tests.faults import helpers as h
from tests.support import make_app

SEED = 20260309
WAITING, PER_CASE = 240, 3  # 720 due reminders
OPEN, SPARE = 350, 40  # about 800 rows in the terminations file
KILLS = 21
MAX_STEPS = 80  # runs that finish before their kill (the work ran out) do not count
STEP = LEASE + timedelta(minutes=1)  # the clock moves past a lease between runs
WAIT = 20.0  # the longest a kill waits for progress
# How long a batch run works once it began (two chunks and the finish): SQLite, PostgreSQL.
BATCH_SPAN = {"sqlite": 0.8, "postgresql": 2.4}

KINDS = ("tick", "batch", "mail")
OK_CODES = {"tick": (0,), "batch": (0, 6), "mail": (0,)}  # batch: 6 = some rows rejected


@dataclass
class World:
    url: str
    folder: Path
    file: Path
    expected: h.Terminations
    reminders: frozenset[int]
    server: Any
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    # (message_id, lease end) of every claim a kill left ``sending``
    interrupted: set[tuple[str, str]] = field(default_factory=set)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    rnd = random.Random(SEED)
    app = make_app(db_url, maildir=str(tmp_path / "maildir"))
    try:
        reg = h.import_registry(app, tmp_path / "registry", WAITING, OPEN, SPARE)
        reminders = h.awaiting_consent(app, reg, PER_CASE)
    finally:
        app.close()
    t = h.terminations(reg, rnd)
    path = h.write_terminations(tmp_path / "terminations.csv", t)
    server = h.smtp_server().start()
    try:
        env = h.cli_env(db_url, tmp_path, server.port)
        yield World(db_url, tmp_path, path, t, reminders, server, env)
    finally:
        server.stop()


def _args(w: World, kind: str) -> tuple[str, ...]:
    return {
        "tick": ("tick",),
        "batch": ("batch", "terminations", str(w.file)),
        "mail": ("mail", "send"),
    }[kind]


class Probe:
    """Progress of each kind of work, read from the database (and the SMTP server)."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.engine = create_engine(w.url)

    def close(self) -> None:
        self.engine.dispose()

    def committed(self, kind: str) -> int:
        if kind == "batch":  # documents recorded, runs begun, runs finished
            return int(
                h.scalar(
                    self.engine,
                    "SELECT (SELECT count(*) FROM batch_documents) + "
                    "(SELECT count(*) FROM batch_runs) + "
                    "(SELECT count(*) FROM batch_runs WHERE finished_at IS NOT NULL)",
                )
            )
        if kind == "tick":
            return int(
                h.scalar(
                    self.engine,
                    "SELECT (SELECT count(*) FROM timers WHERE status = 'fired') + "
                    "(SELECT count(*) FROM mail_outbox WHERE status = 'sent')",
                )
            )
        return int(h.scalar(self.engine, "SELECT count(*) FROM mail_outbox WHERE status = 'sent'"))

    def arrivals(self) -> int:
        with self.w.server.handler.lock:
            return len(self.w.server.handler.arrivals)

    def work_left(self, kind: str) -> bool:
        """tick, mail: is anything still to fire or deliver?"""
        mail = int(h.scalar(self.engine, "SELECT count(*) FROM mail_outbox WHERE status <> 'sent'"))
        if kind == "mail":
            return mail > 0
        timers = int(h.scalar(self.engine, "SELECT count(*) FROM timers WHERE status = 'pending'"))
        return mail + timers > 0

    def sending(self) -> list[tuple[str, str]]:
        return [
            (r["message_id"], str(r["next_attempt_at"]))
            for r in h.rows(
                self.engine,
                "SELECT message_id, next_attempt_at FROM mail_outbox WHERE status = 'sending'",
            )
        ]


def _until(proc: subprocess.Popen[bytes], done: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll until ``done()`` or the process ends (bounded)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not done():
        time.sleep(0.003)


def _sleep(proc: subprocess.Popen[bytes], seconds: float) -> None:
    until = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < until:
        time.sleep(0.002)


def _wait_for_the_moment(
    proc: subprocess.Popen[bytes],
    probe: Probe,
    kind: str,
    mode: str,
    rnd: random.Random,
    before: int,
    arrived: int,
) -> str:
    """Wait (bounded) for the moment ``mode`` picks; say what it was."""
    started = time.monotonic()
    if mode == "start":  # interpreter start-up, bootstrap, the first claim
        _sleep(proc, rnd.uniform(0.05, 0.9))
        return f"{time.monotonic() - started:.2f}s after the start"
    if mode == "commit":  # at once or a moment after a commit
        _until(proc, lambda: probe.committed(kind) > before)
        _sleep(proc, rnd.choice((0.0, rnd.uniform(0.0, 0.3))))
        return f"after a commit ({probe.committed(kind) - before} done)"
    if mode == "later":  # somewhere in the middle of the work, once it began
        _until(proc, lambda: probe.committed(kind) > before)
        span = BATCH_SPAN[probe.engine.dialect.name] if kind == "batch" else 2.0
        _sleep(proc, rnd.uniform(0.0, span))
        return f"{time.monotonic() - started:.2f}s in ({probe.committed(kind) - before} done)"
    # right after the server stored the n-th message of this run
    n = rnd.randint(1, 120)
    _until(proc, lambda: probe.arrivals() - arrived >= n)
    return f"after {probe.arrivals() - arrived} messages arrived"


def _strike(w: World, probe: Probe, kind: str, step: int, rnd: random.Random, now: Any) -> bool:
    """Start one run of ``kind`` and SIGKILL it at a random moment; True if it was killed."""
    left = kind == "batch" or probe.work_left(kind)  # a batch rerun still records its run
    modes = ["start"]
    if left:
        modes += ["commit", "commit", "later", "later"]
        if kind != "batch":
            modes += ["smtp", "smtp"]
    mode = rnd.choice(modes)
    before, arrived = probe.committed(kind), probe.arrivals()
    proc = h.start_cli(w.env, w.folder, now, *_args(w, kind))
    try:
        how = _wait_for_the_moment(proc, probe, kind, mode, rnd, before, arrived)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        code, _out, err = h.finish(proc)
    finally:
        if proc.poll() is None:  # only when something above failed
            proc.kill()
            proc.wait(10)
    killed = code == -signal.SIGKILL
    assert killed or code in OK_CODES[kind], (kind, code, err[-2000:])
    h.wait_for_idle_pg(w.url)
    left_sending = probe.sending()
    if killed:
        w.interrupted.update(left_sending)
    elif kind != "batch":  # a finished delivery leaves nothing claimed (past every lease)
        assert not left_sending, (kind, "a run that finished left rows sending", left_sending[:3])
    w.log.append(
        f"{step:2d} {kind:5s} {'killed' if killed else f'exit {code}'} {how}; "
        f"{len(left_sending)} sending"
    )
    return killed


def test_kill_9_across_tick_batch_and_mail_then_rerun_is_exactly_once(world: World) -> None:
    w = world
    rnd = random.Random(SEED)
    schedule = [k for k in KINDS for _ in range(KILLS // len(KINDS))]
    rnd.shuffle(schedule)
    probe = Probe(w)
    now = h.AFTER_REMINDER
    kills: Counter[str] = Counter()
    try:
        for step in range(MAX_STEPS):
            if sum(kills.values()) >= KILLS:
                break
            kind = schedule[step] if step < len(schedule) else rnd.choice(KINDS)
            if _strike(w, probe, kind, step, rnd, now):
                kills[kind] += 1
            now += STEP
    finally:
        probe.close()
    print("\n".join(w.log))
    assert sum(kills.values()) >= KILLS, (kills, w.log)
    assert all(kills[k] >= 4 for k in KINDS), (kills, w.log)

    # Rerun each to completion (past every lease).
    h.wait_for_idle_pg(w.url)
    code, _, err = h.run_cli(w.env, w.folder, now, *_args(w, "batch"))
    assert code == 6, err[-2000:]  # the bad rows are rejected again
    code, _, err = h.run_cli(w.env, w.folder, now, "tick")
    assert code == 0, err[-2000:]
    code, _, err = h.run_cli(w.env, w.folder, now, "mail", "send")
    assert code == 0, err[-2000:]

    app = make_app(w.url, now=now.isoformat())
    try:
        _check(w, app)
    finally:
        app.close()


def _check(w: World, app: Any) -> None:
    e = app.engine
    t = w.expected
    # Documents: each recorded once, with the outcome it must have.
    docs = h.rows(e, "SELECT document_id, outcome, case_id, event FROM batch_documents")
    got = {d["document_id"]: d["outcome"] for d in docs}
    assert len(got) == len(docs) == len(t.expected), (len(docs), len(t.expected))
    differ = {d: (got.get(d), o) for d, o in t.expected.items() if got.get(d) != o}
    assert not differ, list(differ.items())[:10]
    runs = h.rows(e, "SELECT rows_read, finished_at FROM batch_runs ORDER BY id")
    assert runs[-1]["finished_at"] is not None and runs[-1]["rows_read"] == len(t.lines)
    # One close case per applied close, each named by one document; the rolled back cancelled.
    closes = [d for d in docs if d["outcome"] == "applied" and d["event"] != "rollback"]
    cases = h.rows(
        e,
        "SELECT c.id, c.state, c.point_id FROM cases c WHERE c.workflow = 'close_port'",
    )
    assert len(closes) == len(cases) == t.closes, (len(closes), len(cases), t.closes)
    assert {d["case_id"] for d in closes} == {c["id"] for c in cases}
    assert sum(c["state"] == "cancelled" for c in cases) == t.rollbacks
    live = Counter(c["point_id"] for c in cases if c["state"] != "cancelled")
    assert max(live.values()) == 1, live.most_common(3)
    # One close command per close that took effect; none for a scheduled or cancelled one.
    hes = Counter(r["case_id"] for r in h.rows(e, "SELECT case_id FROM hes_commands"))
    for c in cases:
        assert hes[c["id"]] == (1 if c["state"] == "closing" else 0), (c, hes[c["id"]])

    # Timers: every reminder fired exactly once, no timer fired twice, one reminder mail each.
    h.assert_timers_exactly_once(e, w.reminders)
    firings = h.timer_firings(e)
    assert max(firings.values()) == 1, firings.most_common(3)
    reminders = h.scalar(e, "SELECT count(*) FROM mail_outbox WHERE template = 'consent_reminder'")
    assert reminders == len(w.reminders)
    states = Counter(
        r["state"] for r in h.rows(e, "SELECT state FROM cases WHERE workflow = 'nore_open'")
    )
    assert states == Counter({"awaiting_consent": WAITING}), states

    # Mail: every row sent; each Message-ID once, once more per interrupted claim at most.
    outbox = h.rows(e, "SELECT message_id, status FROM mail_outbox")
    assert Counter(m["status"] for m in outbox) == Counter({"sent": len(outbox)})
    arrived = h.arrivals_by_message_id(w.server.handler)
    assert set(arrived) == {m["message_id"] for m in outbox}
    claims = Counter(mid for mid, _ in w.interrupted)
    over = {mid: (n, claims[mid]) for mid, n in arrived.items() if n > 1 + claims[mid]}
    assert not over, list(over.items())[:10]
    duplicates = sum(n - 1 for n in arrived.values())
    print(
        f"{len(outbox)} mails, {duplicates} duplicates (at most {max(arrived.values())} copies "
        f"of one), {len(claims)} claims interrupted"
    )

    # Every chain, case state and port state agrees with its history.
    report = h.assert_chains_and_ports(app)
    assert report.cases == WAITING + t.closes


def test_a_kill_in_the_middle_of_an_smtp_batch_duplicates_at_most_one_mail(
    db_url: str, tmp_path: Path
) -> None:
    """Ten pending notices; the server stores the first four and holds its answer to the
    fourth DATA; ``mail send`` is SIGKILLed then. After the lease a rerun sends the rest: none
    lost, and at most one of them twice (the one whose answer was in flight)."""
    app = make_app(db_url, maildir=str(tmp_path / "maildir"))
    try:
        reg = h.import_registry(app, tmp_path / "registry", 5, 0, 0)
        h.awaiting_consent(app, reg, 1)  # two notices per case
    finally:
        app.close()
    server = h.smtp_server(h.StoppingHandler(stall_at=4)).start()
    try:
        env = h.cli_env(db_url, tmp_path, server.port)
        now = h.AFTER_REMINDER - timedelta(days=1)  # nothing due but the notices
        proc = h.start_cli(env, tmp_path, now, "mail", "send")
        try:
            h.wait_until(
                lambda: server.handler.stalled.is_set() or proc.poll() is not None,
                30,
                "the fourth DATA",
            )
            assert server.handler.stalled.is_set(), h.finish(proc)
            proc.send_signal(signal.SIGKILL)
            code, _, err = h.finish(proc)
            assert code == -signal.SIGKILL, err[-2000:]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            server.handler.unstall.set()
        h.wait_for_idle_pg(db_url)
        code, _, err = h.run_cli(env, tmp_path, now + STEP, "mail", "send")
        assert code == 0, err[-2000:]
        engine = create_engine(db_url)
        try:
            outbox = h.rows(engine, "SELECT message_id, status FROM mail_outbox")
        finally:
            engine.dispose()
        assert len(outbox) == 10 and {m["status"] for m in outbox} == {"sent"}, outbox
        arrived = h.arrivals_by_message_id(server.handler)
        assert set(arrived) == {m["message_id"] for m in outbox}  # none lost
        assert sum(arrived.values()) <= len(outbox) + 1, arrived
    finally:
        server.stop()

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
has each kill itself (SIGKILL) at a failpoint (``hanport.failpoints``: ``HANPORT_FAILPOINT``)
picked among the ones its remaining work reaches for certain: during start-up, right before or
after a commit, or right after the SMTP server accepted the n-th message of a run whose outcome
is not yet recorded (the row is then ``sending``: it goes out again after the lease, with the
same Message-ID). So every planned kill happens, however fast or slow the machine. The simulated
clock moves six minutes per run, past the five-minute lease. Then each kind is rerun to
completion and:

- every document is recorded once with its known outcome; one close case per applied close;
- every due timer fired exactly once (one event per timer id) and its row is ``fired``;
- every mail row is ``sent``; each Message-ID arrived once, or once more per claim of it that a
  kill interrupted (at most twice when interrupted once);
- ``audit verify`` is clean: every hash chain, case state and port state agrees with its history.
"""

from __future__ import annotations

import random
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hanport.failpoints import ENV
from hanport.service.batch import CHUNK
from hanport.service.commands import FireTimers
from hanport.service.mail import LEASE
from hanport.storage.engine import create_engine
from tests.faults import helpers as h
from tests.support import make_app

SEED = 20260309
WAITING, PER_CASE = 240, 3  # 720 due reminders
OPEN, SPARE = 350, 40  # about 800 rows in the terminations file
KILLS = 21
STEP = LEASE + timedelta(minutes=1)  # the clock moves past a lease between runs
TIMER_BATCH = FireTimers().batch  # due timers fired per transaction of a tick

KINDS = ("tick", "batch", "mail")


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
    """What is left of each kind of work, read from the database."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.engine = create_engine(w.url)

    def close(self) -> None:
        self.engine.dispose()

    def unsent(self) -> int:
        """Mail not yet sent: all of it due (the clock has moved past every lease)."""
        return int(h.scalar(self.engine, "SELECT count(*) FROM mail_outbox WHERE status <> 'sent'"))

    def due_timers(self) -> int:
        """Reminders not yet fired (the only timers due in this test)."""
        ids = ", ".join(str(i) for i in sorted(self.w.reminders))
        sql = f"SELECT count(*) FROM timers WHERE status = 'pending' AND id IN ({ids})"
        return int(h.scalar(self.engine, sql))

    def sending(self) -> list[tuple[str, str]]:
        return [
            (r["message_id"], str(r["next_attempt_at"]))
            for r in h.rows(
                self.engine,
                "SELECT message_id, next_attempt_at FROM mail_outbox WHERE status = 'sending'",
            )
        ]


def _mail_points(unsent: int, rnd: random.Random) -> list[str]:
    if not unsent:
        return []
    n = rnd.randint(1, min(unsent, 120))
    return [
        "mail.claimed",
        f"mail.before_record:{n}",
        f"mail.before_record:{n}",
        f"mail.message_recorded:{n}",
    ]


def _failpoints(w: World, probe: Probe, kind: str, rnd: random.Random) -> list[str]:
    """The failpoints a run of ``kind`` reaches for certain, given the work left."""
    points = ["started"]
    if kind == "batch":  # a rerun reads the whole file again: every chunk is committed anew
        chunks = -(-len(w.expected.lines) // CHUNK)
        points += ["batch.run_started", "batch.run_finished"]
        points += [f"batch.before_chunk_commit:{rnd.randint(1, chunks)}"] * 2
        points += [f"batch.chunk_committed:{rnd.randint(1, chunks)}"] * 2
        return points
    if kind == "tick" and (due := probe.due_timers()):  # its timers first, then its mail
        n = rnd.randint(1, -(-due // TIMER_BATCH))
        return [*points, f"tick.before_commit:{n}", f"tick.timers_committed:{n}"]
    return points + _mail_points(probe.unsent(), rnd)


def _strike(w: World, probe: Probe, kind: str, step: int, rnd: random.Random, now: Any) -> None:
    """One run of ``kind`` that kills itself at a failpoint it reaches for certain."""
    point = rnd.choice(_failpoints(w, probe, kind, rnd))
    env = {**w.env, ENV: point}
    code, _out, err = h.finish(h.start_cli(env, w.folder, now, *_args(w, kind)))
    assert code == -signal.SIGKILL, (kind, point, code, err[-2000:], w.log)
    h.wait_for_idle_pg(w.url)
    left_sending = probe.sending()
    w.interrupted.update(left_sending)
    w.log.append(f"{step:2d} {kind:5s} killed at {point}; {len(left_sending)} sending")


def test_kill_9_across_tick_batch_and_mail_then_rerun_is_exactly_once(world: World) -> None:
    w = world
    rnd = random.Random(SEED)
    schedule = [k for k in KINDS for _ in range(KILLS // len(KINDS))]
    rnd.shuffle(schedule)
    probe = Probe(w)
    now = h.AFTER_REMINDER
    kills: Counter[str] = Counter()
    try:
        for step, kind in enumerate(schedule):
            _strike(w, probe, kind, step, rnd, now)
            kills[kind] += 1
            now += STEP
    finally:
        probe.close()
    print("\n".join(w.log))
    assert sum(kills.values()) == KILLS and all(kills[k] >= 4 for k in KINDS), kills

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

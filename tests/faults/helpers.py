"""Shared pieces of the fault suite: a registry of many Nore points, cases awaiting consent with
their reminders due, a terminations file whose every document's outcome is known in advance,
the real CLI as a subprocess, an SMTP server that can stop in the middle of a batch, and the
invariant checks (exactly once, chains, ports).

Everything that reads goes around the service layer on purpose: the tests check what was stored.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from hanport.bootstrap import App
from hanport.identifiers import gsrn_with_check_digit
from hanport.queries import audit
from hanport.storage import tables
from hanport.storage.engine import create_engine
from tests.batch.helpers import BRS, HEADER, rows, scalar
from tests.mail.conftest import Handler, SmtpServer, hanport_cmd, hanport_env
from tests.support import (
    START,
    actor,
    advance,
    copy_reminders,
    import_customers,
    import_points,
    open_case,
)

CUSTOMERS_HEADER = "customer_id;name;email;phone;street;postal_code;city;language;energipilot"
POINTS_HEADER = (
    "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
)
# Past the 7-day reminder of cases opened at START (a Monday 09:00 Oslo).
AFTER_REMINDER = datetime.fromisoformat(START) + timedelta(days=7, hours=1)
DUE = ("2026-02-27T00:00:00+01:00", "2026-03-01T23:00:00Z", "2026-03-02T08:00:00+01:00")
LATER = ("2026-04-15T00:00:00+02:00", "2026-05-01T12:00:00+02:00")
RUN_TIMEOUT = 120.0


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.01
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- the registry ------------------------------------------------------------------------------


@dataclass
class Registry:
    """Points with cases awaiting consent (``waiting``), open ports the batch closes (``open``),
    and closed ports nobody touches (``spare``); gsrn -> customer id."""

    waiting: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)
    spare: list[str] = field(default_factory=list)
    customer_of: dict[str, str] = field(default_factory=dict)


def import_registry(app: App, folder: Path, waiting: int, open_: int, spare: int) -> Registry:
    """Customers and Nore points through the real CSV import (customer ``i`` is named
    ``Kunde i`` and lives at ``Bjørkeveien i, 3630``, the address of its point)."""
    reg = Registry()
    cust, pts = [CUSTOMERS_HEADER], [POINTS_HEADER]
    kinds = [("waiting", "closed")] * waiting + [("open", "open")] * open_
    kinds += [("spare", "closed")] * spare
    for i, (kind, port) in enumerate(kinds):
        cid, gsrn = str(600000 + i), gsrn_with_check_digit(f"70705753{i:09d}")
        cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};3630;Rødberg;nb;no")
        pts.append(f"{gsrn};{cid};74{i:014d};3338;Bjørkeveien {i};3630;Rødberg;{port}")
        getattr(reg, kind).append(gsrn)
        reg.customer_of[gsrn] = cid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text("\n".join(cust) + "\n", encoding="utf-8")
    (folder / "points.csv").write_text("\n".join(pts) + "\n", encoding="utf-8")
    who = actor(app)
    rc = import_customers(app, who, folder / "customers.csv")
    rp = import_points(app, who, folder / "points.csv")
    assert not rc.rejected and not rp.rejected, (rc.rejected[:3], rp.rejected[:3])
    return reg


def consent_for(i: int) -> dict[str, str]:
    """A valid consent of customer ``600000 + i`` for its own point."""
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber",
        "address": f"Bjørkeveien {i}",
        "postal_code": "3630",
        "security": "inside_dwelling",
        "channel": "form",
        "declaration_version": "v1",
        "received_at": "2026-03-02T08:30:00+01:00",
    }


def awaiting_consent(app: App, reg: Registry, per_case: int) -> frozenset[int]:
    """A nore_open case awaiting consent on every ``waiting`` point (through the service layer)
    and ``per_case - 1`` extra reminder timers per case, a minute apart; the reminder ids."""
    who = actor(app)
    for gsrn in reg.waiting:
        r = open_case(app, who, "nore_open", customer=reg.customer_of[gsrn], metering_point=gsrn)
        r = advance(app, who, r.case, "request_consent")
        assert r.state == "awaiting_consent", r
    with app.engine.begin() as conn:
        before, ids = copy_reminders(conn, per_case)
    assert before == len(reg.waiting)
    assert len(ids) == len(reg.waiting) * per_case
    return ids


# --- a terminations file whose outcomes are known ------------------------------------------------


@dataclass
class Terminations:
    lines: list[str]
    expected: dict[str, str]  # document_id -> outcome
    closes: int  # documents that open a close case
    rollbacks: int  # rollbacks that cancel one


def terminations(reg: Registry, rnd: Any) -> Terminations:
    """One close by the holder per open point (now or later), then mixed in: rollbacks of later
    closes (applied) and of closes that took effect (noop), second closes of closing points,
    exact repeats, rows for closed ports (noop), bad rows (rejected)."""
    lines: list[str] = []
    expected: dict[str, str] = {}
    now_docs: list[tuple[str, str]] = []
    later_docs: list[tuple[str, str]] = []
    seq = 0

    def doc() -> str:
        nonlocal seq
        seq += 1
        return f"flt-{seq:05d}-{rnd.randrange(16**6):06x}"

    def line(d: str, g: str, event: str, at: str, customer: str, of: str = "") -> str:
        return ";".join([d, g, event, BRS[event], at, customer, of])

    closes = list(reg.open)
    rnd.shuffle(closes)

    def rollback_later() -> None:
        target, g = later_docs.pop(rnd.randrange(len(later_docs)))
        d = doc()
        lines.append(line(d, g, "rollback", "", "", target))
        expected[d] = "applied"

    def rollback_too_late() -> None:
        target, g = rnd.choice(now_docs)
        d = doc()
        lines.append(line(d, g, "rollback", "", "", target))
        expected[d] = "noop"

    def second_close() -> None:
        _, g = rnd.choice(now_docs)
        d = doc()
        lines.append(line(d, g, "end_of_supply", rnd.choice(DUE), reg.customer_of[g]))
        expected[d] = "noop"

    def repeat() -> None:
        lines.append(rnd.choice(lines))

    def closed_port() -> None:
        g = rnd.choice(reg.spare)
        d = doc()
        lines.append(line(d, g, "move_out", rnd.choice(DUE), reg.customer_of[g]))
        expected[d] = "noop"

    def bad() -> None:
        g = rnd.choice(reg.open)
        d = doc()
        kind = rnd.randrange(3)
        if kind == 0:
            lines.append(";".join([d, g, "moved_away", "BRS-NO-201", DUE[0], "1", ""]))
        elif kind == 1:
            lines.append(line(d, g, "move_out", "2026-03-05T00:00:00", reg.customer_of[g]))
        else:
            lines.append(line(d, g, "rollback", "", "", f"never-seen-{d}"))
        expected[d] = "rejected"

    for g in closes:
        d = doc()
        event = rnd.choice(("move_out", "end_of_supply"))
        later = rnd.random() < 0.3
        lines.append(line(d, g, event, rnd.choice(LATER if later else DUE), reg.customer_of[g]))
        expected[d] = "applied"
        (later_docs if later else now_docs).append((d, g))
        # Mix the others in as the file goes (each refers only to rows before it).
        while rnd.random() < 0.55:
            choices: list[Callable[[], None]] = [repeat, closed_port, bad]
            if len(later_docs) > 5:
                choices += [rollback_later] * 2
            if now_docs:
                choices += [rollback_too_late, second_close]
            rnd.choice(choices)()
    applied_rollbacks = sum(
        1 for d, o in expected.items() if o == "applied" and ";rollback;" in _line_of(lines, d)
    )
    return Terminations(lines, expected, len(closes), applied_rollbacks)


def _line_of(lines: list[str], doc_id: str) -> str:
    return next(line for line in lines if line.startswith(doc_id + ";"))


def write_terminations(path: Path, t: Terminations) -> Path:
    path.write_text("\n".join([HEADER, *t.lines]) + "\n", encoding="utf-8")
    return path


# --- the real command line ----------------------------------------------------------------------


def cli_env(
    db_url: str, folder: Path, smtp_port: int | None = None, **extra: str
) -> dict[str, str]:
    env = hanport_env(db_url, folder, **{"HANPORT_SMTP_TIMEOUT": "20", **extra})
    if smtp_port is not None:
        env.update(
            HANPORT_SMTP_HOST="127.0.0.1",
            HANPORT_SMTP_PORT=str(smtp_port),
            HANPORT_SMTP_STARTTLS="false",
        )
    return env


def start_cli(
    env: dict[str, str], folder: Path, now: datetime, *args: str, out: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python -m hanport --json --now NOW ARGS…`` in ``folder``; stdout to ``out`` if given."""
    cmd = hanport_cmd("--as", "cw", "--json", "--now", now.isoformat(), *args)
    stdout = out.open("wb") if out is not None else subprocess.PIPE
    try:
        return subprocess.Popen(cmd, env=env, cwd=folder, stdout=stdout, stderr=subprocess.PIPE)
    finally:
        if out is not None:
            stdout.close()  # type: ignore[union-attr]


def finish(proc: subprocess.Popen[bytes], timeout: float = RUN_TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(f"hanport did not finish in {timeout}s: {err[-2000:]!r}") from None
    dec = lambda b: (b or b"").decode("utf-8", "replace")  # noqa: E731
    return proc.returncode, dec(out), dec(err)


def run_cli(
    env: dict[str, str], folder: Path, now: datetime, *args: str, timeout: float = RUN_TIMEOUT
) -> tuple[int, str, str]:
    return finish(start_cli(env, folder, now, *args), timeout)


# --- reading -----------------------------------------------------------------------------------


def wait_for_idle_pg(url: str, timeout: float = 20.0) -> None:
    """PostgreSQL: wait until no other backend of this database is busy or inside a transaction
    (a killed client's backend has noticed and rolled back: its row locks are free). Idle
    connections, such as a test's own pool, hold nothing."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    eng = create_engine(url, pool=False)
    try:
        sql = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND coalesce(state, '') <> 'idle'"
        )
        wait_until(lambda: scalar(eng, sql) == 0, timeout, "the killed clients' backends to go")
    finally:
        eng.dispose()


# --- invariants --------------------------------------------------------------------------------


def timer_firings(engine: Engine) -> Counter[int]:
    """How many events each timer id produced."""
    E = tables.EVENTS
    with engine.connect() as conn:
        datas = conn.execute(
            select(E.c.data).where(E.c.actor_kind == "scheduler", E.c.data.like('%"timer"%'))
        ).scalars()
        return Counter(json.loads(d)["timer"]["id"] for d in datas if "timer" in json.loads(d))


def assert_timers_exactly_once(engine: Engine, timer_ids: frozenset[int]) -> None:
    per_timer = timer_firings(engine)
    twice = sorted(t for t, n in per_timer.items() if n > 1)
    missed = sorted(timer_ids - set(per_timer))
    assert not twice, f"{len(twice)} timers fired more than once, e.g. {twice[:10]}"
    assert not missed, f"{len(missed)} due timers never fired, e.g. {missed[:10]}"
    status = Counter(
        r["status"] for r in rows(engine, "SELECT id, status FROM timers") if r["id"] in timer_ids
    )
    assert status == Counter({"fired": len(timer_ids)}), status


def assert_chains_and_ports(app: App) -> audit.VerifyReport:
    """``audit verify``: every hash chain intact, every case's state and every point's port
    agreeing with its history."""
    report = audit.verify(app)
    assert report.ok, [p.as_dict() for p in report.problems[:10]]
    return report


# --- SMTP --------------------------------------------------------------------------------------


@dataclass
class StoppingHandler(Handler):
    """Stores what arrives like ``Handler``; with ``stall_at`` = n, the n-th DATA is stored and
    then not answered (the client waits for its 250) until ``unstall`` is set or the server is
    stopped, which cancels it — a server that dies in the middle of a batch, or a client killed
    between DATA and its record of the answer. Bounded: 30 s at most."""

    stall_at: int | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    unstall: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            stall = self.stall_at is not None and len(self.arrivals) == self.stall_at
        if stall:
            self.stalled.set()
            deadline = time.monotonic() + 30
            while not self.unstall.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        return reply


def smtp_server(handler: Handler | None = None, port: int | None = None) -> SmtpServer:
    server = SmtpServer(port)
    if handler is not None:
        server.handler = handler
    return server


def arrivals_by_message_id(handler: Handler) -> Counter[str]:
    with handler.lock:
        return Counter(handler.message_ids())

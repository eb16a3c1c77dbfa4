"""Cases per second on the hot path, hanport's full nore_open path against a bare event-sourced
case aggregate from the ``eventsourcing`` library (9.5.6), on SQLite files, in the same run.

    python -m bench.hotpath [--cases N] [--runs R] [--backend sqlite|postgresql|both]

hanport: for each case three commands, each its own transaction, exactly as ``bench.commands``:
open a ``nore_open`` case, ``record_consent`` (consent row, mail intent, HES command, timers),
``confirm_open``. The engine is hanport's own (WAL, ``synchronous=FULL``).

eventsourcing: one ``Aggregate`` per case and four commands, each a request of its own that loads
the aggregate from its events (no aggregate cache, no snapshots), triggers one event and saves it
(``app.save``, one transaction): request opened (metering point, customer), consent recorded,
open command sent, port confirmed open. Nothing else: no mail, no timers, no audit, no registry
look-ups. Persistence is the library's own SQLite module on a file (``PERSISTENCE_MODULE=
eventsourcing.sqlite``, ``SQLITE_DBNAME=<file>``). That module switches the file to WAL itself,
but leaves ``synchronous`` at the SQLite library's compiled-in default (FULL in the usual builds,
NORMAL in some, where a WAL commit is not fsynced): so every connection its pool opens gets
``PRAGMA synchronous=FULL`` here (it cannot be set inside the transaction the library begins),
and the run checks both settings, so that each committed command costs one fsync on both sides.
Both files live in the same temporary folder. Lock timeout: 5 s on both sides (the library's
default, hanport's busy timeout).

The ratio is hanport cases/s over eventsourcing cases/s, per run and of the medians. With
``--backend postgresql`` (or ``both``) hanport's full path on PostgreSQL is reported as
commands/s (3 per case); the eventsourcing comparison is SQLite only. Each run uses fresh
databases; the first few cases of each are a warm-up and not counted.

Needs the ``bench`` extra: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

from bench.common import app_for, database, machine, median, nore_registry
from hanport.bootstrap import App
from hanport.service import run
from hanport.service.commands import Advance, OpenCase
from hanport.service.roles import resolve

try:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.sqlite import SQLiteConnection, SQLiteFactory
    from eventsourcing.utils import Environment
except ImportError:
    raise SystemExit(
        "bench.hotpath compares hanport with the eventsourcing library, which is not "
        "installed: pip install -e '.[bench]'"
    ) from None

ES_VERSION = version("eventsourcing")  # the bench extra pins 9.5.6
WARMUP = 10  # cases per run before the clock starts
SQLITE_FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


# --- hanport: the only code here that calls hanport's service API ---------------------------


def hanport_consent(i: int) -> dict[str, str]:
    """The consent for the ``i``-th case of ``bench.common.nore_registry`` (its address matches)."""
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber",
        "address": f"Bjørkeveien {i}",
        "postal_code": "3630",
        "security": "locked_cabinet",
        "channel": "form",
        "declaration_version": "v2",
        "received_at": "2026-03-02T08:00:00+01:00",
    }


def hanport_case_path(app: App, pairs: Sequence[tuple[str, str]], first: int = 0) -> None:
    """The full nore_open path for each (customer, gsrn) pair: three commands, each its own
    transaction. ``first`` is the registry index of ``pairs[0]``."""
    actor = resolve(app, "bench")
    for i, (cid, gsrn) in enumerate(pairs, start=first):
        r = run(app, actor, OpenCase("nore_open", customer=cid, metering_point=gsrn))
        run(app, actor, Advance(r.case, "record_consent", hanport_consent(i)))
        r = run(app, actor, Advance(r.case, "confirm_open"))
        assert r.state == "confirmed", r.state


# --- eventsourcing ---------------------------------------------------------------------------


class PortCase(Aggregate):
    """One HAN-port opening case, with the same state checks as the workflow's happy path."""

    @event("RequestOpened")
    def __init__(self, metering_point: str, customer: str) -> None:
        self.metering_point = metering_point
        self.customer = customer
        self.state = "awaiting_consent"
        self.consent: dict[str, str] = {}
        self.command_id = ""

    def _expect(self, state: str) -> None:
        if self.state != state:
            raise ValueError(f"case is {self.state}, not {state}")

    def record_consent(self, fields: dict[str, str]) -> None:
        self._expect("awaiting_consent")
        self._consent_recorded(fields)

    @event("ConsentRecorded")
    def _consent_recorded(self, fields: dict[str, str]) -> None:
        self.consent = dict(fields)
        self.state = "consented"

    def send_open_command(self, command_id: str) -> None:
        self._expect("consented")
        self._open_command_sent(command_id)

    @event("OpenCommandSent")
    def _open_command_sent(self, command_id: str) -> None:
        self.command_id = command_id
        self.state = "opening"

    def confirm_open(self) -> None:
        self._expect("opening")
        self._port_confirmed_open()

    @event("PortConfirmedOpen")
    def _port_confirmed_open(self) -> None:
        self.state = "confirmed"


class PortCases(Application):
    """The four commands, each loading the case from its events and saving one event."""

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        factory = super().construct_factory(env)
        assert isinstance(factory, SQLiteFactory), type(factory)
        pool = factory.datastore.pool
        connect = pool._create_connection

        def full_sync() -> SQLiteConnection:
            conn = connect()
            cur = conn.cursor()
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA synchronous")
            assert cur.fetchone()[0] == SQLITE_FULL
            return conn

        pool._create_connection = full_sync  # type: ignore[method-assign]
        return factory

    def pragmas(self) -> tuple[str, int]:
        """(journal_mode, synchronous) as a connection of this application's pool sees them."""
        assert isinstance(self.factory, SQLiteFactory)
        with self.factory.datastore.transaction(commit=False) as c:
            c.execute("PRAGMA journal_mode")
            mode = c.fetchone()[0]
            c.execute("PRAGMA synchronous")
            return mode, c.fetchone()[0]

    def open_request(self, metering_point: str, customer: str) -> UUID:
        case = PortCase(metering_point, customer)
        self.save(case)
        return case.id

    def record_consent(self, case_id: UUID, fields: dict[str, str]) -> None:
        case: PortCase = self.repository.get(case_id)
        case.record_consent(fields)
        self.save(case)

    def send_open_command(self, case_id: UUID, command_id: str) -> None:
        case: PortCase = self.repository.get(case_id)
        case.send_open_command(command_id)
        self.save(case)

    def confirm_open(self, case_id: UUID) -> str:
        case: PortCase = self.repository.get(case_id)
        case.confirm_open()
        self.save(case)
        return case.state


def es_consent(i: int) -> dict[str, str]:
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber",
        "address": f"Bjørkeveien {i}",
        "postal_code": "3630",
        "channel": "form",
        "received_at": "2026-03-02T08:00:00+01:00",
    }


def es_case_path(app: PortCases, pairs: Sequence[tuple[str, str]], first: int = 0) -> None:
    for i, (cid, gsrn) in enumerate(pairs, start=first):
        case_id = app.open_request(gsrn, cid)
        app.record_consent(case_id, es_consent(i))
        app.send_open_command(case_id, f"HES-{i:09d}")
        state = app.confirm_open(case_id)
        assert state == "confirmed", state


def es_pairs(n: int) -> list[tuple[str, str]]:
    """(customer, gsrn)-like pairs of the same shape as the registry's."""
    return [(str(500000 + i), f"70705750{i:09d}0") for i in range(n)]


# --- runs -------------------------------------------------------------------------------------


def hanport_run(backend: str, n: int) -> float:
    """Seconds for ``n`` cases after the warm-up, on a fresh database."""
    with database(backend) as url, tempfile.TemporaryDirectory() as d:
        app = app_for(url)
        try:
            pairs = nore_registry(app, Path(d), WARMUP + n)
            hanport_case_path(app, pairs[:WARMUP])
            t0 = time.perf_counter()
            hanport_case_path(app, pairs[WARMUP:], first=WARMUP)
            return time.perf_counter() - t0
        finally:
            app.close()


def es_run(n: int) -> float:
    """Seconds for ``n`` cases after the warm-up, on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as d:
        app = PortCases(
            env={
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(Path(d) / "es.db"),
            }
        )
        try:
            pairs = es_pairs(WARMUP + n)
            es_case_path(app, pairs[:WARMUP])
            t0 = time.perf_counter()
            es_case_path(app, pairs[WARMUP:], first=WARMUP)
            elapsed = time.perf_counter() - t0
            mode, sync = app.pragmas()
            if mode.lower() != "wal" or sync != SQLITE_FULL:
                raise SystemExit(f"eventsourcing ran with journal_mode={mode}, synchronous={sync}")
            return elapsed
        finally:
            app.close()


def runs_text(xs: list[float], fmt: str = ".0f") -> str:
    return ", ".join(f"{x:{fmt}}" for x in xs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    a = p.parse_args()
    n = a.cases
    print(f"machine: {machine()}; sqlite {sqlite3.sqlite_version}")
    if a.backend in ("sqlite", "both"):
        hp: list[float] = []
        es: list[float] = []
        for _ in range(a.runs):
            hp.append(n / hanport_run("sqlite", n))
            es.append(n / es_run(n))
        ratios = [h / e for h, e in zip(hp, es, strict=True)]
        print(
            f"cases/s, hanport full nore_open path, sqlite   : median {median(hp):7.0f}  "
            f"(runs: {runs_text(hp)}; {n} cases x 3 commands, WAL, synchronous=FULL)"
        )
        print(
            f"cases/s, eventsourcing {ES_VERSION} case aggregate   : median {median(es):7.0f}  "
            f"(runs: {runs_text(es)}; {n} cases x 4 saves, WAL, synchronous=FULL)"
        )
        print(
            f"ratio hanport / eventsourcing, cases/s        : {median(hp) / median(es):.3f} of the "
            f"medians  (runs: {runs_text(ratios, '.3f')})"
        )
    if a.backend in ("postgresql", "both"):
        pg = [3 * n / hanport_run("postgresql", n) for _ in range(a.runs)]
        print(
            f"commands/s, hanport full nore_open path, pg   : median {median(pg):7.0f}  "
            f"(runs: {runs_text(pg)}; {n} cases x 3 commands)"
        )


if __name__ == "__main__":
    main()

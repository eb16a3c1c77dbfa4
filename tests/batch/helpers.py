"""Helpers for the batch tests: writing terminations files, opening ports through the service
layer, reading what the batch wrote straight from the tables, and running the real CLI.

Everything that reads goes around the service layer on purpose: the tests check what was stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.storage import tables
from hanport.storage.hashing import GENESIS, canonical_event, chain_hash
from tests.support import NORE_POINT, PINNED, actor, advance, consent, open_case, run_terminations

ROOT = Path(__file__).resolve().parents[2]
HEADER = "document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of"
BRS = {
    "move_out": "BRS-NO-201",
    "end_of_supply": "BRS-NO-202",
    "move_in": "BRS-NO-211",
    "rollback": "BRS-NO-221",
}
# Instants relative to the simulated clock's start (2026-03-02T09:00+01:00).
PAST = "2026-03-01T00:00:00+01:00"  # due: the close goes out at once
FUTURE = "2026-03-10T00:00:00+01:00"  # scheduled
FUTURE_UTC = "2026-03-09T23:00:00+00:00"
CLI_ROLES = "cw=caseworker,sup=supervisor,aud=auditor"


def row(
    doc: str,
    point: str,
    event: str,
    effective_at: str = PAST,
    customer: str = "",
    rollback_of: str = "",
    brs: str | None = None,
) -> str:
    """One CSV line of the terminations file."""
    return ";".join(
        [doc, point, event, brs or BRS.get(event, ""), effective_at, customer, rollback_of]
    )


def rollback(doc: str, point: str, of: str, effective_at: str = "") -> str:
    return row(doc, point, "rollback", effective_at, "", of)


def write_file(path: Path, lines: Iterable[str], *, header: str = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def run_file(app: App, path: Path, **kw: Any) -> Any:
    """Run the batch as caseworker ``cw``, every row's outcome in the report."""
    kw.setdefault("details", True)
    return run_terminations(app, actor(app), path, **kw)


def outcomes(report: Any) -> list[tuple[int, str, str]]:
    """(row, document_id, outcome) of every row, in the report's order."""
    return [(o["row"], o["document_id"], o["outcome"]) for o in report.outcomes]


def by_doc(report: Any) -> dict[str, dict[str, Any]]:
    """The first outcome reported for each document id."""
    out: dict[str, dict[str, Any]] = {}
    for o in report.outcomes:
        out.setdefault(o["document_id"], o)
    return out


# --- opening ports through the service layer ----------------------------------------------------


def open_port_1001(app: App) -> str:
    """Open NORE_POINT's port for customer 1001: nore_open with the consent, confirm_open."""
    a = actor(app)
    r = open_case(app, a, "nore_open", customer="1001", metering_point=NORE_POINT, fields=consent())
    assert r.state == "opening", r
    r = advance(app, a, r.case, "confirm_open")
    assert r.state == "confirmed", r
    assert point(app, NORE_POINT)["han_port"] == "open"
    return r.case


def opening_in_flight_1001(app: App) -> str:
    """A nore_open case of 1001 on NORE_POINT in ``opening`` (the open command enqueued)."""
    r = open_case(
        app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT, fields=consent()
    )
    assert r.state == "opening", r
    return r.case


# --- reading the tables -----------------------------------------------------------------------


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def point(app: App, gsrn: str) -> dict[str, Any]:
    found = rows(app.engine, "SELECT * FROM metering_points WHERE gsrn = :g", g=gsrn)
    assert len(found) == 1, gsrn
    return found[0]


def case(app: App, ref: str) -> dict[str, Any]:
    found = rows(app.engine, "SELECT * FROM cases WHERE ref = :r", r=ref)
    assert len(found) == 1, ref
    c = found[0]
    c["data"] = json.loads(c["data"])
    c["flags"] = json.loads(c["flags"])
    return c


def cases_for(app: App, gsrn: str, workflow: str | None = None) -> list[dict[str, Any]]:
    sql = (
        "SELECT c.* FROM cases c JOIN metering_points p ON p.id = c.point_id WHERE p.gsrn = :g"
        + (" AND c.workflow = :w" if workflow else "")
        + " ORDER BY c.id"
    )
    out = rows(app.engine, sql, g=gsrn, w=workflow)
    for c in out:
        c["data"] = json.loads(c["data"])
    return out


def events(app: App, ref: str) -> list[dict[str, Any]]:
    out = rows(
        app.engine,
        "SELECT e.* FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.ref = :r ORDER BY e.seq",
        r=ref,
    )
    for e in out:
        e["data"] = json.loads(e["data"])
    return out


def states(app: App, ref: str) -> list[str]:
    return [e["to_state"] for e in events(app, ref)]


def consents(app: App, gsrn: str) -> list[dict[str, Any]]:
    return rows(
        app.engine,
        "SELECT s.*, u.customer_id AS customer FROM consents s "
        "JOIN metering_points p ON p.id = s.point_id JOIN customers u ON u.id = s.customer_pk "
        "WHERE p.gsrn = :g ORDER BY s.id",
        g=gsrn,
    )


def live_consents(app: App, gsrn: str) -> list[dict[str, Any]]:
    return [c for c in consents(app, gsrn) if c["ended_at"] is None]


def mail(app: App, ref: str) -> list[dict[str, Any]]:
    return rows(
        app.engine,
        "SELECT m.* FROM mail_outbox m JOIN cases c ON c.id = m.case_id "
        "WHERE c.ref = :r ORDER BY m.id",
        r=ref,
    )


def hes(app: App, ref: str) -> list[dict[str, Any]]:
    return rows(
        app.engine,
        "SELECT h.* FROM hes_commands h JOIN cases c ON c.id = h.case_id "
        "WHERE c.ref = :r ORDER BY h.id",
        r=ref,
    )


def documents(engine: Engine) -> dict[str, dict[str, Any]]:
    return {d["document_id"]: d for d in rows(engine, "SELECT * FROM batch_documents")}


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def counts(engine: Engine) -> dict[str, int]:
    """Every table's row count."""
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar() or 0)
            for t in table_names(engine)
        }


def dump(engine: Engine, skip: Sequence[str] = ("meta",)) -> dict[str, list[str]]:
    """Every row of every table (but ``skip``), as sorted strings: equal dumps, equal data."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for t in table_names(engine):
            if t in skip:
                continue
            out[t] = sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{t}"')))
    return out


def verify_chains(engine: Engine, case_ids: Iterable[int] | None = None) -> int:
    """Recompute every event hash of the given cases (all by default) from the stored fields;
    returns the number of events checked."""
    cases_ = rows(engine, "SELECT id, ref, workflow, version, last_hash FROM cases")
    wanted = None if case_ids is None else set(case_ids)
    evs: dict[int, list[dict[str, Any]]] = {}
    E = tables.EVENTS  # through the table's types: instants come back as aware datetimes
    with engine.connect() as conn:
        for e in conn.execute(select(E).order_by(E.c.case_id, E.c.seq)).mappings():
            evs.setdefault(e["case_id"], []).append(dict(e))
    checked = 0
    for c in cases_:
        if wanted is not None and c["id"] not in wanted:
            continue
        prev = GENESIS
        chain = evs.get(c["id"], [])
        assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1)), c["ref"]
        for e in chain:
            assert e["prev_hash"] == prev, (c["ref"], e["seq"])
            canon = canonical_event(
                case_ref=c["ref"],
                seq=e["seq"],
                occurred_at=isoformat_utc(e["occurred_at"]),
                actor=e["actor"],
                actor_kind=e["actor_kind"],
                trigger=e["trigger"],
                from_state=e["from_state"],
                to_state=e["to_state"],
                workflow=c["workflow"],
                workflow_version=e["workflow_version"],
                data=json.loads(e["data"]),
            )
            assert chain_hash(prev, canon) == e["hash"], (c["ref"], e["seq"])
            prev = e["hash"]
            checked += 1
        assert c["last_hash"] == prev, c["ref"]
        assert c["version"] == len(chain), c["ref"]
    return checked


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def utc(value: datetime) -> str:
    return isoformat_utc(value)


# --- the real command line ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cli:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HANPORT_") or k in ("HANPORT_TEST_PG", "HANPORT_REQUIRE_POSTGRES")
    }
    env.update(
        HANPORT_DATABASE_URL=url,
        HANPORT_ROLES=CLI_ROLES,
        PYTHONPATH=str(ROOT),
        **PINNED,
        **extra,
    )
    return env


def cli_args(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "hanport", "--db", url, "--as", "cw", *args]


def cli(url: str, *args: str, cwd: Path | None = None, timeout: float = 120) -> Cli:
    """``python -m hanport --db URL --as cw ARGS…`` in a fresh interpreter."""
    p = subprocess.run(
        cli_args(url, *args),
        env=cli_env(url),
        cwd=str(cwd or ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Cli(p.returncode, p.stdout, p.stderr)

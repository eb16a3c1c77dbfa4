"""The consent register's "live at T" over a history of about a million events, on SQLite:
``consent list --at T --live`` as the query function (in this process) and as the whole CLI
(a process of its own, JSON on stdout), median of ``--runs`` runs each. The issue's bar: 2 s.

The history is real where it matters: some hundreds of Nore customers go through the service
layer (consent with the order, the port opened, some closed on request, some cancelled, some
refused at the address check, some reminded and expired, a few moved out by the nightly
file), then the bench multiplies those rows with SQL — customers, points, cases, events,
consents, the port timeline and the consent timeline, each copy with its own ids and its
instants a day later — until the history holds ``--events`` events. The copies' consent ids are renumbered inside the
events' data, so the register sees as many distinct consents as the copies hold (the copies'
hash chains are not recomputed: the register does not verify them).

The database is kept in ``.cache/bench/`` (rebuilt with ``--rebuild``).

    python -m bench.consent [--events 1000000] [--runs 3] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import app_for, machine, median, nore_registry
from hanport.service import run
from hanport.service.commands import Advance, FireTimers, OpenCase, RunTerminations
from hanport.service.roles import resolve
from hanport.service.timers import SCHEDULER

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "bench"
BASE_CUSTOMERS = 3000
DAY_US = 86_400 * 1_000_000
ROLES = "bench=caseworker,bench.leder=supervisor"


def _consent(i: int, now: datetime, *, address: str | None = None) -> dict[str, str]:
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber" if i % 9 else "power_of_attorney",
        "address": address or f"Bjørkeveien {i}",
        "postal_code": "3630",
        "security": ("inside_dwelling", "locked_room", "locked_cabinet")[i % 3],
        "channel": ("form", "phone")[i % 2],
        "declaration_version": "v1" if i % 4 else "v2",
        "received_at": now.isoformat(),
    }


def _one(app, cw, sup, i: int, cid: str, gsrn: str, meter: str) -> None:  # type: ignore[no-untyped-def]
    """One customer's story, chosen by ``i``: most open their port, some close it later."""
    now = app.clock.now()
    kind = i % 20
    if kind == 0:  # ordered, never signed: reminded, then expired by the timers
        r = run(app, cw, OpenCase("nore_open", cid, metering_point=gsrn, channel="phone"))
        run(app, cw, Advance(r.case, "request_consent", {}))
        return
    if kind == 1:  # the address written does not match: a supervisor refuses it
        fields = _consent(i, now, address="Feil vei 1")
        r = run(app, cw, OpenCase("nore_open", cid, metering_point=gsrn, fields=fields))
        run(app, sup, Advance(r.case, "reject", {"reason": "the address is not theirs"}))
        return
    r = run(app, cw, OpenCase("nore_open", cid, metering_point=gsrn, fields=_consent(i, now)))
    if kind == 2:  # cancelled before the port opened
        run(app, cw, Advance(r.case, "cancel", {"reason": "the customer changed their mind"}))
        return
    run(app, cw, Advance(r.case, "confirm_open", {}))
    if kind in (3, 4, 5, 6):  # closed again on request, by phone after a call-back
        c = run(app, cw, OpenCase("close_port", cid, meter_number=meter, channel="phone"))
        run(app, cw, Advance(c.case, "verify_identity", {"method": "callback_registered_phone"}))
        run(app, cw, Advance(c.case, "confirm_close", {}))


def _moves(app, folder: Path, pairs: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """The nightly file moves some customers with an open port out."""
    at = (app.clock.now() - timedelta(hours=1)).isoformat()
    rows = ["document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of"]
    for i, (cid, gsrn) in enumerate(pairs):
        if i % 20 in (7, 8):
            rows.append(f"doc-{i};{gsrn};move_out;BRS-NO-201;{at};{cid};")
    f = folder / "terminations.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    run(app, resolve(app, "bench.leder"), RunTerminations(f))


def base_history(url: str, folder: Path) -> None:
    """The real part of the history, through the service layer."""
    app = app_for(url)
    try:
        pairs = nore_registry(app, folder, BASE_CUSTOMERS)
        cw, sup = resolve(app, "bench"), resolve(app, "bench.leder")
        for i, (cid, gsrn) in enumerate(pairs):
            app.clock.set(app.clock.now() + timedelta(minutes=7))
            _one(app, cw, sup, i, cid, gsrn, f"73{i:014d}")
        app.clock.set(app.clock.now() + timedelta(days=1))
        _moves(app, folder, pairs)
        for days in (8, 16):  # reminders, expiries; the moves' closes go out
            app.clock.set(app.clock.now() + timedelta(days=days))
            run(app, SCHEDULER, FireTimers())
    finally:
        app.close()


# --- multiplying the rows ---------------------------------------------------------------------

# The tables copied, with their columns that hold another copied row's id.
COPIED: dict[str, dict[str, str]] = {
    "customers": {},
    "metering_points": {"customer_pk": "customers"},
    "cases": {"point_id": "metering_points", "customer_pk": "customers"},
    "consents": {"case_id": "cases", "customer_pk": "customers", "point_id": "metering_points"},
    "case_events": {"case_id": "cases"},
    "port_events": {"point_id": "metering_points", "consent_id": "consents", "case_id": "cases"},
    "consent_events": {"consent_id": "consents", "case_id": "cases"},
}
UNIQUE_TEXT = {"customers": "customer_id", "metering_points": "gsrn", "cases": "ref"}
# Kept as the copied events' data carries them (which the copies do not shift).
AS_RECORDED = {("consent_events", "received_at")}
INSTANTS = ("occurred_at", "at", "created_at", "updated_at", "recorded_at", "received_at",
            "opened_at", "ended_at", "port_since", "valid_from")  # fmt: skip


def _renumbered(data: str, offset: int) -> str:
    """An event's data with the consent ids it names moved by ``offset``."""
    if '"consent_' not in data:
        return data
    d = json.loads(data)
    eff = d.get("effects", {})
    if eff.get("consent_id") is not None:
        eff["consent_id"] += offset
    ended = eff.get("consent_ended")
    if ended and ended.get("ids"):
        ended["ids"] = [x + offset for x in ended["ids"]]
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _shift(value: object, days: int) -> object:
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-":
        return value
    try:
        return (datetime.fromisoformat(value) + timedelta(days=days)).strftime(
            "%Y-%m-%d %H:%M:%S.%f"
        )
    except ValueError:
        return value


def multiply(path: Path, events: int) -> int:
    """Copy the base rows until ``case_events`` holds about ``events`` rows; the count."""
    db = sqlite3.connect(path)
    try:
        base = {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in COPIED}
        cols = {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in COPIED}
        top = {t: db.execute(f"SELECT max(id) FROM {t}").fetchone()[0] or 0 for t in COPIED}
        copies = max(0, -(-events // max(1, len(base["case_events"]))) - 1)  # at least events
        for k in range(1, copies + 1):
            for t, refs in COPIED.items():
                db.executemany(
                    f"INSERT INTO {t} ({', '.join(cols[t])}) "
                    f"VALUES ({', '.join('?' * len(cols[t]))})",
                    [_copy(t, cols[t], row, refs, top, k) for row in base[t]],
                )
            db.commit()
        return int(db.execute("SELECT count(*) FROM case_events").fetchone()[0])
    finally:
        db.close()


def _copy(t: str, cols: list[str], row: tuple, refs: dict[str, str], top: dict[str, int], k: int) -> tuple:  # type: ignore[type-arg]  # fmt: skip
    out = []
    for c, v in zip(cols, row, strict=True):
        if c == "id":
            v = v + top[t] * k
        elif c in refs and v is not None:
            v = v + top[refs[c]] * k
        elif c == UNIQUE_TEXT.get(t):
            v = _unique(t, v, k)
        elif t == "case_events" and c == "data":
            v = _renumbered(v, top["consents"] * k)
        elif c in INSTANTS and (t, c) not in AS_RECORDED:
            v = _shift(v, k)
        out.append(v)
    return tuple(out)


def _unique(t: str, v: str, k: int) -> str:
    if t == "cases":  # HAN-2026-000123 -> HAN-2026-K0042-000123 (within 20 characters)
        return f"{v[:9]}K{k:04d}{v[8:]}"
    if t == "metering_points":  # a GSRN of its own (the register shows it, checks nothing)
        return f"{int(v) + k * 10_000_000:018d}"
    return f"{v}-{k}"


def build(events: int, rebuild: bool) -> Path:
    """The cached database with about ``events`` events (built when missing)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"consent-{events}.db"
    if path.exists() and not rebuild:
        return path
    part = path.with_suffix(".part")
    for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        base_history(f"sqlite:///{part}", Path(d))
    t1 = time.perf_counter()
    n = multiply(part, events)
    db = sqlite3.connect(part)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.close()
    os.replace(part, path)
    print(
        f"built {path.name}: {n:,} events (service layer {t1 - t0:.0f} s, "
        f"copies {time.perf_counter() - t1:.0f} s)",
        file=sys.stderr,
    )
    return path


# --- timing -----------------------------------------------------------------------------------


def _moment(path: Path) -> str:
    """T: the last event's instant (every consent of the history known, most copies ended or
    live)."""
    db = sqlite3.connect(path)
    try:
        return str(db.execute("SELECT max(occurred_at) FROM case_events").fetchone()[0])
    finally:
        db.close()


def time_query(url: str, at: datetime, runs: int) -> tuple[float, float, int]:
    """Median wall and CPU seconds of the query function, and the rows it returned."""
    from hanport.service.reads import consent_register

    app = app_for(url)
    try:
        sup = resolve(app, "bench.leder")
        times, cpu, rows = [], [], 0
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            rows = len(consent_register(app, sup, at=at, live=True))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    finally:
        app.close()
    return median(times), median(cpu), rows


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_cli(url: str, at: str, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of the whole CLI (its own process, JSON read from a pipe)."""
    env = {**os.environ, "HANPORT_DATABASE_URL": url, "HANPORT_ROLES": ROLES}
    cmd = [sys.executable, "-m", "hanport", "--as", "bench.leder", "consent", "list"]
    cmd += ["--at", at, "--live", "--format", "json"]
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _children_cpu()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        cpu.append(_children_cpu() - c0)
        if out.returncode != 0:
            raise SystemExit(f"consent list failed: {out.stderr.strip()}")
    return median(times), median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rebuild", action="store_true", help="Build the cached database again.")
    a = ap.parse_args()
    path = build(a.events, a.rebuild)
    url = f"sqlite:///{path}"
    at_text = _moment(path)
    at = datetime.fromisoformat(at_text)
    q, q_cpu, rows = time_query(url, at, a.runs)
    cli, cli_cpu = time_cli(url, at.isoformat(), a.runs)
    db = sqlite3.connect(path)
    events = db.execute("SELECT count(*) FROM case_events").fetchone()[0]
    consents = db.execute("SELECT count(*) FROM consents").fetchone()[0]
    db.close()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    print(
        f"consent list --at T --live over {events:,} events ({consents:,} consents, {rows:,} "
        f"live at T) on SQLite: query {q:.2f} s, whole CLI {cli:.2f} s "
        f"(median of {a.runs}; bar 2 s); CPU {q_cpu:.2f} s and {cli_cpu:.2f} s "
        "(what a busy machine cannot stretch)"
    )


if __name__ == "__main__":
    main()

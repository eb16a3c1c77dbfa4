"""The monthly SLA report (``hanport report sla``) over a history of about a million events on
SQLite: its wall time (target ≤ 5 s), CPU time (on a shared machine the steadier figure) and
peak memory, against a tenth of the history (flat memory: the histories are streamed, one case
folded at a time).

The history is realistic but not all made by commands: a few hundred cases run through the
service layer (Nore openings with and without the form, late consents, HES failures,
cancellations; meter swaps in Ringerike and Hole through the queue), then that seed is copied
with SQL until the events reach the size asked for, each copy shifted by whole weeks across a
year (times, consents' received_at), under new case ids. Copies keep the seed's hashes, so the
chains do not verify — the report does not read them. The database is cached in
``.cache/bench/`` and reused while the seed's recipe is unchanged.

    python -m bench.report [--events 1000000] [--runs 3] [--month 2026-10] [--fresh]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.common import app_for, machine, median, peak_rss_mb
from hanport import service
from hanport.bootstrap import App
from hanport.identifiers import gsrn_with_check_digit
from hanport.service.commands import Advance, ImportCustomers, ImportMeteringPoints, OpenCase
from hanport.service.roles import resolve
from hanport.storage import tables

RECIPE = 1  # bump when the seed changes: the cached databases are rebuilt
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench"
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
AS_OF = datetime(2027, 6, 1, tzinfo=UTC)
NORE, SWAPS = 400, 120  # the seed's cases
AREAS = (("3305", "Hønefoss", "3510"), ("3310", "Røyse", "3530"))  # Ringerike, Hole


def _registry(app: App, folder: Path) -> list[tuple[str, str, str]]:
    """Customers each with one point: Nore (closed port) and Ringerike/Hole (no port);
    returns (customer, gsrn, municipality)."""
    folder.mkdir(parents=True, exist_ok=True)
    cust = ["customer_id;name;email;phone;street;postal_code;city;language;energipilot"]
    pts = [
        "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
    ]
    out = []
    for i in range(NORE + SWAPS):
        cid, gsrn = str(600000 + i), gsrn_with_check_digit(f"70705750{i:09d}")
        muni, city, postal = ("3338", "Rødberg", "3630") if i < NORE else AREAS[i % 2]
        port = "closed" if i < NORE else "none"
        cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};{postal};{city};nb;no")
        pts.append(f"{gsrn};{cid};73{i:014d};{muni};Bjørkeveien {i};{postal};{city};{port}")
        out.append((cid, gsrn, muni))
    (folder / "c.csv").write_text("\n".join(cust) + "\n", encoding="utf-8")
    (folder / "p.csv").write_text("\n".join(pts) + "\n", encoding="utf-8")
    who = resolve(app, "bench")
    service.run(app, who, ImportCustomers(folder / "c.csv"))
    service.run(app, who, ImportMeteringPoints(folder / "p.csv"))
    return out


@dataclass(frozen=True)
class Step:
    at: datetime
    order: int  # ties: in the order the case needs them
    case: int
    trigger: str  # open | a trigger
    fields: dict[str, str]


def _consent(i: int, received: datetime, postal: str) -> dict[str, str]:
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "subscriber",
        "address": f"Bjørkeveien {i}",
        "postal_code": postal,
        "security": "inside_dwelling",
        "channel": "form",
        "declaration_version": "v1",
        "received_at": received.isoformat(),
    }


def _nore(rng: random.Random, i: int) -> list[Step]:
    ordered = START + timedelta(minutes=rng.randrange(8 * 7 * 24 * 60))
    steps, h = [], timedelta(hours=1)
    signed = rng.random() < 0.7
    recorded = ordered if signed else ordered + rng.uniform(2, 140) * h
    steps.append(Step(ordered, 0, i, "open", _consent(i, ordered, "3630") if signed else {}))
    if not signed:
        steps.append(Step(ordered, 1, i, "request_consent", {}))
        received = recorded - rng.uniform(0, 20) * h
        steps.append(Step(recorded, 2, i, "record_consent", _consent(i, received, "3630")))
    if rng.random() < 0.08:
        return [*steps, Step(recorded + rng.uniform(1, 30) * h, 3, i, "cancel", {"reason": "x"})]
    done = recorded + rng.expovariate(1 / 40) * h
    for k in range(rng.choice((0, 0, 0, 1, 2))):
        failed = recorded + (done - recorded) * (k + 1) / 4
        steps.append(Step(failed, 3 + k, i, "report_failure", {"error": "meter unreachable"}))
    return [*steps, Step(done, 6, i, "confirm_open", {})]


def _swap(rng: random.Random, i: int, postal: str) -> list[Step]:
    ordered = START + timedelta(minutes=rng.randrange(6 * 7 * 24 * 60))
    day = timedelta(days=1)
    installed = ordered + rng.uniform(14, 60) * day
    consent = installed + rng.uniform(0, 4) * day
    meter = f"57{i:014d}"
    return [
        Step(ordered, 0, i, "open", {}),
        Step(installed, 1, i, "record_installation", {"meter_number": meter, "installed_at": ""}),
        Step(consent, 2, i, "record_consent", {**_consent(i, consent, postal), "channel": "form"}),
        Step(consent + rng.expovariate(1 / 30) * timedelta(hours=1), 3, i, "confirm_open", {}),
    ]


def _run_seed(app: App, folder: Path) -> None:
    rng = random.Random(15)
    registry = _registry(app, folder)
    steps: list[Step] = []
    for i, (_, _, muni) in enumerate(registry):
        postal = "3630" if muni == "3338" else dict((m, p) for m, _, p in AREAS)[muni]
        steps += _nore(rng, i) if i < NORE else _swap(rng, i, postal)
    refs: dict[int, str] = {}
    who = resolve(app, "bench")
    for st in sorted(steps, key=lambda s: (s.at, s.case, s.order)):
        app.clock.set(st.at)  # type: ignore[attr-defined]
        if st.trigger == "open":
            cid, gsrn, muni = registry[st.case]
            wf = "nore_open" if muni == "3338" else "meter_swap"
            extra: dict[str, Any] = {"channel": "phone"} if wf == "meter_swap" else {}
            if st.fields:
                extra["fields"] = st.fields
            refs[st.case] = service.run(
                app, who, OpenCase(wf, customer=cid, metering_point=gsrn, **extra)
            ).case
            continue
        fields = dict(st.fields)
        if "installed_at" in fields:
            fields["installed_at"] = st.at.isoformat()
        service.run(app, who, Advance(refs[st.case], st.trigger, fields, None, None))


_COPY_CASES = """
INSERT INTO cases (id, ref, workflow, workflow_version, state, version, point_id, customer_pk,
                   holds_port, active, flags, data, last_hash, created_at, updated_at)
SELECT id + :off, 'HAN-B-' || printf('%010d', id + :off), workflow, workflow_version, state,
       version, point_id, customer_pk, 0, active, flags, data, last_hash,
       strftime('%Y-%m-%d %H:%M:%S', created_at, :shift) || '.000000',
       strftime('%Y-%m-%d %H:%M:%S', updated_at, :shift) || '.000000'
FROM cases WHERE id <= :seed
"""
_COPY_EVENTS = """
INSERT INTO case_events (case_id, seq, occurred_at, actor, actor_kind, trigger, from_state,
                         to_state, workflow_version, data, prev_hash, hash)
SELECT case_id + :off, seq, strftime('%Y-%m-%d %H:%M:%S', occurred_at, :shift) || '.000000',
       actor, actor_kind, trigger, from_state, to_state, workflow_version,
       CASE WHEN trigger = 'record_consent' THEN json_set(data, '$.fields.received_at',
            strftime('%Y-%m-%dT%H:%M:%S+00:00', json_extract(data, '$.fields.received_at'),
                     :shift))
            ELSE data END,
       prev_hash, hash
FROM case_events WHERE case_id <= :seed
"""


def _copy(app: App, events: int) -> int:
    """Copy the seed's cases and events until there are about ``events``; the event count."""
    with app.engine.connect() as conn:
        seed_cases = conn.execute(select(func.max(tables.CASES.c.id))).scalar_one()
        seed_events = conn.execute(select(func.count()).select_from(tables.EVENTS)).scalar_one()
    copies = max(0, round(events / seed_events) - 1)
    with app.engine.begin() as conn:
        for j in range(1, copies + 1):
            # Whole weeks (the same weekdays), spread over a year, and a few minutes apart.
            shift = f"+{(j % 52) * 7 * 24 * 60 + j % 90} minutes"
            params = {"off": j * seed_cases, "seed": seed_cases, "shift": shift}
            conn.execute(text(_COPY_CASES), params)
            conn.execute(text(_COPY_EVENTS), params)
    return int(seed_events * (copies + 1))


def database(events: int, fresh: bool) -> Path:
    """The cached SQLite file with about ``events`` events (built when missing)."""
    path = CACHE / f"report-r{RECIPE}-{events}.db"
    if path.exists() and not fresh:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(path.name + "*"):
        old.unlink()
    part = path.with_name(path.name + ".part")
    app = app_for(f"sqlite:///{part}")
    try:
        t0 = time.perf_counter()
        _run_seed(app, CACHE / "registry")
        seeded = time.perf_counter() - t0
        n = _copy(app, events)
        print(
            f"built {n} events: seed by commands {seeded:.0f} s, copies {time.perf_counter() - t0 - seeded:.0f} s"
        )
    finally:
        app.close()
    part.rename(path)
    return path


def _child(path: Path, month: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from hanport.queries.reports.build import build

    app = app_for(f"sqlite:///{path}")
    y, m = map(int, month.split("-"))
    start = date(y, m, 1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    t0, c0 = time.perf_counter(), time.process_time()
    report = build(app, start, end, as_of=AS_OF)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    total = next((r for r in report.sla if (r["area"], r["month"]) == ("all", "all")), None)
    app.close()
    notices = total["notices"] if total else 0
    out.put((report.events, report.cases, notices, elapsed, peak_rss_mb(), cpu))


def measure(path: Path, month: str) -> tuple[int, int, int, float, float, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(path, month, q))
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"the report's process failed (exit {p.exitcode})")
    r: tuple[int, int, int, float, float, float] = q.get(timeout=10)
    return r


def _events_in(path: Path) -> int:
    app = app_for(f"sqlite:///{path}")
    try:
        with app.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(tables.EVENTS)).scalar_one())
    finally:
        app.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--month", default="2026-10", help="The report's month (YYYY-MM).")
    ap.add_argument("--fresh", action="store_true", help="Rebuild the cached databases.")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    for n in (a.events // 10, a.events):
        path = database(n, a.fresh)
        runs = [measure(path, a.month) for _ in range(a.runs)]
        events, cases, notices = runs[0][:3]
        times = [r[3] for r in runs]
        print(
            f"report sla {a.month}, sqlite, history of {_events_in(path):>8} events: read "
            f"{events} events of {cases} cases ({notices} notices in the month): "
            f"median {median(times):5.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)}; CPU median "
            f"{median([r[5] for r in runs]):.2f} s), "
            f"peak RSS median {median([r[4] for r in runs]):4.0f} MB"
        )


if __name__ == "__main__":
    main()

"""``audit verify --all`` throughput on a history of about a million events, and its peak
memory against a tenth of that (flat memory: the events are streamed).

The history is written directly (valid chains, hashed exactly as commands hash them) — a
million commands through the service layer would take the better part of an hour.

    python -m bench.verify [--events 1000000] [--per-case 10] [--runs 3] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from bench.common import app_for, database, machine, median, peak_rss_mb
from hanport.calendar import isoformat_utc
from hanport.storage import tables
from hanport.storage.hashing import GENESIS, canonical_event, canonical_json, chain_hash

TRIGGERS = ["open", "record_consent", "report_failure", "report_failure", "retry", "confirm_open"]


def build(url: str, events: int, per_case: int) -> None:
    app = app_for(url)
    now = datetime(2026, 3, 2, 8, tzinfo=UTC)
    cases = events // per_case
    with app.engine.begin() as conn:
        conn.execute(
            insert(tables.CUSTOMERS),
            [
                {
                    "customer_id": "1",
                    "language": "nb",
                    "energipilot": False,
                    "version": 1,
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            insert(tables.POINTS),
            [
                {
                    "gsrn": "707057500000000018",
                    "customer_pk": 1,
                    "municipality": "3338",
                    "han_port": "closed",
                    "updated_at": now,
                }
            ],
        )
    batch_cases, batch_events = [], []
    for c in range(1, cases + 1):
        ref = f"HAN-2026-{c:06d}"
        head = GENESIS
        for seq in range(1, per_case + 1):
            at = now + timedelta(seconds=c * 60 + seq)
            data = {
                "fields": {"n": seq},
                "guards": {"address_matches": {"inputs": {"a": "h:x"}, "result": True}},
            }
            trig = TRIGGERS[min(seq - 1, len(TRIGGERS) - 1)]
            frm, to = (None if seq == 1 else "opening"), "opening"
            ev = canonical_event(
                case_ref=ref,
                seq=seq,
                occurred_at=isoformat_utc(at),
                actor="bench",
                actor_kind="caseworker",
                trigger=trig,
                from_state=frm,
                to_state=to,
                workflow="nore_open",
                workflow_version=1,
                data=data,
            )
            h = chain_hash(head, ev)
            batch_events.append(
                {
                    "case_id": c,
                    "seq": seq,
                    "occurred_at": at,
                    "actor": "bench",
                    "actor_kind": "caseworker",
                    "trigger": trig,
                    "from_state": frm,
                    "to_state": to,
                    "workflow_version": 1,
                    "data": canonical_json(data),
                    "prev_hash": head,
                    "hash": h,
                }
            )
            head = h
        batch_cases.append(
            {
                "id": c,
                "ref": ref,
                "workflow": "nore_open",
                "workflow_version": 1,
                "state": "opening",
                "version": per_case,
                "point_id": 1,
                "customer_pk": 1,
                "holds_port": False,
                "active": True,
                "flags": "[]",
                "data": "{}",
                "last_hash": head,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch_events) >= 50_000 or c == cases:
            with app.engine.begin() as conn:
                conn.execute(insert(tables.CASES), batch_cases)
                conn.execute(insert(tables.EVENTS), batch_events)
            batch_cases, batch_events = [], []
    with app.engine.begin() as conn:
        conn.execute(
            insert(tables.PORT_EVENTS),
            [{"point_id": 1, "at": now, "state": "closed", "cause": "bench"}],
        )
    app.close()


def _child(url: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from hanport.queries.audit import verify

    app = app_for(url)
    t0 = time.perf_counter()
    report = verify(app)
    elapsed = time.perf_counter() - t0
    app.close()
    out.put(
        (
            report.events,
            elapsed,
            report.ok,
            peak_rss_mb(),  # the verifying process's own, not the parent's (see there)
        )
    )


def measure(url: str) -> tuple[int, float, bool, float]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(url, q))
    p.start()
    r = q.get(timeout=3600)
    p.join()
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--per-case", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    for n in (a.events // 10, a.events):
        with database(a.backend) as url:
            t0 = time.perf_counter()
            build(url, n, a.per_case)
            built = time.perf_counter() - t0
            results = [measure(url) for _ in range(a.runs)]
        rates = [r[0] / r[1] for r in results]
        assert all(r[2] for r in results), "the generated history should verify"
        print(
            f"audit verify --all, {a.backend}, {results[0][0]:>8} events: median {median(rates):7.0f} events/s "
            f"(runs {', '.join(f'{x:.0f}' for x in rates)}), peak RSS median {median([r[3] for r in results]):5.0f} MB "
            f"(history built in {built:.0f} s)"
        )


if __name__ == "__main__":
    main()

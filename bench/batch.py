"""The nightly batch on a large file: wall time and peak memory for 10,000 and 100,000 rows
(about a third on open ports; move-outs, contract ends, move-ins, rollbacks, repeated documents
and bad rows), on SQLite and PostgreSQL. Each run is a fresh process on a fresh database, and the
peak RSS is that process's own (``VmHWM``; not ``ru_maxrss``, which on Linux carries the parent's
peak — the generated registry and file, growing with the rows — across ``execve``).

    python -m bench.batch [--rows 10000,100000] [--runs R] [--backend sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.common import app_for, database, machine, median, peak_rss_mb
from hanport.identifiers import gsrn_with_check_digit
from hanport.storage import tables

HEADER = "document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of"


def registry(url: str, points: int, open_share: float, seed: int) -> list[tuple[str, str, bool]]:
    """Bulk-load customers and points (a third open under legacy consents); (gsrn, customer,
    open) for each point."""
    rnd = random.Random(seed)
    app = app_for(url)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    with app.engine.begin() as conn:
        customers = [
            {
                "customer_id": str(700000 + i),
                "name": f"Kunde {i}",
                "email": f"k{i}@example.no",
                "language": "nb",
                "energipilot": False,
                "version": 1,
                "updated_at": now,
            }
            for i in range(points)
        ]
        conn.execute(insert(tables.CUSTOMERS), customers)
        pks = {r[0]: r[1] for r in conn.exec_driver_sql("SELECT customer_id, id FROM customers")}
        rows = []
        for i in range(points):
            is_open = rnd.random() < open_share
            gsrn = gsrn_with_check_digit(f"70705751{i:09d}")
            rows.append(
                {
                    "gsrn": gsrn,
                    "customer_pk": pks[str(700000 + i)],
                    "meter_number": f"73{i:014d}",
                    "municipality": "3338",
                    "street": f"Bjørkeveien {i}",
                    "postal_code": "3630",
                    "city": "Rødberg",
                    "han_port": "open" if is_open else "closed",
                    "port_since": now,
                    "updated_at": now,
                }
            )
            out.append((gsrn, str(700000 + i), is_open))
        conn.execute(insert(tables.POINTS), rows)
        ids = {r[0]: r[1] for r in conn.exec_driver_sql("SELECT gsrn, id FROM metering_points")}
        conn.execute(
            insert(tables.METERS),
            [
                {
                    "point_id": ids[r["gsrn"]],
                    "meter_number": r["meter_number"],
                    "valid_from": now,
                    "source": "bench",
                }
                for r in rows
            ],
        )
        consents = [
            {
                "customer_pk": r["customer_pk"],
                "point_id": ids[r["gsrn"]],
                "meter_number": r["meter_number"],
                "source": "legacy_import",
                "recorded_at": now,
                "recorded_by": "bench",
                "opened_at": now,
            }
            for r in rows
            if r["han_port"] == "open"
        ]
        conn.execute(insert(tables.CONSENTS), consents)
        conn.exec_driver_sql(
            "UPDATE metering_points SET consent_id = (SELECT max(c.id) FROM consents c "
            "WHERE c.point_id = metering_points.id) WHERE han_port = 'open'"
        )
    app.close()
    return out


def terminations(path: Path, n: int, points: list[tuple[str, str, bool]], seed: int) -> None:
    rnd = random.Random(seed)
    now = datetime(2026, 3, 2, 9, tzinfo=UTC)
    lines = [HEADER]
    docs: list[str] = []
    for i in range(n):
        kind = rnd.random()
        gsrn, customer, _ = rnd.choice(points)
        doc = f"doc-{seed}-{i}"
        when = (now + timedelta(days=rnd.choice([-1, 3, 10]))).isoformat()
        if kind < 0.02:
            lines.append(
                f"{doc};{gsrn[:-1]}0;move_out;BRS-NO-201;{when};{customer};"
            )  # bad check digit (mostly)
        elif kind < 0.03:
            lines.append(
                f"{doc};{gsrn};move_out;BRS-NO-201;2026-03-05T00:00:00;{customer};"
            )  # no offset
        elif kind < 0.06 and docs:
            lines.append(lines[1 + rnd.randrange(len(lines) - 1)])  # a repeated document
            continue
        elif kind < 0.10 and docs:
            lines.append(f"{doc};{gsrn};rollback;BRS-NO-221;;;{rnd.choice(docs)}")
        elif kind < 0.50:
            holder = customer if rnd.random() < 0.8 else str(700000 + rnd.randrange(len(points)))
            event = rnd.choice(["move_out", "end_of_supply"])
            lines.append(
                f"{doc};{gsrn};{event};BRS-NO-20{1 if event == 'move_out' else 2};{when};{holder};"
            )
        else:
            lines.append(f"{doc};{gsrn};move_in;BRS-NO-201;{when};{900000 + i};")
        docs.append(doc)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _child(url: str, path: str, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from hanport.service import run
    from hanport.service.commands import RunTerminations
    from hanport.service.termination_rows import BATCH_ACTOR

    app = app_for(url)
    t0 = time.perf_counter()
    report = run(app, BATCH_ACTOR, RunTerminations(Path(path)))
    elapsed = time.perf_counter() - t0
    app.close()
    peak_mb = peak_rss_mb()  # the batch process's own, not the bench parent's
    out.put((elapsed, peak_mb, report.summary()))


def one_run(backend: str, rows: int, seed: int) -> tuple[float, float, dict]:
    points_n = max(2000, rows * 2 // 5)
    with database(backend) as url, tempfile.TemporaryDirectory() as d:
        points = registry(url, points_n, 0.35, seed)
        path = Path(d) / "terminations.csv"
        terminations(path, rows, points, seed)
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(url, str(path), q))
        p.start()
        result = q.get(timeout=3600)
        p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", default="10000,100000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    a = ap.parse_args()
    print(f"machine: {machine()}")
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    for b in backends:
        for n in (int(x) for x in a.rows.split(",")):
            results = [one_run(b, n, seed) for seed in range(a.runs)]
            times = [r[0] for r in results]
            mem = [r[1] for r in results]
            s = results[0][2]
            print(
                f"batch {n:>7} rows, {b:<10}: median {median(times):6.1f} s "
                f"({n / median(times):5.0f} rows/s; runs {', '.join(f'{t:.1f}' for t in times)}), "
                f"peak RSS median {median(mem):5.0f} MB; first run: applied {s['applied']}, "
                f"noop {s['noop']}, rejected {s['rejected']}"
            )


if __name__ == "__main__":
    main()

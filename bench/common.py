"""Shared bench helpers: fresh databases, a generated registry, medians, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hanport.bootstrap import App, bootstrap
from hanport.config import load
from hanport.identifiers import gsrn_with_check_digit
from hanport.service import run
from hanport.service.commands import ImportCustomers, ImportMeteringPoints
from hanport.service.roles import resolve

PG_ADMIN = os.environ.get("HANPORT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss`` alone: Linux keeps ``ru_maxrss`` across
    ``execve`` and folds into it the high-water mark of the memory the process had before it
    (for a ``spawn`` child, the parent's, which the bench fills with the generated registry and
    file), so a child would report its parent's peak. ``VmHWM`` belongs to the process's own
    address space, which starts at ``execve``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux, bytes on macOS
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            yield f"sqlite:///{Path(d) / 'bench.db'}"
        return
    name = f"hanport_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        make_url(PG_ADMIN).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        from hanport.storage import migrate
        from hanport.storage.engine import create_engine as hp_engine

        eng = hp_engine(url)
        migrate.upgrade(eng)
        eng.dispose()
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def app_for(url: str, *, nore_open: int = 1) -> App:
    """The benches' application; new Nore cases on ``nore_open`` version (v1 by default: the
    path the engine-core figures were measured on)."""
    settings = load(
        {
            "HANPORT_DATABASE_URL": url,
            "HANPORT_ROLES": "bench=caseworker,bench.leder=supervisor",
            "HANPORT_WORKFLOW_VERSIONS": f"nore_open={nore_open}",
        },
        user="bench",
    )
    return bootstrap(settings, now="2026-03-02T09:00:00+01:00", simulated=True)


def nore_registry(app: App, folder: Path, n: int) -> list[tuple[str, str]]:
    """``n`` Nore customers with one closed-port point each; returns (customer, gsrn) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    cust = ["customer_id;name;email;phone;street;postal_code;city;language;energipilot"]
    pts = [
        "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
    ]
    pairs = []
    for i in range(n):
        cid = str(500000 + i)
        gsrn = gsrn_with_check_digit(f"70705750{i:09d}")
        meter = f"73{i:014d}"
        cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};3630;Rødberg;nb;no")
        pts.append(f"{gsrn};{cid};{meter};3338;Bjørkeveien {i};3630;Rødberg;closed")
        pairs.append((cid, gsrn))
    (folder / "c.csv").write_text("\n".join(cust) + "\n", encoding="utf-8")
    (folder / "p.csv").write_text("\n".join(pts) + "\n", encoding="utf-8")
    actor = resolve(app, "bench")
    run(app, actor, ImportCustomers(folder / "c.csv"))
    run(app, actor, ImportMeteringPoints(folder / "p.csv"))
    return pairs

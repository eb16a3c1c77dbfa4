"""The customer web intake under load: ``hanport serve`` as a process of its own on 127.0.0.1,
20 concurrent clients submitting valid Nore order forms, then the intake pass until every
intake has become a case, then the exactly-once check.

Per backend (PostgreSQL with 2 workers, SQLite with 1) and run:

1. a fresh database with a generated registry of ``N`` Nore customers and points, made by the
   real import commands (each submission is for a point of its own, so each must become
   exactly one ``nore_open`` v2 case);
2. ``hanport serve`` with its own intake pass off (``HANPORT_WEB_PROCESS_EVERY=0``: the form is
   measured alone), the per-address rate limit raised (every client is 127.0.0.1) and a fixed
   CSRF secret; CSRF and the rate limit stay on;
3. the GET phase: each client, with a cookie jar of its own, fetches its share of forms (the
   CSRF cookie and hidden token, and each form's own ``form_token``); timed separately;
4. the POST phase: each client posts its forms one after the other, all 20 at once; accepted
   submissions/s over this phase's wall time and the p50/p99 latency of one POST;
5. the drain: the intake pass (``ProcessIntakes`` in this process, as the scheduler runs it)
   until no intake is new, timed; then the check — every intake ``done``, as many distinct
   cases as accepted submissions, as many ``nore_open`` cases, each case from one intake.

Bounded: each phase aborts after ``--timeout`` seconds, each request after 30 s, the drain
after a fixed number of passes. Loopback only.

    python -m bench.web [--backend postgresql,sqlite] [--pg 2000] [--sqlite 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.common import app_for, database, machine, median, nore_registry
from hanport.bootstrap import App
from hanport.service import run
from hanport.service.commands import ProcessIntakes
from hanport.web.engine import PROCESSOR

CLIENTS = 20
CSRF_SECRET = "bench-web-csrf-secret-" + "w" * 24
TOKENS = re.compile(r'name="(_csrf_token|form_token)" value="([^"]+)"')
RECEIPT = "<h1>Vi har mottatt"  # the receipt's heading in bokmål (checked at start)
DRAIN_BATCH = 200


@dataclass
class Figures:
    posted: int = 0
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    get_s: float = 0.0
    post_s: float = 0.0
    get_latency: list[float] = field(default_factory=list)
    post_latency: list[float] = field(default_factory=list)
    server_cpu: float = 0.0  # s of CPU, the server's processes, over the POST phase
    client_cpu: float = 0.0  # the same for this process (the 20 clients)
    db_cpu: float = 0.0  # the same for PostgreSQL's processes serving the server's connections
    sessions: int = 0  # PostgreSQL connections the server opened during the POST phase
    drain_s: float = 0.0
    passes: int = 0
    check: str = ""

    @property
    def rate(self) -> float:
        return self.accepted / self.post_s if self.post_s else 0.0


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nore_form(i: int, gsrn: str) -> dict[str, str]:
    """A valid Nore order for generated customer ``i`` (its point by metering point ID)."""
    return {
        "signer_name": f"Kunde {i}",
        "signer_role": "customer",
        "address": f"Bjørkeveien {i}",
        "postal_code": "3630",
        "meter": gsrn,
        "email": f"k{i}@example.no",
        "security": "inside_dwelling",
        "accept": "yes",
    }


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()


def _cpu(pid: int, fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and its children (Linux /proc; 0 elsewhere)."""
    if not Path("/proc").is_dir():
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(int(entry.name))
        except OSError:
            continue  # gone meanwhile
        if int(entry.name) == root or int(fields[1]) == root:
            total += _cpu(int(entry.name), fields)
    return total


def backends_cpu(app: App) -> float:
    """CPU seconds of the PostgreSQL processes serving other sessions on the bench's database
    (the server is on this machine; 0 on SQLite or without /proc)."""
    if app.backend != "postgresql" or not Path("/proc").is_dir():
        return 0.0
    sql = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    with app.engine.connect() as c:
        pids = [int(p) for p in c.execute(text(sql)).scalars()]
    total = 0.0
    for pid in pids:
        try:
            total += _cpu(pid, _stat(pid))
        except OSError:
            continue
    return total


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- the server -------------------------------------------------------------------------------


def start_server(url: str, workers: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``hanport serve`` on a free loopback port, its output (the access log) into ``log``."""
    port = _free_port()
    env = {
        **os.environ,
        "HANPORT_DATABASE_URL": url,
        "HANPORT_WEB_PROCESS_EVERY": "0",
        "HANPORT_WEB_RATE_LIMIT": "1000000/minute",
        "HANPORT_WEB_CSRF_SECRET": CSRF_SECRET,
    }
    cmd = [sys.executable, "-m", "hanport", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--workers", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):  # bounded: 30 s
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"hanport serve exited with {proc.returncode}:\n{tail}")
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        stop_server(proc)
        raise SystemExit("hanport serve did not become ready in 30 s")
    time.sleep(1.0 if workers > 1 else 0.2)  # the other workers finish starting
    return proc, base


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# --- the clients ------------------------------------------------------------------------------


@dataclass
class Client:
    http: httpx.AsyncClient
    forms: list[tuple[int, str]]  # (registry index, gsrn)
    filled: list[dict[str, str]] = field(default_factory=list)


async def _fetch(c: Client, fig: Figures, deadline: float) -> None:
    for i, gsrn in c.forms:
        if time.perf_counter() > deadline:
            return
        t0 = time.perf_counter()
        r = await c.http.get("/nb/nore")
        fig.get_latency.append(time.perf_counter() - t0)
        r.raise_for_status()
        tokens = dict(TOKENS.findall(r.text))
        c.filled.append({**tokens, **nore_form(i, gsrn)})


async def _post(c: Client, fig: Figures, deadline: float) -> None:
    for data in c.filled:
        if time.perf_counter() > deadline:
            return
        t0 = time.perf_counter()
        r = await c.http.post("/nb/nore", data=data)
        fig.post_latency.append(time.perf_counter() - t0)
        fig.posted += 1
        if r.status_code == 200 and RECEIPT in r.text:
            fig.accepted += 1
        else:
            fig.refused[r.status_code] = fig.refused.get(r.status_code, 0) + 1


async def load(
    base: str, pairs: list[tuple[str, str]], fig: Figures, timeout: float, server: int, app: App
) -> None:
    """The GET phase, then the POST phase, all clients at once in each; ``server``: the pid
    whose process tree's CPU the POST phase is charged (and the database's, through ``app``;
    a backend started during the phase is charged whole)."""
    # Every request on a connection of its own: each submission is a customer of its own, and
    # kept-alive connections would stay on whichever worker accepted them first.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    clients = [
        Client(
            httpx.AsyncClient(base_url=base, timeout=30.0, limits=limits),
            [(i, gsrn) for i, (_, gsrn) in enumerate(pairs) if i % CLIENTS == k],
        )
        for k in range(CLIENTS)
    ]
    try:
        await _warm(clients[0].http)
        t0 = time.perf_counter()
        await asyncio.gather(*(_fetch(c, fig, t0 + timeout) for c in clients))
        fig.get_s = time.perf_counter() - t0
        cpu0, own0, db0 = tree_cpu(server), own_cpu(), backends_cpu(app)
        t0 = time.perf_counter()
        await asyncio.gather(*(_post(c, fig, t0 + timeout) for c in clients))
        fig.post_s = time.perf_counter() - t0
        fig.server_cpu, fig.client_cpu = tree_cpu(server) - cpu0, own_cpu() - own0
        fig.db_cpu = backends_cpu(app) - db0
    finally:
        for c in clients:
            await c.http.aclose()


async def _warm(http: httpx.AsyncClient) -> None:
    """A few pages first (each worker's first request imports the templates); nothing kept."""
    for _ in range(10):
        r = await http.get("/nb/nore")
        r.raise_for_status()
    r = await http.get("/nb/")
    assert r.status_code == 200


# --- the intake pass and the check ------------------------------------------------------------


def drain(app: App, expected: int, fig: Figures) -> None:
    """The intake pass until no intake is new (bounded: enough passes for all, and twice)."""
    t0 = time.perf_counter()
    for _ in range(2 * (expected // DRAIN_BATCH + 2)):
        fig.passes += 1
        if run(app, PROCESSOR, ProcessIntakes(limit=DRAIN_BATCH)).total == 0:
            break
    fig.drain_s = time.perf_counter() - t0


def pg_sessions(app: App) -> int:
    """Connections made to this database so far (PostgreSQL's statistics; 0 on SQLite)."""
    if app.backend != "postgresql":
        return 0
    with app.engine.connect() as c:
        return int(
            c.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def check(app: App, accepted: int) -> str:
    """Exactly one case per accepted submission: none lost, none doubled."""
    with app.engine.connect() as c:
        by_status: dict[str, int] = dict(
            c.execute(text("SELECT status, count(*) FROM intakes GROUP BY status")).all()
        )
        cases, distinct = c.execute(
            text("SELECT count(case_id), count(DISTINCT case_id) FROM intakes")
        ).one()
        nore = c.execute(
            text("SELECT count(*) FROM cases WHERE workflow = 'nore_open' AND workflow_version = 2")
        ).scalar_one()
        all_cases = c.execute(text("SELECT count(*) FROM cases")).scalar_one()
    problems = []
    if by_status != {"done": accepted}:
        problems.append(f"intakes by status {by_status}, expected {{'done': {accepted}}}")
    if not cases == distinct == accepted:
        problems.append(f"{distinct} distinct cases over {cases} intakes, expected {accepted}")
    if not nore == all_cases == accepted:
        problems.append(f"{nore} nore_open v2 cases ({all_cases} in all), expected {accepted}")
    if problems:
        raise SystemExit("exactly-once check FAILED: " + "; ".join(problems))
    return f"ok: {accepted} intakes done, {distinct} distinct cases, {nore} nore_open v2 cases"


def one_run(backend: str, n: int, workers: int, timeout: float, keep: Path | None) -> Figures:
    fig = Figures()
    with database(backend) as url, tempfile.TemporaryDirectory() as folder:
        app = app_for(url, nore_open=2)
        try:
            pairs = nore_registry(app, Path(folder) / "registry", n)
            sessions = pg_sessions(app)
            proc, base = start_server(url, workers, Path(folder) / "serve.log")
            try:
                asyncio.run(load(base, pairs, fig, timeout, proc.pid, app))
            finally:
                stop_server(proc)
                if keep is not None:  # the server's access log, for a look at its own timings
                    keep.mkdir(parents=True, exist_ok=True)
                    shutil.copy(Path(folder) / "serve.log", keep / f"serve-{backend}.log")
            time.sleep(0.6)  # the statistics collector's flush after the last session ended
            fig.sessions = pg_sessions(app) - sessions
            drain(app, fig.accepted, fig)
            fig.check = check(app, fig.accepted)
        finally:
            app.close()
    return fig


def report(backend: str, workers: int, runs: list[Figures]) -> None:
    def mid(xs: list[float]) -> float:
        return median(xs) if xs else float("nan")

    posted = runs[0].posted
    lat = [pct(f.post_latency, 50) * 1000 for f in runs]
    p99 = [pct(f.post_latency, 99) * 1000 for f in runs]
    gets = [pct(f.get_latency, 50) * 1000 for f in runs]
    gets99 = [pct(f.get_latency, 99) * 1000 for f in runs]
    refused = {k: v for f in runs for k, v in f.refused.items()}
    print(
        f"{backend}, {workers} worker(s), {CLIENTS} clients, {posted} POSTs: "
        f"{mid([f.rate for f in runs]):.0f} accepted/s "
        f"(runs {', '.join(f'{f.rate:.0f}' for f in runs)}), "
        f"POST p50 {mid(lat):.1f} ms p99 {mid(p99):.1f} ms; "
        f"GET p50 {mid(gets):.1f} ms p99 {mid(gets99):.1f} ms; "
        f"drain {mid([f.drain_s for f in runs]):.1f} s "
        f"({mid([f.accepted / f.drain_s for f in runs if f.drain_s]):.0f} intakes/s)"
        + (f"; refused {refused}" if refused else "")
    )
    server = mid([f.server_cpu * 1000 / f.posted for f in runs if f.posted])
    client = mid([f.client_cpu * 1000 / f.posted for f in runs if f.posted])
    db = mid([f.db_cpu * 1000 / f.posted for f in runs if f.posted])
    pg = backend == "postgresql"
    conns = f", {mid([f.sessions for f in runs]):.0f} database connections opened" * pg
    dbs = f", PostgreSQL {db:.2f} ms" * pg
    # What the machine's cores would allow if the bench had them to itself (the figure above
    # is what it got while sharing them): all the CPU a POST costs over the cores, and the
    # server's share over as many cores as it has workers.
    cores = os.cpu_count() or 1
    alone = min(
        cores * 1000 / (server + client + (db if pg else 0.0)),
        min(workers, cores) * 1000 / server,
    )
    print(
        f"  CPU per POST: server {server:.2f} ms{dbs}, clients {client:.2f} ms{conns}; "
        f"CPU-bound ceiling on {cores} idle cores ~{alone:.0f} POSTs/s"
    )
    print(f"  exactly once: {runs[0].check} (each of {len(runs)} runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="postgresql,sqlite")
    ap.add_argument("--pg", type=int, default=2000, help="POSTs on PostgreSQL")
    ap.add_argument("--sqlite", type=int, default=1000, help="POSTs on SQLite")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0, help="Seconds per load phase.")
    ap.add_argument("--keep-log", type=Path, help="Copy the server's log into this folder.")
    a = ap.parse_args()
    print(f"machine: {machine()} (shared with other jobs); median of {a.runs} runs")
    for backend in a.backend.split(","):
        n, workers = (a.pg, 2) if backend == "postgresql" else (a.sqlite, 1)
        runs = [one_run(backend, n, workers, a.timeout, a.keep_log) for _ in range(a.runs)]
        report(backend, workers, runs)


if __name__ == "__main__":
    main()

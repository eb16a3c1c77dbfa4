"""Mail per second to a local aiosmtpd server over one connection per batch, rendering and
outbox bookkeeping included: render N notices into the outbox (as commands do at enqueue),
then deliver them (claim, build MIME, SMTP, mark sent). For scale, in the same run: bare
aiosmtplib sending the same number of ready messages over one connection.

The server runs in its own process, as a real one would (in this process it would take the
GIL from the sender it is measured against).

    python -m bench.mail [--messages N] [--runs R] [--backend sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import insert, select

from bench.common import app_for, database, machine, median, nore_registry
from hanport.config import SmtpSettings
from hanport.notifications.outbox import intent_row
from hanport.notifications.render import render
from hanport.service import run
from hanport.service.commands import DeliverMail, OpenCase
from hanport.service.roles import resolve
from hanport.service.timers import SCHEDULER
from hanport.storage import tables

SERVER = """
import sys, time
from aiosmtpd.controller import Controller

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1])).start()
print("ready", flush=True)
time.sleep(3600)
"""


@contextlib.contextmanager
def smtp_server() -> Iterator[int]:
    """A local aiosmtpd accepting everything, in its own process; yields its port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def bare(port: int, n: int) -> float:
    """Messages/s of bare aiosmtplib: ready bytes, one connection, no database."""
    import aiosmtplib

    data = b"Subject: x\nFrom: a@foie.no\nTo: b@example.no\n\n" + (b"x" * 75 + b"\n") * 60

    async def run() -> float:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        t0 = time.perf_counter()
        for i in range(n):
            await smtp.sendmail("a@foie.no", [f"k{i}@example.no"], data)
        elapsed = time.perf_counter() - t0
        await smtp.quit()
        return n / elapsed

    return asyncio.run(run())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(backend: str, n: int) -> tuple[float, float, float]:
    with smtp_server() as port:
        with database(backend) as url, tempfile.TemporaryDirectory() as d:
            app = app_for(url)
            pairs = nore_registry(app, Path(d), 1)
            case = run(
                app,
                resolve(app, "bench"),
                OpenCase("nore_open", customer=pairs[0][0], metering_point=pairs[0][1]),
            )
            with app.engine.connect() as conn:
                case_id = conn.execute(
                    select(tables.CASES.c.id).where(tables.CASES.c.ref == case.case)
                ).scalar_one()
            with app.engine.begin() as conn:  # clear the open's own notice
                conn.execute(tables.MAIL.delete())
            app.settings = dataclasses.replace(
                app.settings, smtp=SmtpSettings(host="127.0.0.1", port=port, starttls=False)
            )
            ctx = {
                "case_ref": case.case,
                "workflow": "nore_open",
                "customer_name": "Åse Ødegård",
                "meter_last4": "0861",
                "sender_name": "Føie kundesenter",
                "contact_address": "kontakt@foie.no",
            }
            t0 = time.perf_counter()
            rows = []
            for i in range(n):
                r = render("port_opened", "nb", ctx)
                row = intent_row(
                    case_id=case_id,
                    case_ref=case.case,
                    seq=1000 + i,
                    template="port_opened",
                    language="nb",
                    recipient=f"k{i}@example.no",
                    context=ctx,
                    now=app.clock.now(),
                    domain="foie.no",
                )
                row.update(subject=r.subject, body_text=r.text, body_html=r.html)
                rows.append(row)
                if len(rows) == 500:
                    with app.engine.begin() as conn:
                        conn.execute(insert(tables.MAIL), rows)
                    rows = []
            if rows:
                with app.engine.begin() as conn:
                    conn.execute(insert(tables.MAIL), rows)
            t1 = time.perf_counter()
            report = run(app, SCHEDULER, DeliverMail(batch=200))
            t2 = time.perf_counter()
            app.close()
            assert report.sent == n, report
        return n / (t2 - t0), n / (t2 - t1), bare(port, n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    a = p.parse_args()
    print(f"machine: {machine()}")
    results = [one_run(a.backend, a.messages) for _ in range(a.runs)]
    total = [r[0] for r in results]
    send = [r[1] for r in results]
    raw = [r[2] for r in results]
    print(
        f"mail/s to local aiosmtpd ({a.backend}), render + outbox + SMTP: median {median(total):5.0f} "
        f"(runs: {', '.join(f'{r:.0f}' for r in total)}); delivery alone: median {median(send):5.0f}; "
        f"bare aiosmtplib: median {median(raw):5.0f}"
    )


if __name__ == "__main__":
    main()

"""A server that goes away in the middle of a tick, and comes back (the PostgreSQL server's
restart is in test_restarts_postgres.py, which runs last).

- The SMTP server (aiosmtpd on 127.0.0.1) is stopped while ``hanport tick`` is in the middle of a
  batch — the server stored a message and its answer is still due — then started again on the
  same port. The interrupted tick ends normally (the rest waits for a retry); the next tick,
  past the retry's backoff but before a lease would end, delivers everything: nothing lost, no
  row stuck, at most the one message in flight twice (same Message-ID).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from hanport.service.mail import LEASE, backoff
from hanport.storage.engine import create_engine
from tests.faults import helpers as h
from tests.support import make_app

pytestmark = pytest.mark.slow

# --- SMTP ---------------------------------------------------------------------------------------


def test_smtp_server_restarted_during_a_tick_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """150 cases: 300 notices pending and 150 reminders due (450 mails, five batches of 100).
    The server stalls on the 130th message (the second batch) and is stopped, then started
    again."""
    app = make_app(db_url, maildir=str(tmp_path / "maildir"))
    try:
        reg = h.import_registry(app, tmp_path / "registry", 150, 0, 0)
        reminders = h.awaiting_consent(app, reg, 1)
    finally:
        app.close()
    handler = h.StoppingHandler(stall_at=130)
    server = h.smtp_server(handler).start()
    try:
        env = h.cli_env(db_url, tmp_path, server.port, HANPORT_SMTP_TIMEOUT="5")
        now = h.AFTER_REMINDER
        proc = h.start_cli(env, tmp_path, now, "tick")
        try:
            h.wait_until(
                lambda: handler.stalled.is_set() or proc.poll() is not None, 60, "message 130"
            )
            assert handler.stalled.is_set(), h.finish(proc)
            server.stop()  # in the middle of the batch, message 130 stored but not answered
            handler.stall_at = None
            time.sleep(0.3)
            server.start()
            code, out, err = h.finish(proc, 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        assert code == 0, err[-2000:]
        first = json.loads(out)
        assert first["timers_fired"] == len(reminders)
        assert first["mail_sent"] < 450 and first["mail_retrying"] > 0, first
        assert first["mail_dead"] == 0

        # No row is left ``sending``: the failures wait for their retry, not for a lease.
        engine = create_engine(db_url)
        try:
            status = h.rows(engine, "SELECT status, count(*) AS n FROM mail_outbox GROUP BY status")
            assert "sending" not in {s["status"] for s in status}, status
            later = now + backoff(1) + timedelta(seconds=30)
            assert later < now + LEASE  # a row stuck ``sending`` would not go out now
            code, out, err = h.run_cli(env, tmp_path, later, "tick")
            assert code == 0, err[-2000:]
            second = json.loads(out)
            outbox = h.rows(engine, "SELECT message_id, status, attempts FROM mail_outbox")
        finally:
            engine.dispose()
        assert first["mail_sent"] + second["mail_sent"] == len(outbox) == 450, (first, second)
        assert {m["status"] for m in outbox} == {"sent"}
        arrived = h.arrivals_by_message_id(handler)
        print(
            f"first tick: {first['mail_sent']} sent, {first['mail_retrying']} to retry; "
            f"second: {second['mail_sent']} sent; {sum(arrived.values())} arrivals"
        )
        assert set(arrived) == {m["message_id"] for m in outbox}  # nothing lost
        # Only the message whose answer was cut off went twice, with the same Message-ID.
        assert sum(arrived.values()) <= len(outbox) + 1, arrived.most_common(3)
        assert max(arrived.values()) <= 2
        assert sum(m["attempts"] > 1 for m in outbox) == first["mail_retrying"]
    finally:
        server.stop()
    app = make_app(db_url, now=later.isoformat())
    try:
        h.assert_timers_exactly_once(app.engine, reminders)
        h.assert_chains_and_ports(app)
    finally:
        app.close()

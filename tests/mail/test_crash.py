"""A crash between SMTP DATA and the commit: the sending process is killed (SIGKILL) while the
server holds its reply to DATA, after it has stored the message. A rerun after the lease sends
the unconfirmed mail again — at most one duplicate, with the same Message-ID — and loses none."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from datetime import timedelta

from hanport.calendar import isoformat_utc, parse_instant
from hanport.service.mail import LEASE
from tests.mail.conftest import hanport_cmd, hanport_env, wait_for
from tests.mail.helpers import outbox, parse, port_opened
from tests.support import START, deliver


def test_kill_between_data_and_commit_gives_at_most_one_duplicate(
    seeded, db_url, smtp_server, make_mail_app, tmp_path
):
    app = seeded
    port_opened(app)  # two notices for kari
    rows = outbox(app)
    assert len(rows) == 2 and all(r["status"] == "pending" for r in rows)

    env = hanport_env(
        db_url,
        tmp_path,
        HANPORT_SMTP_HOST="127.0.0.1",
        HANPORT_SMTP_PORT=str(smtp_server.port),
        HANPORT_SMTP_STARTTLS="false",
        HANPORT_SMTP_TIMEOUT="20",
    )
    start = parse_instant(START)

    def send(at):
        return subprocess.run(
            hanport_cmd("--json", "--now", isoformat_utc(at), "mail", "send"),
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    h = smtp_server.handler
    h.hold = True
    proc = subprocess.Popen(
        hanport_cmd("--json", "--now", isoformat_utc(start), "mail", "send"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: h.held.is_set() or proc.poll() is not None, 30, "the first DATA")
        assert h.held.is_set(), f"mail send ended early: {proc.communicate(timeout=10)}"
        # the server has the message; its 250 has not left: kill the sender now
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion failed above
            proc.kill()
            proc.wait(timeout=10)
        h.hold = False
        h.release.set()
    assert proc.returncode == -signal.SIGKILL
    assert len(h.arrivals) == 1

    # the claim survived the crash: the rows wait for their lease to end
    assert [r["status"] for r in outbox(app)] == ["sending", "sending"]

    # before the lease ends nobody takes the rows over
    early = make_mail_app(now=isoformat_utc(start + LEASE / 2), smtp=smtp_server.settings())
    assert deliver(early).sent == 0
    assert [r["status"] for r in outbox(app)] == ["sending", "sending"]
    assert len(h.arrivals) == 1

    late = send(start + LEASE + timedelta(minutes=1))
    assert late.returncode == 0, late.stderr
    assert all(r["status"] == "sent" for r in outbox(app)), outbox(app)

    ids = Counter(h.message_ids())
    assert set(ids) == {r["message_id"] for r in rows}, ids
    assert all(1 <= n <= 2 for n in ids.values()), ids
    assert sum(ids.values()) <= len(rows) + 1, ids
    assert ids[rows[0]["message_id"]] == 2  # the one killed in flight, with the same Message-ID
    first, dup = (parse(a.content) for a in h.arrivals[:2])
    for header in ("Message-ID", "Subject", "Date", "From", "To"):
        assert str(first[header]) == str(dup[header]), header
    assert first.get_body(("plain",)).get_content() == dup.get_body(("plain",)).get_content()

    again = make_mail_app(now=isoformat_utc(start + LEASE * 3), smtp=smtp_server.settings())
    assert deliver(again).sent == 0
    assert len(h.arrivals) == sum(ids.values())

"""Two deliverers at once (the scheduler's tick and a caseworker's ``mail send``) share the
outbox: the claim gives each mail to one of them, so every message arrives exactly once."""

from __future__ import annotations

import threading
from collections import Counter

from tests.mail.helpers import meter_swap_en, outbox, request_received
from tests.support import actor, advance, deliver

DELIVERERS = 3


def test_concurrent_deliverers_send_each_mail_once(make_mail_app, smtp_server):
    app = make_mail_app(smtp=smtp_server.settings())
    for _ in range(4):
        ref = request_received(app)
        advance(app, actor(app), ref, "cancel", {"reason": "test"})
    meter_swap_en(app)
    rows = outbox(app)
    assert len(rows) >= 9

    apps = [make_mail_app(smtp=smtp_server.settings()) for _ in range(DELIVERERS)]
    barrier = threading.Barrier(DELIVERERS, timeout=20)
    reports: list = [None] * DELIVERERS
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            reports[i] = deliver(apps[i], batch=2)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(DELIVERERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a deliverer hung"
    assert not errors, errors

    assert sum(r.sent for r in reports) == len(rows), reports
    ids = Counter(smtp_server.handler.message_ids())
    assert ids == Counter(r["message_id"] for r in rows), ids
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in outbox(app))

"""Without an SMTP host, delivery writes into a Maildir folder."""

from __future__ import annotations

import mailbox

from hanport.entrypoints.tick import tick
from hanport.notifications.delivery import MaildirTransport
from hanport.service.mail import maildir, transport
from tests.mail.helpers import meter_swap_en, no_email_case, outbox, port_opened
from tests.support import NORE_METER, deliver


def test_deliver_writes_into_the_maildir(make_mail_app, tmp_path):
    folder = tmp_path / "outbox-maildir"
    app = make_mail_app(maildir=str(folder))
    assert app.settings.smtp.host is None
    assert isinstance(transport(app), MaildirTransport)
    assert maildir(app) == folder

    port_opened(app)
    meter_swap_en(app)
    no_email_case(app)
    rows = [r for r in outbox(app) if r["status"] == "pending"]
    assert len(rows) >= 3

    report = deliver(app)
    assert report.sent == len(rows), report

    box = mailbox.Maildir(folder, create=False)
    msgs = list(box)
    assert sorted(str(m["Message-ID"]) for m in msgs) == sorted(r["message_id"] for r in rows)
    for m in msgs:
        assert m.get_content_type() == "multipart/alternative"
        assert NORE_METER not in m.as_string()
    assert [r["status"] for r in outbox(app)].count("sent") == len(rows)
    assert [r["status"] for r in outbox(app)].count("no_address") == 1

    # nothing is written twice
    assert deliver(app).sent == 0
    assert len(mailbox.Maildir(folder, create=False)) == len(rows)


def test_tick_delivers_mail_too(make_mail_app, tmp_path):
    folder = tmp_path / "tick-maildir"
    app = make_mail_app(maildir=str(folder))
    port_opened(app)
    report = tick(app)
    assert report.mail_sent == 2, report
    assert len(mailbox.Maildir(folder, create=False)) == 2
    assert all(r["status"] == "sent" for r in outbox(app))

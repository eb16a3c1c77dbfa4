"""Delivery over SMTP to a real aiosmtpd server: the message, one connection per batch, retries
with backoff, permanent refusals, customers without an address, STARTTLS certificate checks."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from email.utils import parsedate_to_datetime

from hanport.calendar import isoformat_utc, parse_instant
from hanport.config import SmtpSettings
from hanport.service.mail import backoff
from hanport.service.registry import save_customer
from hanport.service.unit import transaction
from tests.mail.helpers import (
    event_triggers,
    flags,
    meter_swap_en,
    no_email_case,
    outbox,
    parse,
    port_opened,
    request_received,
)
from tests.support import NORE_METER, RINGERIKE_METER, START, actor, deliver, update_customer

TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
UNRENDERED = ("{{", "}}", "{%", "%}", "{#", "#}")


def rename(app, customer_id: str, name: str) -> None:
    with transaction(app) as uow:
        save_customer(uow, customer_id, {"name": name}, app.clock.now(), actor(app), "test")
        uow.commit()


def parts(msg):
    """(text/plain part, text/html part) of a multipart/alternative message."""
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    subs = list(msg.iter_parts())
    assert [p.get_content_type() for p in subs] == ["text/plain", "text/html"]
    return subs[0], subs[1]


# --- the message ------------------------------------------------------------------------------


def test_delivered_message_is_well_formed(make_mail_app, smtp_server):
    app = make_mail_app(smtp=smtp_server.settings())
    rename(app, "1001", "Åse Ødegård")
    ref = request_received(app)
    [row] = outbox(app, ref)
    assert row["template"] == "request_received" and row["status"] == "pending"

    report = deliver(app)
    assert report.sent == 1, report

    [arrival] = smtp_server.handler.arrivals
    assert arrival.mail_from == app.settings.sender_address
    assert arrival.rcpt_tos == ["kari@example.no"]
    raw = arrival.content
    msg = parse(raw)

    # headers
    assert msg["From"].addresses[0].display_name == app.settings.sender_name == "Føie kundesenter"
    assert msg["From"].addresses[0].addr_spec == app.settings.sender_address
    assert [a.addr_spec for a in msg["To"].addresses] == ["kari@example.no"]
    assert msg["Reply-To"].addresses[0].addr_spec == app.settings.sender_address
    assert parsedate_to_datetime(str(msg["Date"])) == parse_instant(START)
    # CPython folds a long encoded subject onto a continuation line ("Subject: \n =?utf-8?…");
    # its own parser then keeps the folding space, which mail readers drop.
    assert str(msg["Subject"]).strip() == row["subject"]
    assert ref in str(msg["Subject"])
    expected_id = f"<{ref}.{row['seq']}.request_received@foie.no>"
    assert str(msg["Message-ID"]).strip() == row["message_id"] == expected_id

    # body: two UTF-8 alternatives, Norwegian letters intact after decoding
    text, html = parts(msg)
    assert text.get_content_charset() == "utf-8"
    assert html.get_content_charset() == "utf-8"
    plain, markup = text.get_content(), html.get_content()
    for letters in ("æ", "ø", "å", "Åse Ødegård"):
        assert letters in plain, letters
        assert letters in markup, letters
    assert "Åse Ødegård" not in raw.decode("ascii", "replace")  # encoded on the wire, decoded back
    assert plain.strip() == row["text"].strip()

    # nothing unrendered; no markup in the text part
    for chunk in (str(msg["Subject"]), plain, markup):
        for marker in UNRENDERED:
            assert marker not in chunk, (marker, chunk[:200])
    assert not TAG.search(plain), TAG.search(plain)
    assert not ENTITY.search(plain), ENTITY.search(plain)
    assert markup.lstrip().lower().startswith("<!doctype html")

    # every notice: how to withdraw the consent / close the port, and the security advice
    for chunk in (plain, markup):
        assert "trekke tilbake samtykket" in chunk and "HAN-porten stengt" in chunk
        assert "ukryptert" in chunk and "passordbeskyttet" in chunk

    # the meter number: only its last four digits, never the whole
    assert NORE_METER not in raw.decode("utf-8", "replace")
    for chunk in (str(msg["Subject"]), plain, markup):
        assert NORE_METER not in chunk
    assert NORE_METER[-4:] in plain and NORE_METER[-4:] in markup

    assert outbox(app, ref)[0]["status"] == "sent"


def test_markup_characters_in_a_name_stay_plain_in_text_and_escaped_in_html(
    make_mail_app, smtp_server
):
    app = make_mail_app(smtp=smtp_server.settings())
    rename(app, "1001", "Ødegård & Sønn <AS>")
    request_received(app)
    deliver(app)
    [arrival] = smtp_server.handler.arrivals
    text, html = parts(parse(arrival.content))
    plain, markup = text.get_content(), html.get_content()
    assert "Ødegård & Sønn <AS>" in plain
    assert "&amp;" not in plain and "&lt;" not in plain
    assert "Ødegård &amp; Sønn &lt;AS&gt;" in markup
    assert "<AS>" not in markup


def test_english_for_an_english_customer(make_mail_app, smtp_server):
    app = make_mail_app(smtp=smtp_server.settings())
    ref = meter_swap_en(app)
    rows = outbox(app, ref)
    assert rows and all(r["language"] == "en" for r in rows), rows
    deliver(app)
    assert len(smtp_server.handler.arrivals) == len(rows)
    for arrival in smtp_server.handler.arrivals:
        assert arrival.rcpt_tos == ["ola@example.no"]
        msg = parse(arrival.content)
        text, html = parts(msg)
        plain, markup = text.get_content(), html.get_content()
        assert "Dear Ola Hansen" in plain
        assert 'lang="en"' in markup
        assert "Vennlig hilsen" not in plain and "Hei " not in plain
        assert RINGERIKE_METER not in arrival.content.decode("utf-8", "replace")
        assert RINGERIKE_METER not in plain and RINGERIKE_METER not in markup
        assert RINGERIKE_METER[-4:] in plain
        assert "withdraw your consent" in plain and "not encrypted" in plain
        for marker in UNRENDERED:
            assert marker not in plain and marker not in markup


# --- connections --------------------------------------------------------------------------------


def test_several_messages_go_over_one_connection(make_mail_app, smtp_server):
    app = make_mail_app(smtp=smtp_server.settings())
    port_opened(app)
    meter_swap_en(app)
    rows = outbox(app)
    assert len(rows) >= 3

    report = deliver(app)

    h = smtp_server.handler
    assert report.sent == len(rows)
    assert len(h.arrivals) == len(rows)
    assert len(h.connections()) == 1, h.connections()
    assert len(h.ehlo_peers) == 1, h.ehlo_peers
    assert sorted(h.message_ids()) == sorted(r["message_id"] for r in rows)
    assert all(r["status"] == "sent" and r["attempts"] == 1 for r in outbox(app))


# --- temporary failures -------------------------------------------------------------------------


def test_server_down_nothing_lost_then_each_delivered_once(make_mail_app, smtp_factory):
    server = smtp_factory()  # not started: nothing listens on its port
    app = make_mail_app(smtp=server.settings())
    port_opened(app)
    meter_swap_en(app)
    rows = outbox(app)
    n = len(rows)
    assert n >= 3

    t0 = app.clock.now()
    report = deliver(app)
    assert (report.sent, report.retrying, report.dead) == (0, n, 0), report
    for r in outbox(app):
        assert r["status"] == "pending", r
        assert r["attempts"] == 1
        assert r["next_attempt_at"] == isoformat_utc(t0 + backoff(1))
        assert r["last_error"] and "connect" in r["last_error"], r["last_error"]

    # not due yet: a second run does not even try
    assert deliver(app).retrying == 0
    assert all(r["attempts"] == 1 for r in outbox(app))

    # still down after the first backoff: the wait grows
    t1 = app.clock.advance(backoff(1) + timedelta(seconds=1))
    report = deliver(app)
    assert report.retrying == n
    for r in outbox(app):
        assert (r["status"], r["attempts"]) == ("pending", 2)
        assert r["next_attempt_at"] == isoformat_utc(t1 + backoff(2))
    assert backoff(2) > backoff(1)

    server.start()
    app.clock.advance(backoff(2) + timedelta(seconds=1))
    report = deliver(app)
    assert report.sent == n, report
    assert deliver(app).sent == 0

    ids = Counter(server.handler.message_ids())
    assert ids == Counter(r["message_id"] for r in rows), ids
    assert all(c == 1 for c in ids.values())
    assert all(r["status"] == "sent" and r["attempts"] == 3 for r in outbox(app))


def test_451_then_250_is_delivered_once_after_a_retry(make_mail_app, smtp_server):
    smtp_server.handler.data_script = ["451 4.3.0 try later"]
    app = make_mail_app(smtp=smtp_server.settings())
    ref = request_received(app)

    report = deliver(app)
    assert (report.sent, report.retrying) == (0, 1), report
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "451" in row["last_error"]
    assert smtp_server.handler.arrivals == []

    app.clock.advance(backoff(1))
    assert deliver(app).sent == 1
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    assert smtp_server.handler.message_ids() == [row["message_id"]]
    assert [r.stage for r in smtp_server.handler.refusals] == ["DATA"]
    assert "mail_dead" not in flags(app, ref)


def test_450_from_rcpt_is_temporary(make_mail_app, smtp_server):
    smtp_server.handler.rcpt_refuse = {"kari@example.no": "450 4.2.1 mailbox busy"}
    app = make_mail_app(smtp=smtp_server.settings())
    ref = request_received(app)
    report = deliver(app)
    assert (report.retrying, report.dead) == (1, 0), report
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "450" in row["last_error"]

    smtp_server.handler.rcpt_refuse = {}
    app.clock.advance(backoff(1))
    assert deliver(app).sent == 1
    assert smtp_server.handler.message_ids() == [row["message_id"]]
    assert "mail_dead" not in flags(app, ref)


def test_554_to_data_is_permanent(make_mail_app, smtp_server):
    smtp_server.handler.data_script = ["554 5.6.0 message refused"]
    app = make_mail_app(smtp=smtp_server.settings())
    ref = request_received(app)
    report = deliver(app)
    assert (report.dead, report.retrying) == (1, 0), report
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "554" in row["last_error"]
    assert "mail_dead" in flags(app, ref)
    assert event_triggers(app, ref).count("flag_mail_dead") == 1


def test_too_many_temporary_failures_make_the_mail_dead(make_mail_app, smtp_server):
    smtp_server.handler.data_script = ["451 4.3.0 try later"] * 10
    app = make_mail_app(smtp=smtp_server.settings(), mail_max_attempts=3)
    ref = request_received(app)

    for attempt in (1, 2):
        report = deliver(app)
        assert report.retrying == 1 and report.dead == 0, report
        [row] = outbox(app, ref)
        assert (row["status"], row["attempts"]) == ("pending", attempt)
        assert "mail_dead" not in flags(app, ref)
        app.clock.advance(backoff(attempt))

    report = deliver(app)
    assert report.dead == 1, report
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert "451" in row["last_error"]
    assert "mail_dead" in flags(app, ref)
    assert event_triggers(app, ref).count("flag_mail_dead") == 1
    assert smtp_server.handler.arrivals == []

    # dead mail is never tried again by itself
    app.clock.advance(timedelta(days=2))
    assert deliver(app).dead == 0
    assert len(smtp_server.handler.refusals) == 3


# --- permanent failures -------------------------------------------------------------------------


def test_550_from_rcpt_makes_the_mail_dead_and_flags_the_case(make_mail_app, smtp_server):
    smtp_server.handler.rcpt_refuse = {"kari@example.no": "550 5.1.1 no such user"}
    app = make_mail_app(smtp=smtp_server.settings())
    ref = port_opened(app)  # two notices to kari; the case is final (confirmed)
    other = meter_swap_en(app)  # ola's mail goes on the same connection after the refusals
    kari, ola = outbox(app, ref), outbox(app, other)
    assert len(kari) == 2

    report = deliver(app)
    assert (report.sent, report.dead, report.retrying) == (len(ola), 2, 0), report

    for r in outbox(app, ref):
        assert (r["status"], r["attempts"]) == ("dead", 1)
        assert "550" in r["last_error"]
    assert all(r["status"] == "sent" for r in outbox(app, other))
    assert "mail_dead" in flags(app, ref)
    assert event_triggers(app, ref).count("flag_mail_dead") == 1
    assert "mail_dead" not in flags(app, other)

    h = smtp_server.handler
    assert [a.rcpt_tos for a in h.arrivals] == [["ola@example.no"]] * len(ola)
    assert len({r.peer for r in h.refusals} | h.connections()) == 1  # one connection for all

    app.clock.advance(timedelta(days=1))
    assert deliver(app).dead == 0
    assert len(h.refusals) == 2


# --- no address -------------------------------------------------------------------------------


def test_customer_without_email_then_unsent_mail_follows_the_new_address(
    make_mail_app, smtp_server
):
    app = make_mail_app(smtp=smtp_server.settings())
    ref = no_email_case(app)
    kari = request_received(app)
    [row] = outbox(app, ref)
    assert (row["status"], row["recipient"]) == ("no_address", None)
    assert "no_email" in flags(app, ref)

    report = deliver(app)
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0), report
    assert [a.rcpt_tos for a in smtp_server.handler.arrivals] == [["kari@example.no"]]
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("no_address", 0)
    assert outbox(app, kari)[0]["status"] == "sent"

    app.clock.advance(timedelta(hours=1))
    update_customer(app, actor(app), "1005", email="nils@example.no")
    [row] = outbox(app, ref)
    assert (row["status"], row["recipient"]) == ("pending", "nils@example.no")
    assert row["last_error"] and "recipient changed" in row["last_error"]

    assert deliver(app).sent == 1
    [row] = outbox(app, ref)
    assert row["status"] == "sent"
    arrival = smtp_server.handler.arrivals[-1]
    assert arrival.rcpt_tos == ["nils@example.no"]
    msg = parse(arrival.content)
    assert [a.addr_spec for a in msg["To"].addresses] == ["nils@example.no"]
    assert str(msg["Message-ID"]) == row["message_id"]
    assert "Nils Li" in parts(msg)[0].get_content()


# --- STARTTLS ---------------------------------------------------------------------------------


def test_starttls_self_signed_refused_with_checks_on_then_trusted_via_ca_file(
    make_mail_app, smtp_factory, self_signed
):
    server = smtp_factory(tls_context=self_signed.server_context(), require_starttls=True).start()
    app = make_mail_app(smtp=server.settings(starttls=True))  # verify on, system CAs only
    assert app.settings.smtp.verify is True
    ref = request_received(app)

    report = deliver(app)
    assert (report.sent, report.retrying) == (0, 1), report
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert re.search(r"certificate|ssl", row["last_error"], re.I), row["last_error"]
    assert server.handler.arrivals == []

    later = isoformat_utc(app.clock.now() + backoff(1) + timedelta(seconds=1))
    trusting = make_mail_app(
        now=later,
        smtp=server.settings(host="localhost", starttls=True, ca_file=str(self_signed.cert)),
    )
    assert trusting.settings.smtp.verify is True
    assert deliver(trusting).sent == 1
    [row] = outbox(trusting, ref)
    assert row["status"] == "sent"
    assert server.handler.message_ids() == [row["message_id"]]


def test_starttls_is_used_when_offered(make_mail_app, smtp_factory, self_signed):
    server = smtp_factory(tls_context=self_signed.server_context(), require_starttls=True).start()
    app = make_mail_app(
        smtp=server.settings(host="localhost", starttls=True, ca_file=str(self_signed.cert))
    )
    request_received(app)
    assert deliver(app).sent == 1
    assert [a.tls for a in server.handler.arrivals] == [True]


def test_implicit_tls_checks_the_certificate(make_mail_app, smtp_factory, self_signed):
    server = smtp_factory(ssl_context=self_signed.server_context()).start()
    app = make_mail_app(smtp=server.settings(implicit_tls=True))
    ref = request_received(app)
    assert deliver(app).retrying == 1
    [row] = outbox(app, ref)
    assert row["status"] == "pending"
    assert re.search(r"certificate|ssl", row["last_error"], re.I), row["last_error"]

    later = isoformat_utc(app.clock.now() + backoff(1))
    trusting = make_mail_app(
        now=later,
        smtp=server.settings(host="localhost", implicit_tls=True, ca_file=str(self_signed.cert)),
    )
    assert deliver(trusting).sent == 1  # the server speaks nothing but TLS
    assert len(server.handler.arrivals) == 1


USER, PASSWORD = "hanport", "s3cret-pass"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: aiosmtpd itself answers 535 to a failure
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


def test_authentication_over_starttls(make_mail_app, smtp_factory, self_signed):
    server = smtp_factory(
        tls_context=self_signed.server_context(),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    ).start()
    tls = {"host": "localhost", "starttls": True, "ca_file": str(self_signed.cert)}

    wrong = make_mail_app(
        smtp=server.settings(username=USER, password="wrong-password", **tls),
        mail_max_attempts=1,
    )
    ref = request_received(wrong)
    report = deliver(wrong)
    assert report.sent == 0 and report.dead == 1, report
    [row] = outbox(wrong, ref)
    assert row["status"] == "dead"
    assert "535" in row["last_error"] or "auth" in row["last_error"].lower(), row["last_error"]
    assert "wrong-password" not in row["last_error"]
    assert server.handler.arrivals == []

    right = make_mail_app(smtp=server.settings(username=USER, password=PASSWORD, **tls))
    other = meter_swap_en(right)
    assert deliver(right).sent == len(outbox(right, other))
    assert {a.login for a in server.handler.arrivals} == {USER.encode()}
    assert all(a.tls for a in server.handler.arrivals)


def test_a_server_that_never_answers_times_out(make_mail_app, tmp_path):
    import socket
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections (backlog) and never says a word
        port = silent.getsockname()[1]
        app = make_mail_app(
            smtp=SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout=1.0)
        )
        ref = request_received(app)
        t0 = time.monotonic()
        report = deliver(app)
        elapsed = time.monotonic() - t0
    assert report.retrying == 1 and report.sent == 0, report
    assert elapsed < 10, elapsed
    [row] = outbox(app, ref)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "tim" in row["last_error"].lower(), row["last_error"]


def test_dead_mail_follows_the_corrected_address_on_retry(make_mail_app, smtp_server):
    from tests.support import retry_mail

    smtp_server.handler.rcpt_refuse = {"kari@example.no": "550 5.1.1 no such user"}
    app = make_mail_app(smtp=smtp_server.settings())
    ref = request_received(app)
    assert deliver(app).dead == 1

    update_customer(app, actor(app), "1001", email="kari.nordmann@example.no")
    [row] = outbox(app, ref)
    retry_mail(app, actor(app), row["id"])
    deliver(app)

    [row] = outbox(app, ref)
    assert row["recipient"] == "kari.nordmann@example.no", row
    assert row["status"] == "sent", row
    assert [a.rcpt_tos for a in smtp_server.handler.arrivals] == [["kari.nordmann@example.no"]]


def test_removed_address_turns_pending_mail_into_no_address_and_flags_the_case(
    make_mail_app, smtp_server
):
    app = make_mail_app(smtp=smtp_server.settings())
    ref = request_received(app)
    update_customer(app, actor(app), "1001", email="")
    [row] = outbox(app, ref)
    assert (row["status"], row["recipient"]) == ("no_address", None)
    assert deliver(app).sent == 0
    assert smtp_server.handler.arrivals == []
    assert "no_email" in flags(app, ref)

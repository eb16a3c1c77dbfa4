"""``hanport mail list|show|send|retry`` through the real command line, in this process
(``hanport.entrypoints.cli.main.main``), against a real SMTP server."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest

from hanport.entrypoints.cli.main import main
from tests.mail.conftest import hanport_env
from tests.mail.helpers import flags, no_email_case, outbox, port_opened, request_received


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(seeded, db_url, smtp_server, tmp_path, monkeypatch, capsys):
    """Run ``hanport ARGS`` in-process with the environment a deployment would have."""
    env = hanport_env(
        db_url,
        tmp_path,
        HANPORT_SMTP_HOST="127.0.0.1",
        HANPORT_SMTP_PORT=str(smtp_server.port),
        HANPORT_SMTP_STARTTLS="false",
        HANPORT_SMTP_TIMEOUT="10",
    )
    for k in list(os.environ):
        if k.startswith("HANPORT_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        if k.startswith("HANPORT_"):
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Run:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - main() always exits
            raise AssertionError("main() returned")
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def test_list_show_send(cli, seeded, smtp_server):
    ref = port_opened(seeded)
    rows = outbox(seeded)

    r = cli("mail", "list", "--status", "pending", "--json")
    assert r.code == 0, r.err
    assert [m["id"] for m in r.json] == [m["id"] for m in rows]
    assert {m["case"] for m in r.json} == {ref}
    assert {m["template"] for m in r.json} == {"request_received", "port_opened"}
    assert cli("mail", "list", "--status", "sent", "--json").json == []

    human = cli("mail", "list", "--status", "pending")
    assert human.code == 0 and "request_received" in human.out and "port_opened" in human.out

    r = cli("mail", "show", str(rows[0]["id"]))
    assert r.code == 0, r.err
    assert f"Subject: {rows[0]['subject']}" in r.out
    assert f"Message-ID: {rows[0]['message_id']}" in r.out
    assert "To: kari@example.no" in r.out
    first_line = rows[0]["text"].splitlines()[0]
    assert first_line and first_line in r.out
    assert "Takk for bestillingen" in r.out
    shown = cli("mail", "show", str(rows[0]["id"]), "--json").json
    assert shown["subject"] == rows[0]["subject"] and shown["text"] == rows[0]["text"]

    r = cli("mail", "send", "--json")
    assert r.code == 0, r.err
    assert r.json["sent"] == len(rows)
    assert sorted(smtp_server.handler.message_ids()) == sorted(m["message_id"] for m in rows)
    assert [m["id"] for m in cli("mail", "list", "--status", "sent", "--json").json] == [
        m["id"] for m in rows
    ]
    assert cli("mail", "list", "--status", "pending", "--json").json == []

    bad = cli("mail", "list", "--status", "bogus")
    assert bad.code == 2


def test_retry_a_dead_mail_then_it_is_delivered(cli, seeded, smtp_server):
    h = smtp_server.handler
    h.rcpt_refuse = {"kari@example.no": "550 5.1.1 no such user"}
    ref = request_received(seeded)
    [row] = outbox(seeded, ref)

    r = cli("mail", "send", "--json")
    assert r.code == 0, r.err
    assert r.json["dead"] == 1
    dead = cli("mail", "list", "--status", "dead", "--json").json
    assert [m["id"] for m in dead] == [row["id"]]
    assert "mail_dead" in flags(seeded, ref)
    shown = cli("mail", "show", str(row["id"]))
    assert "Last error:" in shown.out and "550" in shown.out

    h.rcpt_refuse = {}  # the mailbox exists again
    r = cli("mail", "retry", str(row["id"]), "--json")
    assert r.code == 0, r.err
    assert r.json == {"id": row["id"], "status": "pending"}
    [again] = outbox(seeded, ref)
    assert (again["status"], again["attempts"]) == ("pending", 0)

    r = cli("mail", "send", "--json")
    assert r.code == 0 and r.json["sent"] == 1, (r.out, r.err)
    [done] = outbox(seeded, ref)
    assert done["status"] == "sent"
    assert h.message_ids() == [row["message_id"]]

    # a sent mail cannot be retried: refused, exit 4, nothing changed
    r = cli("mail", "retry", str(row["id"]))
    assert r.code == 4, (r.out, r.err)
    assert "already sent" in r.err
    assert outbox(seeded, ref) == [done]

    # unknown ID: not found, exit 3
    for args in (("mail", "retry", "999999"), ("mail", "show", "999999")):
        r = cli(*args)
        assert r.code == 3, (args, r.out, r.err)
        assert "999999" in r.err


def test_retry_refused_without_an_address_or_for_an_auditor(cli, seeded, smtp_server):
    ref = no_email_case(seeded)
    [row] = outbox(seeded, ref)
    listed = cli("mail", "list", "--status", "no_address", "--json").json
    assert [m["id"] for m in listed] == [row["id"]]
    assert "To: (no address)" in cli("mail", "show", str(row["id"])).out

    r = cli("mail", "retry", str(row["id"]))
    assert r.code == 4, (r.out, r.err)
    assert outbox(seeded, ref)[0]["status"] == "no_address"

    smtp_server.handler.rcpt_refuse = {"kari@example.no": "550 5.1.1 no such user"}
    kari = request_received(seeded)
    assert cli("mail", "send", "--json").json["dead"] == 1
    [dead] = outbox(seeded, kari)
    r = cli("--as", "aud", "mail", "retry", str(dead["id"]))
    assert r.code == 4, (r.out, r.err)
    assert outbox(seeded, kari)[0]["status"] == "dead"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_retry_all_after_an_outage_makes_every_waiting_mail_due(
    cli, seeded, smtp_server, monkeypatch
):
    port_opened(seeded)
    rows = outbox(seeded)
    up = os.environ["HANPORT_SMTP_PORT"]
    monkeypatch.setenv("HANPORT_SMTP_PORT", str(_closed_port()))  # the server is down
    r = cli("mail", "send", "--json")
    assert r.code == 0, r.err
    assert (r.json["sent"], r.json["retrying"]) == (0, len(rows))

    monkeypatch.setenv("HANPORT_SMTP_PORT", up)  # back up: each mail still waits its backoff
    assert cli("mail", "send", "--json").json["sent"] == 0
    assert smtp_server.handler.message_ids() == []

    # only mail created after a moment in the future: none
    r = cli("mail", "retry", "--all", "--since", "2030-01-01T00:00", "--json")
    assert r.code == 0 and r.json["retried"] == 0, (r.out, r.err)
    r = cli("mail", "retry", "--all", "--status", "dead", "--json")
    assert r.code == 0 and r.json["retried"] == 0, (r.out, r.err)

    r = cli("mail", "retry", "--all")
    assert r.code == 0, r.err
    assert f"{len(rows)} mail due now" in r.out
    assert {(m["status"], m["attempts"]) for m in outbox(seeded)} == {("pending", 0)}
    r = cli("mail", "send", "--json")
    assert r.json["sent"] == len(rows), (r.out, r.err)
    assert sorted(smtp_server.handler.message_ids()) == sorted(m["message_id"] for m in rows)
    assert cli("mail", "retry", "--all", "--json").json["retried"] == 0  # sent mail stays sent


def test_retry_wants_one_id_or_all(cli, seeded):
    for args in (
        ("mail", "retry"),
        ("mail", "retry", "1", "--all"),
        ("mail", "retry", "1", "--status", "dead"),
    ):
        r = cli(*args)
        assert r.code == 2, (args, r.out, r.err)
        assert "either one mail ID or --all" in r.err
    r = cli("mail", "retry", "--all", "--since", "yesterday")
    assert r.code == 4 and "--since" in r.err, (r.out, r.err)
    r = cli("--as", "aud", "mail", "retry", "--all")
    assert r.code == 4 and "auditor" in r.err, (r.out, r.err)

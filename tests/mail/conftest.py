"""Fixtures for the mail tests: a REAL SMTP server (aiosmtpd on 127.0.0.1, a free port) whose
handler stores what arrived and can answer scripted codes, a self-signed certificate made at test
time, and applications configured to deliver to that server.

Nothing about SMTP is mocked: hanport's aiosmtplib client talks to aiosmtpd over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from hanport.bootstrap import App
from hanport.config import SmtpSettings
from tests.support import PINNED, START, make_app

ROOT = Path(__file__).resolve().parents[2]
HOLD_LIMIT = 30.0  # the longest a held DATA waits for the test to release it


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@dataclass
class Arrival:
    """One message the server accepted (250 to DATA)."""

    peer: Any
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool = False
    login: Any = None  # what the authenticator returned, when the client logged in


@dataclass
class Refusal:
    stage: str  # RCPT | DATA
    peer: Any
    address: str
    reply: str


@dataclass
class Handler:
    """Stores every accepted message; answers from a script when told to.

    ``data_script``: replies for successive DATA commands (``"451 4.3.0 try later"``…); once
    empty, DATA is accepted with 250. ``rcpt_refuse``: address → reply for RCPT TO.
    ``hold``: after storing a message, DATA does not answer until ``release`` is set (or
    ``HOLD_LIMIT`` passes) — the client can be killed in between.
    """

    arrivals: list[Arrival] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    data_script: list[str] = field(default_factory=list)
    rcpt_refuse: dict[str, str] = field(default_factory=dict)
    hold: bool = False
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    ehlo_peers: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.ehlo_peers.append(session.peer)
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.rcpt_refuse.get(address)
        if reply:
            with self.lock:
                self.refusals.append(Refusal("RCPT", session.peer, address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            reply = self.data_script.pop(0) if self.data_script else None
        if reply is not None and not reply.startswith("250"):
            with self.lock:
                self.refusals.append(
                    Refusal("DATA", session.peer, ",".join(envelope.rcpt_tos), reply)
                )
            return reply
        content = envelope.content
        if isinstance(content, str):  # pragma: no cover - decode_data is off
            content = content.encode("utf-8")
        with self.lock:
            self.arrivals.append(
                Arrival(
                    session.peer,
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    content,
                    tls=session.ssl is not None,
                    login=session.auth_data if session.authenticated else None,
                )
            )
        if self.hold:
            self.held.set()
            deadline = time.monotonic() + HOLD_LIMIT
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        return "250 2.0.0 OK queued"

    # what the tests read

    def message_ids(self) -> list[str]:
        from email import message_from_bytes, policy

        return [
            str(message_from_bytes(a.content, policy=policy.default)["Message-ID"])
            for a in self.arrivals
        ]

    def connections(self) -> set[Any]:
        """Distinct client connections that delivered at least one message."""
        return {a.peer for a in self.arrivals}


class SmtpServer:
    """aiosmtpd on 127.0.0.1: ``start`` / ``stop`` (restartable on the same port)."""

    def __init__(
        self,
        port: int | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        **smtp_parameters: Any,
    ) -> None:
        """``tls_context``: offer STARTTLS; ``ssl_context``: implicit TLS (SMTPS);
        ``smtp_parameters``: more aiosmtpd.smtp.SMTP options (``authenticator`` …)."""
        self.port = port or free_port()
        self.handler = Handler()
        self.tls_context = tls_context
        self.require_starttls = require_starttls
        self.ssl_context = ssl_context
        self.smtp_parameters = smtp_parameters
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = dict(self.smtp_parameters)
        if self.tls_context is not None:
            kwargs.update(tls_context=self.tls_context, require_starttls=self.require_starttls)
        if self.ssl_context is not None:
            kwargs.update(ssl_context=self.ssl_context)
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10.0, **kwargs
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            # a held DATA must not keep the server's loop from stopping
            self.handler.release.set()
            with contextlib.suppress(Exception):
                self.controller.stop()
            self.controller = None

    def settings(self, **over: Any) -> SmtpSettings:
        """hanport's SMTP settings for this server (plain, no STARTTLS unless overridden)."""
        kw: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "starttls": False,
            "timeout": 10.0,
        }
        kw.update(over)
        return SmtpSettings(**kw)


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpServer]]:
    """Build servers (not started); every one is stopped at teardown."""
    made: list[SmtpServer] = []

    def factory(**kw: Any) -> SmtpServer:
        s = SmtpServer(**kw)
        made.append(s)
        return s

    yield factory
    for s in made:
        s.stop()


@pytest.fixture
def smtp_server(smtp_factory: Callable[..., SmtpServer]) -> SmtpServer:
    """A running plain SMTP server that stores what arrives."""
    return smtp_factory().start()


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


@pytest.fixture(scope="session")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for localhost / 127.0.0.1, made now with openssl."""
    folder = tmp_path_factory.mktemp("cert")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Cert(cert, key)


@pytest.fixture
def make_mail_app(seeded: App, db_url: str, tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Applications on the seeded database with mail settings of the test's choosing
    (``smtp=…``, ``mail_max_attempts=…``); the Maildir is always under tmp_path."""
    made: list[App] = []

    def factory(now: str = START, **over: Any) -> App:
        over.setdefault("maildir", str(tmp_path / "maildir"))
        a = make_app(db_url, now=now, **over)
        made.append(a)
        return a

    yield factory
    for a in made:
        a.close()


def hanport_env(db_url: str, folder: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``python -m hanport`` subprocess: only our HANPORT_* variables."""
    config = folder / "hanport.toml"
    if not config.exists():
        config.write_text("", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANPORT_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "HANPORT_DATABASE_URL": db_url,
            "HANPORT_ROLES": "cw=caseworker,aud=auditor",
            **PINNED,
            "HANPORT_USER": "cw",
            "HANPORT_CONFIG": str(config),
            "HANPORT_MAILDIR": str(folder / "maildir"),
        }
    )
    env.update(extra)
    return env


def hanport_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hanport", *args]

"""The mail outbox after commit: delivery with retries, and a caseworker's retry (the caseworker's
view of it is in :mod:`hanport.queries.mail`).

Delivery claims a batch of due rows (``sending`` with a lease), sends them outside any
transaction, then records each outcome. A row is marked ``sent`` only after the server accepted
it; a crash between the server's acceptance and that record leaves the row ``sending`` until its
lease ends, and it is sent once more — the same message with the same Message-ID (at most one
duplicate). Temporary failures retry with exponential backoff; a permanent refusal or too many
attempts make the row ``dead`` and flag the case ``mail_dead``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hanport import failpoints
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict, NotFound, Refused
from hanport.notifications import message
from hanport.notifications.delivery import (
    ACCEPTED,
    PERMANENT,
    MaildirTransport,
    SmtpTransport,
    Transport,
)
from hanport.retry import on_conflict
from hanport.service import load, roles
from hanport.service.commands import DeliverMail, RetryMail, RetryWaitingMail
from hanport.service.policy import decision_for
from hanport.service.unit import transaction
from hanport.service.writer import write
from hanport.storage.engine import sqlite_file
from hanport.storage.errors import Conflict as StorageConflict
from hanport.storage.errors import operational
from hanport.storage.repositories.outbox import MailRow
from hanport.storage.uow import Repositories
from hanport.workflows.definition import Actor

LEASE = timedelta(minutes=5)
MAILER = Actor.system("system", "mailer")


@dataclass
class MailReport:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    details: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def maildir(app: App) -> Path:
    """``HANPORT_MAILDIR``, else a ``maildir`` folder beside an SQLite database file."""
    if app.settings.maildir:
        return Path(app.settings.maildir)
    database = sqlite_file(app.settings.database_url)
    if database:
        return Path(database).resolve().parent / "maildir"
    return Path("maildir").resolve()


def transport(app: App) -> Transport:
    s = app.settings.smtp
    if s.host:
        return SmtpTransport(
            s.host,
            s.port,
            s.username,
            s.password,
            s.starttls,
            s.implicit_tls,
            s.verify,
            s.ca_file,
            s.timeout,
        )
    return MaildirTransport(maildir(app))


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def deliver(app: App, actor: Actor | None = None, cmd: DeliverMail | None = None) -> MailReport:
    """Send every due mail, a batch per connection, until none is left. Each outcome is
    recorded as soon as the server has answered for that message, so a crash re-sends at most
    the one message whose answer was not yet recorded."""
    report = MailReport()
    tx = transport(app)
    s = app.settings
    size = (cmd or DeliverMail()).batch
    for _ in range(1000):
        now = app.clock.now()
        rows = on_conflict(lambda now=now: _claim(app, now, size))  # type: ignore[misc]
        if not rows:
            break
        failpoints.reached(app, "mail.claimed")
        linked = _links(app)
        msgs = [
            message.build(linked(r), sender_name=s.sender_name, sender_address=s.sender_address)
            for r in rows
        ]
        with _Recorder(app, now, report, rows) as rec:
            outcomes = tx.send(msgs, rec.record)
        if all(o.status != ACCEPTED for o in outcomes):
            break  # the server is down or refusing: leave the rest for the next tick
    return report


def _links(app: App) -> Callable[[MailRow], dict[str, Any]]:
    """A row as its message is built: the links' placeholders signed (the outbox keeps the
    placeholders, never a token), or left out where no link secret is configured."""
    from hanport import links

    signer = links.LinkSigner.from_app(app) if app.settings.link_secret else None

    def built(r: MailRow) -> dict[str, Any]:
        row = r._asdict()
        for part in ("body_text", "body_html"):
            body = row[part]
            if body and "[[link:" in body:
                row[part] = signer.fill(body, r.created_at) if signer else links.strip(body)
        return row

    return built


def _claim(app: App, now: datetime, limit: int) -> list[MailRow]:
    with transaction(app, immediate=True) as uow:
        rows = uow.outbox.claim(now, limit, LEASE)
        uow.commit()
    return rows


class _Recorder:
    """Records delivery outcomes one message at a time on a held connection. On SQLite that
    connection commits with ``synchronous=NORMAL``: a commit survives a killed process (what
    the at-most-one-duplicate promise is about) at a fraction of an fsync's cost; only a power
    cut could lose the latest marks, and a lost mark means a re-send, never a lost mail."""

    def __init__(self, app: App, now: datetime, report: MailReport, rows: list[MailRow]) -> None:
        self.app, self.now, self.report, self.rows = app, now, report, rows

    def __enter__(self) -> _Recorder:
        self.conn = self.app.engine.connect()
        self.sqlite = self.conn.dialect.name == "sqlite"
        if self.sqlite:  # outside any transaction: on the driver's connection
            self.conn.connection.driver_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[union-attr]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.conn.in_transaction():
                self.conn.rollback()
            if self.sqlite:  # back to the pool as every other connection is
                self.conn.connection.driver_connection.execute("PRAGMA synchronous=FULL")  # type: ignore[union-attr]
        finally:
            self.conn.close()

    def record(self, index: int, outcome: Any) -> None:
        failpoints.reached(self.app, "mail.before_record")

        def write() -> None:
            try:
                with self.conn.begin():
                    self._write(Repositories(self.conn), self.rows[index], outcome)
            except Exception as exc:
                if not operational(exc):
                    raise
                raise Conflict(str(exc)) from None  # busy: another writer holds the database

        on_conflict(write)
        failpoints.reached(self.app, "mail.message_recorded")

    def _write(self, repos: Repositories, r: MailRow, o: Any) -> None:
        now, report = self.now, self.report
        if o.status == ACCEPTED:
            repos.outbox.sent(r.id, now, r.attempts + 1)
            report.sent += 1
            return
        attempts = r.attempts + 1
        if o.status == PERMANENT or attempts >= self.app.settings.mail_max_attempts:
            repos.outbox.failed(r.id, "dead", attempts, o.detail[:2000])
            _flag_dead(self.app, repos, r.case_id, now)
            report.dead += 1
            report.details.append(f"mail #{r.id} dead: {o.detail}")
        else:
            repos.outbox.failed(r.id, "pending", attempts, o.detail[:2000], now + backoff(attempts))
            report.retrying += 1
            report.details.append(f"mail #{r.id} retry after {backoff(attempts)}: {o.detail}")


def _flag_dead(app: App, repos: Repositories, case_id: int, now: datetime) -> None:
    """Flag the case; a caseworker changing it at the same moment only delays the flag (a
    savepoint keeps the delivery records, which must not be lost)."""
    for _ in range(20):
        decision = decision_for(app, MAILER, now, repos)
        case = load.into(decision, repos.cases.load("id", [case_id]))[case_id]
        if "mail_dead" in case.flags:
            return
        try:
            with repos.conn.begin_nested():
                decision.fire(case, "flag_mail_dead", {})
                write(app, repos, decision)
            return
        except (Conflict, StorageConflict):
            time.sleep(0.05)
    raise Conflict(f"could not flag case {case_id} mail_dead: it keeps changing")


def retry_mail(app: App, actor: Actor, cmd: RetryMail) -> dict[str, Any]:
    """Put a dead (or waiting) mail back in line for the next delivery."""
    roles.require_writer(actor)
    with transaction(app) as uow:
        row = uow.outbox.get(cmd.mail_id)
        if row is None:
            raise NotFound(f"mail {cmd.mail_id} not found")
        if row.status == "sent":
            raise Refused(
                f"mail {cmd.mail_id} was already sent at {isoformat_utc(row.sent_at)}"  # type: ignore[arg-type]
            )
        if row.status == "no_address":
            raise Refused(
                f"mail {cmd.mail_id} has no recipient: update the customer's e-mail first"
            )
        uow.outbox.retry(cmd.mail_id, app.clock.now(), f"retry requested by {actor.name}")
        uow.commit()
    return {"id": cmd.mail_id, "status": "pending"}


WAITING = ("pending", "dead")  # what ``retry --all`` makes due: never sending, sent, no_address


def retry_waiting(app: App, actor: Actor, cmd: RetryWaitingMail) -> dict[str, Any]:
    """Make every mail waiting out its backoff (and every dead one) due now — after an SMTP
    outage, before ``mail send``. A mail being sent, sent, or without a recipient is left."""
    roles.require_writer(actor)
    if cmd.status is not None and cmd.status not in WAITING:
        raise Refused(
            f"--status: {cmd.status!r} cannot be retried (one of: {', '.join(WAITING)})",
            field="status",
        )
    statuses = (cmd.status,) if cmd.status else WAITING
    now = app.clock.now()
    with transaction(app) as uow:
        count = uow.outbox.retry_waiting(
            now, statuses, cmd.since, f"retry requested by {actor.name}"
        )
        uow.commit()
    return {
        "retried": count,
        "statuses": list(statuses),
        "since": cmd.since and isoformat_utc(cmd.since),
    }

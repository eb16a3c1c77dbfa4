"""Delivering messages: SMTP with aiosmtplib (several messages per connection), or a Maildir
folder when no SMTP server is configured.

A transport takes a batch of messages and says, per message, whether it was accepted, failed for
now (retry later) or failed for good. It never touches the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hanport.notifications.message import Outgoing

ACCEPTED, TEMPORARY, PERMANENT = "accepted", "temporary", "permanent"


@dataclass(frozen=True)
class Outcome:
    status: str  # accepted | temporary | permanent
    detail: str = ""


# Called with the message's index and its outcome as soon as it is known.
OnOutcome = Callable[[int, Outcome], None]


class Transport(Protocol):
    name: str

    def send(self, messages: Sequence[Outgoing], on_outcome: OnOutcome) -> list[Outcome]: ...


class MaildirTransport:
    """Writes each message into a Maildir folder (``new/``), created if missing."""

    name = "maildir"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def send(self, messages: Sequence[Outgoing], on_outcome: OnOutcome) -> list[Outcome]:
        for sub in ("tmp", "new", "cur"):  # also when the folder exists but is empty
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        box = mailbox.Maildir(self.folder, create=False)
        out = []
        for i, msg in enumerate(messages):
            try:
                box.add(msg.data)
                outcome = Outcome(ACCEPTED, f"maildir {self.folder}")
            except OSError as exc:
                outcome = Outcome(TEMPORARY, f"maildir: {exc}")
            on_outcome(i, outcome)
            out.append(outcome)
        return out


@dataclass
class SmtpTransport:
    """aiosmtplib over one connection per batch: STARTTLS or implicit TLS, authentication,
    certificate checks on unless turned off, timeouts."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool = True
    implicit_tls: bool = False
    verify: bool = True
    ca_file: str | None = None
    timeout: float = 30.0
    name: str = "smtp"

    def send(self, messages: Sequence[Outgoing], on_outcome: OnOutcome) -> list[Outcome]:
        return asyncio.run(self._send(messages, on_outcome))

    def _client(self) -> Any:
        import aiosmtplib

        context = None
        if self.ca_file:
            context = ssl.create_default_context(cafile=self.ca_file)
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            start_tls=self.starttls and not self.implicit_tls,
            validate_certs=self.verify,
            tls_context=context,
            timeout=self.timeout,
        )

    async def _send(self, messages: Sequence[Outgoing], on_outcome: OnOutcome) -> list[Outcome]:
        import aiosmtplib

        outcomes = _Outcomes(on_outcome)
        smtp = self._client()
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            for _ in messages:
                outcomes.append(
                    Outcome(TEMPORARY, f"cannot connect to {self.host}:{self.port}: {exc}")
                )
            return outcomes
        try:
            for i, msg in enumerate(messages):
                try:
                    await smtp.sendmail(
                        msg.sender,
                        [msg.recipient],
                        msg.data,
                        mail_options=["SMTPUTF8"] if msg.needs_smtputf8 else None,
                    )
                    outcomes.append(Outcome(ACCEPTED, f"smtp {self.host}"))
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    codes = [r.code for r in exc.recipients]
                    status = PERMANENT if codes and all(c >= 500 for c in codes) else TEMPORARY
                    outcomes.append(Outcome(status, f"recipient refused: {codes} {exc}"))
                    await _reset(smtp)
                except aiosmtplib.SMTPDataError as exc:
                    # The server refused this message's content for good (5xx) or for now.
                    status = PERMANENT if exc.code >= 500 else TEMPORARY
                    outcomes.append(Outcome(status, f"{exc.code} {exc.message}"))
                    await _reset(smtp)
                except aiosmtplib.SMTPResponseException as exc:
                    # Refused before the recipient (sender, STARTTLS required, …): a problem of
                    # the connection or configuration, not of this mail — retry later.
                    outcomes.append(Outcome(TEMPORARY, f"{exc.code} {exc.message}"))
                    await _reset(smtp)
                except (aiosmtplib.SMTPException, OSError) as exc:
                    # The connection is gone: this and the remaining messages wait for a retry.
                    for _ in range(len(messages) - i):
                        outcomes.append(Outcome(TEMPORARY, f"connection lost: {exc}"))
                    return outcomes
        finally:
            try:
                await smtp.quit()
            except Exception:
                smtp.close()
        return outcomes


class _Outcomes(list[Outcome]):
    """The outcomes in order, each reported the moment it is appended."""

    def __init__(self, on_outcome: OnOutcome) -> None:
        super().__init__()
        self.on_outcome = on_outcome

    def append(self, outcome: Outcome) -> None:
        self.on_outcome(len(self), outcome)
        super().append(outcome)


async def _reset(smtp: object) -> None:
    """Clear a refused transaction so the next message can go on the same connection."""
    with contextlib.suppress(Exception):
        await smtp.rset()  # type: ignore[attr-defined]

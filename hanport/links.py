"""The customer's signed links: a key to one case for one purpose, until a date.

A notice names a link by a placeholder (``[[link:status:HAN-2026-000001:nb]]``): that is what
the outbox keeps, what ``mail show`` shows and what an export or a log line could carry — never
a token. The token is made when the message is built for delivery (``fill``), signed with
``HANPORT_LINK_SECRET`` (itsdangerous, an HMAC over the claim; one salt per purpose, so a
status link cannot be replayed as an objection), and it expires a fixed number of days after
the notice was written: a retry or a duplicate after a crash is the same message, byte for
byte. Expiry is checked against the application's clock.

Keys rotate: ``HANPORT_LINK_SECRET`` may list several keys, comma-separated, the first signing
and every one verifying — add the new key in front, and drop the old one once the links it
signed have expired.

Purposes, and the page each opens (``/{lang}/{route}/{token}``): ``status`` (read the case's
state), ``object`` (stop an opening the customer did not ask for), ``withdraw`` (withdraw the
consent: the port closes), ``confirm`` (confirm a close request made on the web form).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from hanport.errors import Refused

# How long each link works after its notice was written.
VALID_DAYS = {"status": 180, "object": 30, "withdraw": 365, "confirm": 14}
PURPOSES = tuple(VALID_DAYS)
LANGUAGES = ("nb", "nn", "en")
PLACEHOLDER = re.compile(r"\[\[link:(\w+):([A-Z0-9-]{1,40}):(nb|nn|en)\]\]")


class LinkInvalid(Exception):
    """A link that was not made here for this purpose (tampered, truncated, another key)."""


class LinkExpired(Exception):
    """A genuine link past its date."""


@dataclass(frozen=True)
class Claim:
    case: str
    purpose: str
    expires_at: datetime


def keys_of(secret: str) -> list[str]:
    """The keys of a ``HANPORT_LINK_SECRET``: the signing one first."""
    return [k.strip() for k in secret.split(",") if k.strip()]


def placeholder(purpose: str, case_ref: str, language: str) -> str:
    """What a notice carries where a link goes."""
    if purpose not in VALID_DAYS:
        raise ValueError(f"no link purpose {purpose!r}")
    return f"[[link:{purpose}:{case_ref}:{language if language in LANGUAGES else 'nb'}]]"


class LinkSigner:
    def __init__(self, secret: str, base_url: str, now: Callable[[], datetime]) -> None:
        keys = keys_of(secret)
        # itsdangerous signs with the last key of the list and verifies with every one.
        self._serializers = {
            p: URLSafeSerializer(list(reversed(keys)), salt=f"hanport-link-{p}") for p in VALID_DAYS
        }
        self.base_url = base_url.rstrip("/")
        self._now = now

    @classmethod
    def from_app(cls, app: Any) -> LinkSigner:
        """The application's signer; ``Refused`` when no link secret is configured."""
        s = app.settings
        if not s.link_secret:
            raise Refused(
                "no HANPORT_LINK_SECRET is configured: the customer's links cannot be read",
                field="link_secret",
            )
        return cls(s.link_secret, s.web_base_url, app.clock.now)

    def token(self, case_ref: str, purpose: str, written_at: datetime) -> str:
        expires = written_at + timedelta(days=VALID_DAYS[purpose])
        return str(self._serializers[purpose].dumps({"c": case_ref, "e": int(expires.timestamp())}))

    def url(self, case_ref: str, purpose: str, language: str, written_at: datetime) -> str:
        return f"{self.base_url}/{language}/{purpose}/{self.token(case_ref, purpose, written_at)}"

    def read(self, token: str, purpose: str) -> Claim:
        """The claim of a token made for ``purpose``; ``LinkInvalid`` or ``LinkExpired``."""
        serializer = self._serializers.get(purpose)
        if serializer is None or len(token) > 512:
            raise LinkInvalid(purpose)
        try:
            data = serializer.loads(token)
            case, expires = str(data["c"]), datetime.fromtimestamp(int(data["e"]), UTC)
        except (BadSignature, KeyError, TypeError, ValueError):
            raise LinkInvalid(purpose) from None
        if self._now() >= expires:
            raise LinkExpired(purpose)
        return Claim(case, purpose, expires)

    def fill(self, body: str, written_at: datetime) -> str:
        """``body`` with each placeholder replaced by its signed link."""
        return PLACEHOLDER.sub(
            lambda m: self.url(m.group(2), m.group(1), m.group(3), written_at), body
        )


def strip(body: str) -> str:
    """``body`` with each placeholder's line left out (no key configured: no links)."""
    return "\n".join(line for line in body.split("\n") if not PLACEHOLDER.search(line))

"""The web listener's settings, read from ``HANPORT_WEB_*`` environment variables (the engine's
settings, the database among them, come from :mod:`hanport.config` as for every command).

===============================  ===========================================================
``HANPORT_WEB_TRUSTED_PROXIES``  addresses (or CIDR ranges) of reverse proxies whose
                                 ``X-Forwarded-For`` is believed; empty (default): none, the
                                 peer address is the client
``HANPORT_WEB_RATE_LIMIT``       form posts per client address, ``30/minute`` (default);
                                 units second, minute, hour, day
``HANPORT_WEB_RATE_STORE``       where the rate limit's counters live: unset (default), in each
                                 process; ``redis://host:port/db`` shares them between the
                                 processes and machines that serve (Litestar's Redis store)
``HANPORT_WEB_MAX_BODY``         largest request body in bytes (default 65536): larger → 413
``HANPORT_WEB_CSRF_SECRET``      the CSRF token's signing secret (default: made at start and
                                 shared by the workers of one ``hanport serve``)
``HANPORT_WEB_COOKIE_SECURE``    ``1`` behind TLS: the CSRF cookie only travels over HTTPS
``HANPORT_WEB_PROCESS_EVERY``    seconds between the server's own intake passes (default 2;
                                 0: leave intakes to ``hanport scheduler`` / ``hanport tick``)
===============================  ===========================================================
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hanport.errors import Refused

Unit = Literal["second", "minute", "hour", "day"]
_UNITS: tuple[Unit, ...] = ("second", "minute", "hour", "day")
CSRF_SECRET_ENV = "HANPORT_WEB_CSRF_SECRET"


@dataclass(frozen=True)
class WebSettings:
    trusted_proxies: tuple[str, ...] = ()
    rate_limit: tuple[Unit, int] = ("minute", 30)
    rate_store: str | None = None  # redis://… when several processes or machines serve
    max_body: int = 65536
    csrf_secret: str = ""
    cookie_secure: bool = False
    process_every: float = 2.0


def _proxies(text: str) -> tuple[str, ...]:
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise Refused(
                f"HANPORT_WEB_TRUSTED_PROXIES: {item!r} is not an address or CIDR range",
                field="trusted_proxies",
            ) from None
        out.append(item)
    return tuple(out)


def _rate(text: str) -> tuple[Unit, int]:
    count, _, unit = text.strip().partition("/")
    unit = unit.strip().lower().rstrip("s")
    if not count.strip().isdigit() or int(count) < 1 or unit not in _UNITS:
        raise Refused(
            f"HANPORT_WEB_RATE_LIMIT: {text!r} is not N/unit (e.g. 30/minute; units "
            + ", ".join(_UNITS)
            + ")",
            field="rate_limit",
        )
    return next(u for u in _UNITS if u == unit), int(count)


def _store(text: str) -> str | None:
    url = text.strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://")):
        raise Refused(
            f"HANPORT_WEB_RATE_STORE: {url!r} is not a redis:// or rediss:// address",
            field="rate_store",
        )
    return url


def _positive(name: str, text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if value < 0:
        raise Refused(f"{name}: {text!r} is not a non-negative number", field=name)
    return value


def load(env: Mapping[str, str] | None = None) -> WebSettings:
    """The web settings from the environment; a CSRF secret is made when none is given."""
    env = os.environ if env is None else env
    max_body = int(_positive("HANPORT_WEB_MAX_BODY", env.get("HANPORT_WEB_MAX_BODY", "65536"), int))
    return WebSettings(
        trusted_proxies=_proxies(env.get("HANPORT_WEB_TRUSTED_PROXIES", "")),
        rate_limit=_rate(env.get("HANPORT_WEB_RATE_LIMIT", "30/minute")),
        rate_store=_store(env.get("HANPORT_WEB_RATE_STORE", "")),
        max_body=max(max_body, 1024),
        csrf_secret=env.get(CSRF_SECRET_ENV) or secrets.token_urlsafe(32),
        cookie_secure=env.get("HANPORT_WEB_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
        process_every=_positive(
            "HANPORT_WEB_PROCESS_EVERY", env.get("HANPORT_WEB_PROCESS_EVERY", "2"), float
        ),
    )

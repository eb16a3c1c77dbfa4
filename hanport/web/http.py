"""The ASGI layer around the Litestar application: security headers on every response (404s
included), the access log (method, redacted path, status, duration — no address, no query, no
token), and the latency histogram."""

from __future__ import annotations

import logging
import time
from typing import Any

from hanport.web import metrics
from hanport.web.paths import redact, route

ACCESS = logging.getLogger("hanport.web.access")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class Edge:
    """Wraps the application: headers, access log and latency for every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            took = time.perf_counter() - start
            path = scope.get("path", "")
            metrics.LATENCY.labels(scope.get("method", ""), route(path)).observe(took)
            ACCESS.info(
                "%s %s %s %.1fms", scope.get("method"), redact(path), status["code"], took * 1000
            )

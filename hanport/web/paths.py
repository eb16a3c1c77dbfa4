"""Paths as logs and metrics may show them: the language folded, a signed link's token redacted
(a token is a key to the case: it never reaches a log line)."""

from __future__ import annotations

from hanport.web.texts import LANGUAGES

TOKEN_ROUTES = ("status", "withdraw", "object", "confirm")


def redact(path: str) -> str:
    """``/nb/status/eyJ…`` → ``/nb/status/{token}``; anything after a token route too."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part in TOKEN_ROUTES and i + 1 < len(parts) and parts[i + 1]:
            return "/".join([*parts[: i + 1], "{token}"])
    return path


def route(path: str) -> str:
    """The metric label: the redacted path with the language folded, unknown paths one label."""
    red = redact(path)
    parts = red.split("/")
    if len(parts) > 1 and parts[1] in LANGUAGES:
        parts[1] = "{lang}"
    folded = "/".join(parts)
    known = ("/", "/healthz", "/readyz", "/{lang}", "/{lang}/", "/static/site.css")
    if folded in known or folded.startswith("/{lang}/"):
        return folded if len(folded) <= 40 else "other"
    return "other"

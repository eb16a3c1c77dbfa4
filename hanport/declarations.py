"""The consent declaration texts by version and language, and the digest of each text (what
the register shows a consent was given against)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files


@cache
def text(version: str, language: str = "nb") -> str | None:
    """The declaration ``version`` in ``language`` (Norwegian when there is none in it)."""
    folder = files("hanport.templates").joinpath("declarations")
    for lang in (language, "nb"):
        f = folder.joinpath(f"{version}.{lang}.txt")
        if f.is_file():
            return f.read_text(encoding="utf-8")
    return None


@cache
def digest(version: str | None, language: str | None = "nb") -> str | None:
    """SHA-256 of the declaration's text (None: no such version)."""
    body = text(version, language or "nb") if version else None
    return hashlib.sha256(body.encode("utf-8")).hexdigest() if body is not None else None

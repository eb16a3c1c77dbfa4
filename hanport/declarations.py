"""The consent declaration texts by version and language, and the digest of each text (what
the register shows a consent was given against)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from hanport.workflows.fragments import SECURITY_OPTIONS

# The declaration each form shows now (a new text is a new version file beside the old ones:
# a consent keeps the version and the digest of the text it was given against).
CURRENT: dict[str, str] = {"nore_order": "v2"}

# How the meter is secured, as the form offers it (the declaration's options).
SECURITY_LABELS: dict[str, tuple[str, ...]] = {
    "nb": (
        "Inne i boligen",
        "I et låsbart rom",
        "I et låsbart skap",
        "I et låsbart felles målerrom",
    ),
    "nn": (
        "Inne i bustaden",
        "I eit låsbart rom",
        "I eit låsbart skap",
        "I eit låsbart felles målarrom",
    ),
    "en": (
        "Inside the home",
        "In a lockable room",
        "In a lockable cabinet",
        "In a lockable shared meter room",
    ),
}


@dataclass(frozen=True)
class Declaration:
    """A declaration as a form shows it: the text in full, its digest, the options to choose."""

    form: str
    version: str
    language: str  # the language of ``text`` (bokmål where there is none in the one asked)
    title: str
    text: str
    sha256: str
    options: tuple[tuple[str, str], ...]


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


@cache
def texts() -> tuple[tuple[str, str, str], ...]:
    """(version, language, SHA-256) of every declaration text there is."""
    folder = files("hanport.templates").joinpath("declarations")
    found = []
    for f in folder.iterdir():
        version, _, language = f.name.removesuffix(".txt").rpartition(".")
        if f.name.endswith(".txt") and version:
            found.append((version, language, digest(version, language) or ""))
    return tuple(sorted(found))


def _language(version: str, language: str) -> str:
    folder = files("hanport.templates").joinpath("declarations")
    return language if folder.joinpath(f"{version}.{language}.txt").is_file() else "nb"


@cache
def current(form: str, language: str = "nb") -> Declaration:
    """The declaration ``form`` shows now, in ``language``; ``LookupError`` for a form that
    has none (the swap order and the close request)."""
    version = CURRENT.get(form)
    if version is None:
        raise LookupError(f"the form {form!r} carries no declaration")
    lang = _language(version, language)
    body = text(version, lang)
    if body is None:
        raise LookupError(f"no declaration text {version}")
    title, _, rest = body.partition("\n\n")
    labels = SECURITY_LABELS.get(language, SECURITY_LABELS["nb"])
    return Declaration(
        form=form,
        version=version,
        language=lang,
        title=title.strip(),
        text=rest.strip(),
        sha256=hashlib.sha256(body.encode("utf-8")).hexdigest(),
        options=tuple(zip(SECURITY_OPTIONS, labels, strict=True)),
    )

"""Rendering a page: the template, the language's texts and what every page shares."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template

from hanport.web.texts import LANGUAGES, texts

LANGUAGE_NAMES = {"nb": "Bokmål", "nn": "Nynorsk", "en": "English"}


def other_languages(path: str, lang: str) -> list[tuple[str, str, str]]:
    """(code, name, href) of the same page in the other languages (a token path keeps it)."""
    rest = path.split("/", 2)[2] if path.count("/") >= 2 else ""
    return [(code, LANGUAGE_NAMES[code], f"/{code}/{rest}") for code in LANGUAGES if code != lang]


def page(
    request: Request[Any, Any, Any], name: str, lang: str, status: int = 200, **context: Any
) -> Template:
    contact = request.app.state.contact
    return Template(
        template_name=name,
        context={
            "lang": lang,
            "t": texts(lang),
            "contact": contact,
            "languages": other_languages(request.url.path, lang),
            **context,
        },
        status_code=status,
        media_type="text/html; charset=utf-8",
    )

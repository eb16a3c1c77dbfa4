"""Rendering notices with Jinja2: subject, plain text and HTML from one content template per
notice and language (``templates/mail/<lang>/<notice>.j2``).

A content template defines the blocks ``subject`` and ``body`` (plain paragraphs separated by a
blank line) and extends ``<lang>/_base.j2``, which adds the footer every notice carries (how to
withdraw the consent or close the port, the security advice, the sender's contact) and extends
the layout chosen at render time: ``_layout.txt.j2`` or ``_layout.html.j2``. The same blocks are
rendered twice, by two environments built once: one without escaping for the text part, one with
autoescaping for the HTML part, so neither part can carry the other's markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

from jinja2 import Environment, TemplateNotFound, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from hanport.templates import environment

LANGUAGES = ("nb", "en")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MissingTemplate(LookupError):
    pass


@cache
def _env(html: bool) -> Environment:
    env = environment("mail", autoescape=html)
    env.filters["paragraphs"] = _paragraphs
    env.filters["wrap"] = wrap
    env.filters["local_date"] = local_date
    env.filters["local_datetime"] = local_datetime
    env.globals["link"] = _link
    return env


@pass_context
def _link(ctx: Context, purpose: str) -> str:
    """Where a signed link goes: its placeholder (:mod:`hanport.links`; the token is made when
    the message is built for delivery, so the outbox never holds one)."""
    from hanport.links import placeholder

    return placeholder(purpose, str(ctx["case_ref"]), str(ctx.get("language", "nb")))


@lru_cache(maxsize=4096)  # the footer's paragraphs repeat in every notice of a language
def wrap(text: str, width: int = 76) -> str:
    """Greedy word wrap of each line at ``width`` for the plain-text part: words are never broken
    (a long URL keeps its line) and a line's leading indentation is kept. On single-spaced
    lines (the ``paragraphs`` filter makes them) it gives ``textwrap``'s result with
    ``break_long_words=False, break_on_hyphens=False`` (tested), at a fraction of its cost: that
    was half of a notice's rendering time."""
    out: list[str] = []
    for line in text.splitlines():
        body = line.lstrip()
        words = body.split()
        if not words:
            out.append("")
            continue
        indent = line[: len(line) - len(body)]
        # (an indented first word too long for the line loses its indentation, as in textwrap)
        current = (indent if len(indent) + len(words[0]) <= width else "") + words[0]
        for word in words[1:]:
            if len(current) + 1 + len(word) <= width:
                current += " " + word
            else:
                out.append(current)
                current = word
        out.append(current)
    return "\n".join(out)


MONTHS = {
    "nb": (
        "januar",
        "februar",
        "mars",
        "april",
        "mai",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def _oslo(value: str | date | datetime) -> date | datetime:
    from zoneinfo import ZoneInfo

    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo("Europe/Oslo"))
    return value


def local_date(value: str | date | datetime, lang: str = "nb") -> str:
    """``14. april 2026`` / ``14 April 2026`` (Europe/Oslo)."""
    d = _oslo(value)
    month = MONTHS.get(lang, MONTHS["nb"])[d.month - 1]
    return f"{d.day}. {month} {d.year}" if lang == "nb" else f"{d.day} {month} {d.year}"


def local_datetime(value: str | datetime, lang: str = "nb") -> str:
    """``29. mars 2026 kl. 01.00`` / ``29 March 2026 at 01:00`` (Europe/Oslo)."""
    d = _oslo(value)
    assert isinstance(d, datetime)
    if lang == "nb":
        return f"{local_date(d, lang)} kl. {d:%H.%M}"
    return f"{local_date(d, lang)} at {d:%H:%M}"


def _paragraphs(value: str) -> list[str]:
    """Split a rendered body into paragraphs (blank-line separated), lines re-joined. Already
    escaped HTML stays marked safe, so it is not escaped twice."""
    text = str(value)
    paras = [" ".join(line.strip() for line in p.strip().splitlines()) for p in text.split("\n\n")]
    wrap = Markup if isinstance(value, Markup) else str
    return [wrap(p) for p in paras if p]


def _name(notice: str, language: str) -> str:
    return f"{language if language in LANGUAGES else 'nb'}/{notice}.j2"


def notices() -> tuple[str, ...]:
    """Every notice that has a template in every language."""
    env = _env(False)
    names: dict[str, set[str]] = {}
    for full in env.list_templates(extensions=["j2"]):
        lang, _, file = full.partition("/")
        if lang in LANGUAGES and not file.startswith("_"):
            names.setdefault(file[: -len(".j2")], set()).add(lang)
    return tuple(sorted(n for n, langs in names.items() if langs == set(LANGUAGES)))


def render(notice: str, language: str, context: Mapping[str, Any]) -> Rendered:
    """Render one notice; ``MissingTemplate`` when there is none for it."""
    name = _name(notice, language)
    out = {}
    for kind, html in (("text", False), ("html", True)):
        env = _env(html)
        try:
            tmpl = env.get_template(name)
        except TemplateNotFound:
            raise MissingTemplate(f"no template {name} for notice {notice!r}") from None
        layout = f"_layout.{'html' if html else 'txt'}.j2"
        ctx = tmpl.new_context({"links": False, **context, "layout": layout, "language": language})
        out[kind] = env.concat(tmpl.root_render_func(ctx))
        if kind == "text":  # the subject block, from the same context
            out["subject"] = " ".join("".join(tmpl.blocks["subject"](ctx)).split())
    return Rendered(out["subject"], out["text"].strip() + "\n", out["html"])

"""The pages: the front page, the three forms (shown, validated, submitted as intakes) and the
receipt. The signed-link pages are in :mod:`hanport.web.links`."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect

from hanport.errors import Conflict
from hanport.web import metrics
from hanport.web.forms import FORM_TOKEN, FORMS, HONEYPOT, Form, valid_form_token, validate
from hanport.web.problems import problem
from hanport.web.render import page
from hanport.web.texts import DEFAULT, LANGUAGES


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise NotFoundException()
    return lang


def _form(slug: str) -> Form:
    if slug not in FORMS:
        raise NotFoundException()
    return FORMS[slug]


@get("/", sync_to_thread=False)
def root() -> Redirect:
    return Redirect(f"/{DEFAULT}/")


@get("/{lang:str}/", sync_to_thread=False)
def index(request: Request[Any, Any, Any], lang: str) -> Any:
    return page(request, "index.html", _lang(lang))


def _declaration(request: Request[Any, Any, Any], form: Form, lang: str) -> Any:
    try:
        return request.app.state.engine.declaration(form.name, lang)
    except LookupError:  # the swap order and the close request carry no declaration
        return None


async def _show(request: Request[Any, Any, Any], form: Form, lang: str, **ctx: Any) -> Any:
    decl = _declaration(request, form, lang)
    status = 422 if ctx.get("errors") else 200
    engine = request.app.state.engine
    # The swap queue's wait is a database read: in a worker thread, within the slots, never on
    # the event loop (a slow read must not hold up the other requests).
    wait = await engine.call(engine.swap_wait) if form.slug == "swap" else None
    return page(
        request,
        f"{form.slug}.html",
        lang,
        status,
        form=form,
        declaration=decl,
        form_token=secrets.token_urlsafe(24),
        values=ctx.get("values", {}),
        errors=ctx.get("errors", {}),
        wait=wait,
    )


@get("/{lang:str}/{slug:str}")
async def show_form(request: Request[Any, Any, Any], lang: str, slug: str) -> Any:
    return await _show(request, _form(slug), _lang(lang))


def _fields(body: bytes) -> dict[str, str] | None:
    """The posted fields, or None for a body that is not UTF-8 form data."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=40, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None
    return dict(pairs)


@post("/{lang:str}/{slug:str}", status_code=200)
async def submit(request: Request[Any, Any, Any], lang: str, slug: str) -> Any:
    lang, form = _lang(lang), _form(slug)
    given = _fields(await request.body())
    if given is None:
        return problem(request, "encoding", 400, lang)
    token = given.get(FORM_TOKEN, "")
    if not valid_form_token(token):
        return problem(request, "bad_request", 400, lang)
    if given.get(HONEYPOT):
        metrics.INTAKES.labels(form.name, "honeypot").inc()
        return page(request, "receipt.html", lang)  # the same receipt; nothing kept
    decl = _declaration(request, form, lang)
    options = tuple(v for v, _ in decl.options) if decl is not None else ()
    values, errors = validate(form, given, options)
    if errors:
        metrics.INTAKES.labels(form.name, "invalid").inc()
        for name in errors:
            metrics.VALIDATION.labels(form.name, name).inc()
        return await _show(request, form, lang, values=values, errors=errors)
    return await _keep(request, form, lang, values, token, decl)


async def _keep(
    request: Request[Any, Any, Any],
    form: Form,
    lang: str,
    values: dict[str, str],
    token: str,
    decl: Any,
) -> Any:
    engine = request.app.state.engine
    fields = {k: v for k, v in values.items() if v}

    def run() -> Any:
        return engine.submit(
            form.name, fields, form_token=token, language=lang, declaration=decl, client=None
        )

    try:
        done = await engine.call(run)
    except Conflict:
        metrics.INTAKES.labels(form.name, "busy").inc()
        return problem(request, "busy", 503, lang)
    metrics.INTAKES.labels(form.name, "duplicate" if done.duplicate else "accepted").inc()
    return page(request, "receipt.html", lang)

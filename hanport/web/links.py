"""The pages behind the customer's signed links: the request's status, and the confirmation
pages of what a link does (object, withdraw, confirm a close) — shown on GET, done on POST
(a link opened by a mail scanner or a preview changes nothing), each in the page's language.

A tampered or foreign link gets 404 and an expired one 410, with a page saying what to do; the
token never reaches a log line (:mod:`hanport.web.paths`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException

from hanport.calendar import OSLO
from hanport.errors import Conflict
from hanport.web.engine import LINK_REFUSALS, is_expired, is_link_error
from hanport.web.problems import problem
from hanport.web.render import page
from hanport.web.texts import LANGUAGES

ACTIONS = {"object": "object", "withdraw": "withdraw", "confirm": "confirm_close"}


def _lang(lang: str) -> str:
    if lang not in LANGUAGES:
        raise NotFoundException()
    return lang


def _purpose(purpose: str) -> str:
    if purpose not in ACTIONS:
        raise NotFoundException()
    return purpose


def _local(at: datetime, lang: str) -> str:
    local = at.astimezone(OSLO)
    return local.strftime("%d.%m.%Y %H:%M" if lang != "en" else "%Y-%m-%d %H:%M")


def _refused(request: Request[Any, Any, Any], exc: Exception, lang: str) -> Any:
    """The page for a link the signer refused, or a server with no link key configured."""
    if is_link_error(exc):
        expired = is_expired(exc)
        key = "expired" if expired else "invalid"
        return page(request, "link_problem.html", lang, 410 if expired else 404, key=key)
    return problem(request, "links_off", 503, lang)


@get("/{lang:str}/status/{token:str}")
async def status(request: Request[Any, Any, Any], lang: str, token: str) -> Any:
    lang = _lang(lang)
    engine = request.app.state.engine
    try:
        view = await engine.call(engine.status, token, lang)
    except LINK_REFUSALS as exc:
        return _refused(request, exc, lang)
    return page(
        request,
        "status.html",
        lang,
        view=view,
        opened=_local(view.opened_at, lang),
        updated=_local(view.updated_at, lang),
        until=_local(view.expires_at, lang),
    )


@get("/{lang:str}/{purpose:str}/{token:str}", sync_to_thread=False)  # no I/O: a signature
def confirm_page(request: Request[Any, Any, Any], lang: str, purpose: str, token: str) -> Any:
    lang, purpose = _lang(lang), _purpose(purpose)
    try:
        claim = request.app.state.engine.read_link(token, purpose)
    except LINK_REFUSALS as exc:
        return _refused(request, exc, lang)
    return page(
        request,
        "act.html",
        lang,
        purpose=purpose,
        action=ACTIONS[purpose],
        token=token,
        case=claim.case,
    )


@post("/{lang:str}/{purpose:str}/{token:str}", status_code=200)
async def act(request: Request[Any, Any, Any], lang: str, purpose: str, token: str) -> Any:
    lang, purpose = _lang(lang), _purpose(purpose)
    engine = request.app.state.engine

    def run() -> Any:
        return engine.act(token, purpose, lang)

    try:
        outcome = await engine.call(run)
    except LINK_REFUSALS as exc:
        return _refused(request, exc, lang)
    except Conflict:
        return problem(request, "busy", 503, lang)
    return page(request, "acted.html", lang, outcome=outcome)

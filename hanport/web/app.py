"""The Litestar application: pages, CSRF (Litestar's middleware, a hidden field in every form),
the per-address rate limit on posts, the body-size limit, Jinja2 templates, and the edge layer
(security headers, access log, latency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar, Request
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.exceptions import HTTPException
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from hanport.bootstrap import App
from hanport.web import health, links, pages, problems
from hanport.web.engine import Engine
from hanport.web.http import Edge
from hanport.web.settings import WebSettings

HERE = Path(__file__).parent


async def _posts_only(request: Request[Any, Any, Any]) -> bool:
    # A coroutine: Litestar runs a plain function given here in a thread, for every request.
    return request.method == "POST"


def _stores(web: WebSettings) -> dict[str, Any]:
    """The rate limit's counters: per process (Litestar's memory store, its default), or in
    Redis, shared by every process and machine that serves."""
    if web.rate_store is None:
        return {}
    from litestar.stores.redis import RedisStore

    return {"rate_limit": RedisStore.with_client(url=web.rate_store, namespace="hanport-rate")}


def _templates_as_installed(engine: JinjaTemplateEngine) -> None:
    # The templates change with a release, not while serving: no stat of each template file
    # (and of the page it extends) at every render.
    engine.engine.auto_reload = False


def create(app: App, web: WebSettings) -> Litestar:
    """The Litestar application over a bootstrapped engine application."""
    csrf = CSRFConfig(
        secret=web.csrf_secret,
        cookie_name="hanport_csrf",
        cookie_secure=web.cookie_secure,
        cookie_httponly=True,
        cookie_samesite="strict",
        exclude=["/healthz", "/readyz", "/static"],
    )
    limit = RateLimitConfig(
        rate_limit=web.rate_limit, check_throttle_handler=_posts_only, store="rate_limit"
    )
    litestar = Litestar(
        route_handlers=[
            health.healthz,
            health.readyz,
            pages.root,
            pages.index,
            pages.show_form,
            pages.submit,
            links.status,
            links.confirm_page,
            links.act,
            create_static_files_router(path="/static", directories=[HERE / "static"]),
        ],
        csrf_config=csrf,
        middleware=[limit.middleware],
        template_config=TemplateConfig(
            directory=HERE / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=_templates_as_installed,
        ),
        request_max_body_size=web.max_body,
        stores=_stores(web),
        exception_handlers={HTTPException: problems.http_error, 500: problems.server_error},
        openapi_config=None,
        debug=False,
    )
    litestar.state.engine = Engine(app)
    litestar.state.contact = app.settings.sender_address
    return litestar


def asgi(app: App, web: WebSettings) -> Edge:
    """What uvicorn serves: the application inside the edge layer."""
    return Edge(create(app, web))


def warm(litestar: Litestar) -> None:
    """What the first requests would otherwise wait for, done before the worker accepts any:
    the service's command handlers imported (a form post runs one) and every template
    compiled. Measured: 0.15 s and 0.2 s, which the first posts after a start each waited."""
    import hanport.service.handlers  # noqa: F401

    engine = litestar.template_engine
    assert engine is not None  # create() configures the templates
    for template in sorted((HERE / "templates").glob("*.html")):
        engine.get_template(template.name)


def from_environment() -> Edge:
    """The uvicorn factory each worker calls (``hanport serve`` set the environment)."""
    from hanport import config
    from hanport.bootstrap import bootstrap
    from hanport.web import settings
    from hanport.web.engine import DB_THREADS

    litestar = create(bootstrap(config.load(), pool_size=DB_THREADS), settings.load())
    warm(litestar)
    return Edge(litestar)

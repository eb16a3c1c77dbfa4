"""Many form posts at once while the database makes them wait, on a real SQLite file and on
PostgreSQL: the worker's database work stays within its slots — no connection opened past the
pool the worker keeps (on PostgreSQL each new connection is a new server process), on SQLite
one write at a time waits on the database — and every post is kept once the database lets them
through."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection

from hanport.bootstrap import App, bootstrap
from hanport.queries.intakes import backlog
from hanport.storage.engine import normalise_url
from hanport.web.app import asgi
from hanport.web.engine import DB_THREADS
from hanport.web.settings import WebSettings
from tests.support import NORE_METER, START, settings_for

WEB = WebSettings(
    csrf_secret="concurrent-secret-" + "c" * 20, process_every=0, rate_limit=("minute", 1000)
)
TOKENS = re.compile(r'name="(_csrf_token|form_token)" value="([^"]+)"')
POSTS = 3 * DB_THREADS


@contextmanager
def intakes_held(url: str) -> Iterator[Connection]:
    """Another session holding what an intake's INSERT needs, until the block ends."""
    sqlite = url.startswith("sqlite")
    other = create_engine(
        normalise_url(url), **({"connect_args": {"isolation_level": None}} if sqlite else {})
    )
    try:
        with other.connect() as c:
            if sqlite:
                c.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite's one write lock
            else:
                c.begin()
                c.execute(text("LOCK TABLE intakes IN SHARE ROW EXCLUSIVE MODE"))
            yield c
            c.exec_driver_sql("ROLLBACK") if sqlite else c.rollback()
    finally:
        other.dispose()


async def _posts(app: App, web: Any, url: str) -> tuple[list[int], int]:
    # httpx's own ASGI transport: the requests truly run at once in this event loop.
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        forms = [dict(TOKENS.findall((await client.get("/en/close")).text)) for _ in range(POSTS)]
        with intakes_held(url):
            posts = [
                asyncio.ensure_future(client.post("/en/close", data={**f, "meter": NORE_METER}))
                for f in forms
            ]
            await asyncio.sleep(1.0)  # every post has reached the database, or waits for it
            held = app.engine.pool.checkedout()  # type: ignore[attr-defined]
        answers = await asyncio.wait_for(asyncio.gather(*posts), timeout=30)
    return [r.status_code for r in answers], held


def test_posts_at_once_stay_within_the_pool_and_are_all_kept(db_url: str) -> None:
    app = bootstrap(settings_for(db_url), now=START, simulated=True, pool_size=DB_THREADS)
    try:
        assert app.engine.pool.size() == DB_THREADS  # type: ignore[attr-defined]
        app.engine.dispose()  # count the connections the posts open, from none
        opened: list[int] = []
        event.listen(app.engine, "connect", lambda *_: opened.append(1))
        codes, held = asyncio.run(_posts(app, asgi(app, WEB), db_url))
        assert 1 <= held <= DB_THREADS
        if db_url.startswith("sqlite"):  # one write waits on SQLite, the rest in the process
            assert held == 1
        assert codes == [200] * POSTS
        assert backlog(app) == POSTS  # each post its own form token: each kept
        assert 1 <= len(opened) <= DB_THREADS
    finally:
        app.close()

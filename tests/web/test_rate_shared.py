"""The rate limit shared by several servers: two application instances (two machines) on one
real Redis count the same client's posts together. Skips when no Redis answers on 127.0.0.1
— unless ``HANPORT_REQUIRE_REDIS=1`` (CI), where it fails."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from litestar.testing import TestClient

from hanport.web.app import asgi
from hanport.web.settings import WebSettings
from tests.support import make_app

REDIS = "redis://127.0.0.1:6379/15"  # a database of its own, emptied first


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _tokens(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(_csrf_token|form_token)" value="([^"]+)"', html))


def test_two_servers_share_one_clients_count(tmp_path: Path) -> None:
    if not _redis_up():
        if os.environ.get("HANPORT_REQUIRE_REDIS") == "1":
            pytest.fail("no Redis at 127.0.0.1:6379 (HANPORT_REQUIRE_REDIS=1)")
        pytest.skip("no Redis at 127.0.0.1:6379")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    app = make_app(f"sqlite:///{tmp_path / 'shared.db'}")
    web = WebSettings(
        csrf_secret="shared-secret-" + "r" * 20, rate_limit=("minute", 3), rate_store=REDIS
    )
    with (
        TestClient(app=asgi(app, web)) as one,  # type: ignore[arg-type]
        TestClient(app=asgi(app, web)) as two,  # type: ignore[arg-type]
    ):
        codes = []
        for client in (one, two, one, two):
            tokens = _tokens(client.get("/nb/close").text)
            codes.append(client.post("/nb/close", data={**tokens, "meter": "x"}).status_code)
        assert codes == [422, 422, 422, 429]  # 3 a minute in all, not 3 on each
    redis.Redis.from_url(REDIS).flushdb()
    app.close()


def test_a_rate_store_that_is_not_redis_is_refused() -> None:
    from hanport.errors import Refused
    from hanport.web.settings import load

    assert load({"HANPORT_WEB_RATE_STORE": "redis://127.0.0.1:6379/2"}).rate_store
    with pytest.raises(Refused, match="RATE_STORE"):
        load({"HANPORT_WEB_RATE_STORE": "memcached://x"})

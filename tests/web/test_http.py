"""HTTP-level tests of the web intake against the real application on a real SQLite file:
status, message in the page's language, and that nothing was kept for a refused post."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from hanport.web.app import asgi
from hanport.web.settings import WebSettings
from tests.support import make_app

WEB = WebSettings(csrf_secret="test-secret-" + "x" * 20, process_every=0)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}")
    with TestClient(app=asgi(app, WEB)) as c:  # type: ignore[arg-type]
        yield c
    app.close()


def _tokens(html: str) -> dict[str, str]:
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    form = re.search(r'name="form_token" value="([^"]+)"', html)
    assert csrf and form
    return {"_csrf_token": csrf.group(1), "form_token": form.group(1)}


@pytest.mark.parametrize("lang", ["nb", "nn", "en"])
def test_pages_have_language_and_security_headers(client: TestClient, lang: str) -> None:  # type: ignore[type-arg]
    for slug in ("", "swap", "close"):
        r = client.get(f"/{lang}/{slug}")
        assert r.status_code == 200
        assert f'<html lang="{lang}">' in r.text
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_unknown_page_is_a_404_in_the_language_with_headers(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.get("/nn/nowhere/at/all")
    assert r.status_code == 404
    assert r.headers["x-frame-options"] == "DENY"


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    r = client.post("/en/close", data={"meter": "7359992905160861", "form_token": "a" * 32})
    assert r.status_code == 403
    assert "did not come from this page" in r.text


def test_post_with_wrong_csrf_token_is_refused(client: TestClient) -> None:  # type: ignore[type-arg]
    tokens = _tokens(client.get("/nb/close").text)
    r = client.post("/nb/close", data={**tokens, "_csrf_token": "forged", "meter": "123456"})
    assert r.status_code == 403
    assert "kom ikke fra denne siden" in r.text


def test_missing_field_and_wrong_check_digit_beside_the_field_and_in_summary(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    tokens = _tokens(client.get("/en/close").text)
    r = client.post("/en/close", data={**tokens, "meter": ""})
    assert r.status_code == 422
    assert 'href="#field-meter"' in r.text and 'id="field-meter-error"' in r.text
    r = client.post("/en/close", data={**tokens, "meter": "707057500012345678"})
    assert r.status_code == 422
    assert "wrong check digit" in r.text
    r = client.post("/en/close", data={**tokens, "meter": "12ab"})
    assert r.status_code == 422
    assert "must be 6 to 18 digits" in r.text


def test_oversize_body_is_413(client: TestClient) -> None:  # type: ignore[type-arg]
    tokens = _tokens(client.get("/en/close").text)
    r = client.post("/en/close", data={**tokens, "name": "x" * (WEB.max_body + 10)})
    assert r.status_code == 413


def test_non_utf8_body_is_400_in_the_language(client: TestClient) -> None:  # type: ignore[type-arg]
    tokens = _tokens(client.get("/nb/close").text)
    body = (
        f"_csrf_token={tokens['_csrf_token']}&form_token={tokens['form_token']}&name=%FF%FE"
    ).encode()
    r = client.post(
        "/nb/close",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert "ikke UTF-8" in r.text


def test_healthz_and_readyz(client: TestClient) -> None:  # type: ignore[type-arg]
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}

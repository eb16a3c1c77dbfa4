"""The edge layer and the pieces that hold without the engine: the honeypot's silent receipt,
the access log's redaction, the metrics' counts, validation of a name holding a script."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from hanport.web import metrics
from hanport.web.app import asgi
from hanport.web.forms import NORE, validate
from hanport.web.paths import redact, route
from hanport.web.settings import WebSettings, load
from tests.support import make_app

WEB = WebSettings(csrf_secret="edge-secret-" + "y" * 20, process_every=0)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:  # type: ignore[type-arg]
    app = make_app(f"sqlite:///{tmp_path / 'web.db'}")
    with TestClient(app=asgi(app, WEB)) as c:  # type: ignore[arg-type]
        yield c
    app.close()


def _tokens(html: str) -> dict[str, str]:
    found = dict(re.findall(r'name="(_csrf_token|form_token)" value="([^"]+)"', html))
    assert set(found) == {"_csrf_token", "form_token"}
    return found


def test_honeypot_gets_the_receipt_and_is_counted(client: TestClient) -> None:  # type: ignore[type-arg]
    before = metrics.INTAKES.labels("close_request", "honeypot")._value.get()
    tokens = _tokens(client.get("/en/close").text)
    r = client.post("/en/close", data={**tokens, "meter": "7359992905160861", "website": "x"})
    assert r.status_code == 200 and "We have received your request" in r.text
    assert metrics.INTAKES.labels("close_request", "honeypot")._value.get() == before + 1


def test_validation_failures_are_counted_by_field(client: TestClient) -> None:  # type: ignore[type-arg]
    before = metrics.VALIDATION.labels("close_request", "meter")._value.get()
    tokens = _tokens(client.get("/nb/close").text)
    assert client.post("/nb/close", data={**tokens, "meter": "x"}).status_code == 422
    assert metrics.VALIDATION.labels("close_request", "meter")._value.get() == before + 1


def test_access_log_redacts_tokens_and_keeps_no_address(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="hanport.web.access"):
        client.get("/nb/status/eyJzZWNyZXQiOiJ0b2tlbiJ9.abc?x=1")
    lines = [r.getMessage() for r in caplog.records if r.name == "hanport.web.access"]
    assert lines and "/nb/status/{token}" in lines[-1]
    assert "eyJ" not in lines[-1] and "x=1" not in lines[-1] and "testclient" not in lines[-1]


def test_redaction_and_route_labels() -> None:
    assert redact("/en/close/confirm/abc.def") == "/en/close/confirm/{token}"
    assert redact("/nn/withdraw/t0k3n") == "/nn/withdraw/{token}"
    assert route("/nn/withdraw/t0k3n") == "/{lang}/withdraw/{token}"
    assert route("/wp-admin/x.php") == "other"


def test_a_script_in_a_name_is_kept_as_typed_and_escaped_when_shown(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    given = {"signer_name": "<script>alert(1)</script>", "meter": "bad"}
    values, errors = validate(NORE, given)
    assert values["signer_name"] == "<script>alert(1)</script>" and "signer_name" not in errors
    tokens = _tokens(client.get("/en/nore").text)
    r = client.post("/en/nore", data={**tokens, **given})
    assert r.status_code == 422
    assert "<script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_web_settings_refuse_what_cannot_be_used() -> None:
    from hanport.errors import Refused

    assert load({"HANPORT_WEB_RATE_LIMIT": "5/second"}).rate_limit == ("second", 5)
    with pytest.raises(Refused, match="TRUSTED_PROXIES"):
        load({"HANPORT_WEB_TRUSTED_PROXIES": "proxy.example"})
    with pytest.raises(Refused, match="RATE_LIMIT"):
        load({"HANPORT_WEB_RATE_LIMIT": "lots"})


def test_rate_limit_refuses_posts_past_the_limit_with_a_page(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'rate.db'}")
    web = WebSettings(csrf_secret="rate-secret-" + "z" * 20, rate_limit=("minute", 2))
    before = metrics.RATE_LIMITED._value.get()
    with TestClient(app=asgi(app, web)) as c:  # type: ignore[arg-type]
        tokens = _tokens(c.get("/nn/close").text)
        codes = [c.post("/nn/close", data={**tokens, "meter": "x"}).status_code for _ in range(3)]
        assert codes == [422, 422, 429]
        last = c.post("/nn/close", data={**tokens, "meter": "x"})
        assert last.status_code == 429 and "mange skjema" in last.text
        assert c.get("/nn/close").status_code == 200  # pages stay readable
    app.close()
    assert metrics.RATE_LIMITED._value.get() == before + 2


def test_swap_page_shows_the_queues_expected_wait(client: TestClient) -> None:  # type: ignore[type-arg]
    # No installations yet: the configured 1–2 months, in weeks as the notice gives them.
    assert "about 4–9 weeks" in client.get("/en/swap").text

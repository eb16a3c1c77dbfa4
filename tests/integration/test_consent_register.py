"""The consent register (``consent list``) from the history, on both backends: it agrees with
the consents' own rows today, answers for a past moment as the history stood then, filters, and
is refused to a caseworker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.service.reads import consent_register
from tests.support import NORE_POINT, NORE_POINT_2, actor, advance, consent, open_case


def _open_with_consent(app: App, customer: str, point: str, **over: str) -> str:
    fields = consent(received_at=app.clock.now().isoformat(), **over)
    return open_case(
        app, actor(app), "nore_open", customer=customer, metering_point=point, fields=fields
    ).case


def _rows(app: App) -> list[tuple[int, bool, bool, str | None]]:
    """(id, opened, ended, end reason) of the consents' own rows."""
    with app.engine.connect() as c:
        got = c.execute(
            text("SELECT id, opened_at, ended_at, end_reason FROM consents ORDER BY id")
        ).all()
    return [(r[0], r[1] is not None, r[2] is not None, r[3]) for r in got]


def test_register_agrees_with_the_rows_and_answers_for_the_past(seeded: App) -> None:
    app, sup = seeded, actor(seeded, "sup")
    before = app.clock.now()
    opened = _open_with_consent(app, "1001", NORE_POINT)
    advance(app, actor(app), opened, "confirm_open")
    app.clock.set(before + timedelta(hours=2))
    middle = app.clock.now()
    app.clock.set(before + timedelta(hours=3))
    cancelled = _open_with_consent(
        app, "1005", NORE_POINT_2, signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631"
    )
    advance(app, actor(app), cancelled, "cancel", {"reason": "customer changed their mind"})
    everything = consent_register(app, sup)
    assert [
        (r["consent"], r["opened_at"] is not None, not r["live"], r["end_reason"])
        for r in everything
    ] == _rows(app)
    now = [r for r in everything if r["source"] == "case"]
    assert [(r["case"], r["live"]) for r in now] == [(opened, True), (cancelled, False)]
    assert now[0]["opened_at"] and now[0]["channel"] == "form" and now[0]["declaration_sha256"]
    assert opened in [r["case"] for r in consent_register(app, sup, live=True)]
    assert [r["case"] for r in consent_register(app, sup, live=False)] == [cancelled]
    earlier = consent_register(app, sup, at=before - timedelta(minutes=1))
    assert [r["source"] for r in earlier] == ["legacy_import"] * len(earlier)
    then = consent_register(app, actor(app, "aud"), at=middle)
    assert [(r["case"], r["live"]) for r in then if r["case"]] == [(opened, True)]
    assert [r["case"] for r in consent_register(app, sup, point=NORE_POINT_2)] == [cancelled]
    assert [r["case"] for r in consent_register(app, sup, customer="1001")] == [opened]
    assert all("signer_name" not in r for r in now)


def test_a_caseworker_is_refused(seeded: App) -> None:
    with pytest.raises(Refused, match="the consent register is for privacy"):
        consent_register(seeded, actor(seeded))

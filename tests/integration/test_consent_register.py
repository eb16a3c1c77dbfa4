"""The consent register (``consent list``) from the history, on both backends: it agrees with
the consents' own rows today, answers for a past moment as the history stood then, filters, and
is refused to a caseworker; it is what folding the events gives (the register before the
consent timeline, kept as the oracle), at every moment, with the JSON the database builds the
same as the rows; and ``audit verify`` finds the timeline the writer wrote as the events tell."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.queries import audit
from hanport.service.reads import consent_register, consent_register_json
from tests.integration.register_oracle import old_register
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


FILTERS: list[dict[str, object]] = [
    {},
    {"live": True},
    {"live": False},
    {"point": NORE_POINT},
    {"customer": "1001"},
    {"customer": "1005", "live": False},
]


def assert_as_the_events_tell(app: App, moments: list[datetime | None]) -> None:
    """At each moment, with each filter: the register is the oracle's, and its JSON (built by
    the database) the same rows."""
    sup = actor(app, "sup")
    for at in moments:
        for f in FILTERS:
            got = consent_register(app, sup, at=at, **f)  # type: ignore[arg-type]
            assert got == old_register(app.engine, at, **f), (at, f)  # type: ignore[arg-type]
            texts = consent_register_json(app, sup, at=at, **f)  # type: ignore[arg-type]
            assert [json.loads(t) for t in texts] == got, (at, f)


def test_register_is_what_the_events_give_at_every_moment(seeded: App) -> None:
    """The imported open ports' legacy consents; a consent given and the port opened; one
    refused at the address check: at every instant of the history, and just before each."""
    app, cw, sup = seeded, actor(seeded), actor(seeded, "sup")
    start = app.clock.now()

    def tick() -> None:
        app.clock.set(app.clock.now() + timedelta(minutes=7, microseconds=250))

    opened = _open_with_consent(app, "1001", NORE_POINT)
    tick()
    advance(app, cw, opened, "confirm_open")
    tick()
    refused = _open_with_consent(
        app, "1005", NORE_POINT_2, signer_name="Nils Li", address="Feil vei 1", postal_code="3631"
    )
    tick()
    advance(app, sup, refused, "reject", {"reason": "not the customer's address"})
    with app.engine.connect() as c:
        instants = [r[0] for r in c.execute(text("SELECT DISTINCT occurred_at FROM case_events"))]
    moments: list[datetime | None] = [None, start - timedelta(seconds=1)]
    for raw in instants:
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
        at = at.replace(tzinfo=at.tzinfo or UTC)
        moments += [at, at - timedelta(microseconds=1)]
    assert_as_the_events_tell(app, moments)
    ended = [r["case"] for r in consent_register(app, sup, live=False)]
    assert ended == [refused]
    report = audit.verify(app)
    assert report.ok, report.problems

"""``customer export`` (an access request, GDPR art. 15) on both backends: complete by
construction — every table and column of ``PERSONAL_COLUMNS`` is covered by a part of the
export, and a value in each of them for the customer appears in the JSON — nothing of another
customer's, every read logged with the purpose 'access request', the roles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, text

from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.queries import export_words
from hanport.queries.customer_export import COVERED, PARTS
from hanport.queries.customer_export_html import to_html
from hanport.service import run
from hanport.service.commands import ProcessIntakes, ResolveIntake, SubmitIntake
from hanport.service.reads import customer_export
from hanport.storage.personal import PERSONAL_COLUMNS
from hanport.storage.tables import METADATA
from hanport.storage.views import reading
from hanport.storage.views.access import AccessFilter
from hanport.web.engine import PROCESSOR, WEB
from tests.support import (
    NORE_METER,
    NORE_POINT,
    actor,
    advance,
    consent,
    deliver,
    open_case,
    update_customer,
)

KARI = "1001"


def test_every_personal_table_and_column_is_covered_by_a_part() -> None:
    """A table with personal columns the export does not map fails here: add a ``Part``."""
    missing = {
        f"{table}.{column}"
        for table, columns in PERSONAL_COLUMNS.items()
        for column in columns
        if column not in COVERED.get(table, {})
    }
    assert not missing, f"customer export covers no part for {sorted(missing)}: add a Part"
    sections = {p.section for p in PARTS}
    for table, columns in COVERED.items():
        assert table in PERSONAL_COLUMNS, f"{table}: not a table of PERSONAL_COLUMNS"
        for column, (section, _key) in columns.items():
            assert column in PERSONAL_COLUMNS[table], f"{table}.{column}: not personal"
            assert section in sections


def test_every_state_has_words() -> None:
    from hanport import workflows

    for wf in workflows.WORKFLOWS.values():
        assert wf.name in export_words.WORKFLOWS, wf.name
        for s in wf.states:
            assert export_words.state_words(wf.name, s.name) != s.name, (wf.name, s.name)


def _history_of_kari(app: App) -> dict[str, str]:
    """Kari's story through the service layer: a changed e-mail, a consent by e-mail with the
    port opened, a note, the mails delivered, a close on request. Their case references."""
    cw, sup = actor(app), actor(app, "sup")
    update_customer(app, cw, KARI, email="kari.nordmann@example.no")
    fields = consent(channel="email", from_email="kari.nordmann@example.no")
    opened = open_case(app, cw, "nore_open", customer=KARI, metering_point=NORE_POINT).case
    advance(app, cw, opened, "request_consent")
    advance(app, cw, opened, "record_consent", fields, note="Kari ringte og bekreftet")
    advance(app, cw, opened, "confirm_open")
    deliver(app)
    closed = open_case(
        app, cw, "close_port", customer=KARI, meter_number=NORE_METER, channel="phone"
    ).case
    advance(app, sup, closed, "verify_identity", {"method": "bankid"})
    advance(app, cw, closed, "confirm_close")
    # A web form about the point after the close: nothing to close, so a caseworker settles it.
    run(app, WEB, SubmitIntake("close_request", {"meter": NORE_METER}, "k" * 24, "nb"))
    run(app, PROCESSOR, ProcessIntakes())
    run(app, cw, ResolveIntake(1, "Ringte Kari: porten var allerede stengt"))
    return {"opened": opened, "closed": closed}


def _mark_every_personal_column(app: App) -> dict[str, str]:
    """Overwrite every personal column of every row with a marker of its own (as short as
    the column allows, a JSON string where it is unbounded, so JSON columns still parse); the
    markers by ``table.column``. A table with no row to mark fails: seed one."""
    markers: dict[str, str] = {}
    n = 0
    with app.engine.begin() as conn:
        for table, columns in PERSONAL_COLUMNS.items():
            rows = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert rows, f"{table}: no row to mark — seed one in _history_of_kari"
            for column in columns:
                n += 1
                marker = f"⟦{n:02d}⟧"
                col_type = METADATA.tables[table].c[column].type
                bounded = isinstance(col_type, String) and col_type.length is not None
                value = marker if bounded else json.dumps(marker, ensure_ascii=False)
                conn.execute(text(f"UPDATE {table} SET {column} = :v"), {"v": value})
                markers[f"{table}.{column}"] = marker
    return markers


def test_the_export_holds_every_personal_value_and_nothing_of_others(seeded: App) -> None:
    app = seeded
    refs = _history_of_kari(app)
    dpo = actor(app, "dpo")
    x = customer_export(app, dpo, KARI)
    dumped = json.dumps(x, ensure_ascii=False)
    for value in ("Kari Nordmann", "kari.nordmann@example.no", "Sentrumsvegen 5", "+4791234567"):
        assert value in dumped, value
    for other in ("Ola Hansen", "ola@example.no", "Storgata 12B", "Nils Li", "Siri Berg"):
        assert other not in dumped, other
    assert [c["case"] for c in x["cases"]] == [refs["opened"], refs["closed"]]
    assert "Kari ringte og bekreftet" in [n["text"] for n in x["notes"]]
    assert x["mails"] and all(m["recipient"] for m in x["mails"])
    (k,) = x["consents"]
    assert k["declaration_text"] and k["declaration_sha256"] and k["end_reason"] == "withdrawn"
    assert k["from_email"] == "kari.nordmann@example.no"
    states = [t["state"] for p in x["port_timeline"] for t in p["timeline"]]
    assert "open" in states and states[-1] == "closed"
    # Every personal column: a value of its own in it appears in the export.
    markers = _mark_every_personal_column(app)
    marked = json.dumps(customer_export(app, dpo, KARI), ensure_ascii=False)
    absent = sorted(col for col, marker in markers.items() if marker not in marked)
    assert not absent, f"personal values not in the export: {absent}"


def test_every_read_is_logged_as_an_access_request_and_listed(seeded: App) -> None:
    app = seeded
    _history_of_kari(app)
    with reading(app.engine) as views:
        before = len(views.access.listing(AccessFilter(limit=100_000)))
    x = customer_export(app, actor(app, "sup"), KARI)
    with reading(app.engine) as views:
        new = views.access.listing(AccessFilter(limit=100_000))[before:]
    assert new and {(r.actor, r.command, r.purpose) for r in new} == {
        ("sup", "customer export", "access request")
    }
    assert {r.subject for r in new} == {KARI}
    # The export lists its own reads among them: when and why, never by whom.
    listed = x["reads"]
    assert sum(r["purpose"] == "access request" for r in listed) == len(new)
    assert all(set(r) == {"at", "role", "role_words", "command", "purpose", "purpose_words",
                          "what", "what_words"} for r in listed)  # fmt: skip
    assert '"sup"' not in json.dumps(listed)


@pytest.mark.parametrize("who", ["cw", "aud"])
def test_only_privacy_and_supervisors_export(seeded: App, who: str) -> None:
    with pytest.raises(Refused, match="privacy or a supervisor"):
        customer_export(seeded, actor(seeded, who), KARI)
    with pytest.raises(NotFound):
        customer_export(seeded, actor(seeded, "dpo"), "9999")


def test_the_html_is_norwegian_and_self_contained(seeded: App, tmp_path: Path) -> None:
    _history_of_kari(seeded)
    page = to_html(customer_export(seeded, actor(seeded, "dpo"), KARI))
    assert '<html lang="nb">' in page
    for needle in ("Dine opplysninger", "Samtykker", "Porten er åpnet", "Kari Nordmann",
                   "innsynsforespørselen din", "Kari ringte og bekreftet"):  # fmt: skip
        assert needle in page, needle
    for outside in ("<script", "http://", "https://", "src="):
        assert outside not in page, outside


def _json(x: Any) -> str:
    return json.dumps(x, ensure_ascii=False)

"""``hanport consent list`` at the command line: table, CSV and JSON; refused to a caseworker."""

from __future__ import annotations

from tests.e2e.cli import Hanport, consent_sets
from tests.support import NORE_POINT


def test_consent_list_formats_and_roles(hp: Hanport) -> None:
    ref = hp.call(
        "case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT,
        *consent_sets(),
    ).ok().json["case"]  # fmt: skip
    rows = hp.call("consent", "list", "--live", user="sup").ok().json
    ours = [r for r in rows if r["case"] == ref]
    assert len(ours) == 1 and ours[0]["metering_point"] == NORE_POINT and ours[0]["live"]
    shown = hp.call("consent", "list", "--point", NORE_POINT, user="aud", as_json=False).ok().out
    assert ref in shown and shown.startswith("CONSENT")
    csv_out = hp.call("consent", "list", "--format", "csv", user="sup", as_json=False).ok().out
    assert csv_out.splitlines()[0].startswith("consent;metering_point;customer;case")
    assert ref in csv_out
    hp.refused(4, "consent", "list", says="the consent register is for privacy")
    hp.refused(4, "consent", "list", "--at", "yesterday", user="sup")

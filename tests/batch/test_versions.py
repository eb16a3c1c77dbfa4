"""The nightly batch over cases of both nore_open versions, on SQLite and PostgreSQL: a move
ends a v1 opening in flight and a v2 opening waiting in its identity review alike — both
cancelled, their consents ended (``move_out``), nothing left open — and the chains verify and
replay under the version each event was made by."""

from __future__ import annotations

from pathlib import Path

from hanport.bootstrap import App
from hanport.entrypoints.tick import tick
from hanport.queries import audit
from tests.batch.helpers import (
    PAST,
    case,
    consents,
    hes,
    opening_in_flight_1001,
    point,
    row,
    run_file,
    write_file,
)
from tests.support import NORE_POINT, NORE_POINT_2, actor, advance, consent, make_app, open_case


def test_a_move_ends_openings_of_both_versions(seeded: App, tmp_path: Path) -> None:
    v1 = opening_in_flight_1001(seeded)  # the suite's pin: v1
    v2_app = make_app(seeded.settings.database_url, workflow_versions={})
    try:
        v2 = open_case(
            v2_app,
            actor(v2_app),
            "nore_open",
            customer="1005",
            metering_point=NORE_POINT_2,
            fields=consent(signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631"),
        ).case
        assert (case(v2_app, v2)["workflow_version"], case(v2_app, v2)["state"]) == (
            2,
            "identity_review",  # Nils has no e-mail on file
        )
        lines = [
            row("d-1", NORE_POINT, "move_out", PAST, "1001"),
            row("d-2", NORE_POINT_2, "move_out", PAST, "1005"),
        ]
        report = run_file(v2_app, write_file(tmp_path / "t.csv", lines))
        assert report.applied == 2, report.outcomes
        tick(v2_app)
        for ref, version in ((v1, 1), (v2, 2)):
            row_ = case(v2_app, ref)
            assert (row_["state"], row_["workflow_version"]) == ("cancelled", version)
        for gsrn in (NORE_POINT, NORE_POINT_2):
            assert [c["end_reason"] for c in consents(v2_app, gsrn)] == ["move_out"]
        assert [(h["action"], h["status"]) for h in hes(v2_app, v1)] == [("open", "cancelled")]
        closes = [o["case"] for o in report.outcomes if o["case"] not in (v1, v2)]
        for ref in closes:
            if case(v2_app, ref)["state"] == "closing":
                advance(v2_app, actor(v2_app), ref, "confirm_close")
        assert {point(v2_app, g)["han_port"] for g in (NORE_POINT, NORE_POINT_2)} == {"closed"}
        assert audit.verify(v2_app).ok
        assert not [r.case for r in audit.replay(v2_app) if r.divergences]
    finally:
        v2_app.close()

"""The release of nore_open v2 while two Nore openings are in flight on v1: a supervisor
migrates them (dry run, then apply), and the next requests start on v2 — the objection window,
the identity review, an objection."""

from __future__ import annotations

from dataclasses import replace

from hanport import service
from hanport.demo.stage import SUPERVISOR, Story, _consent, advance, open_case
from hanport.service.commands import MigrateCases

INGRID, TOR, ANDERS = "707057500000001015", "707057500000001022", "707057500000001039"


def in_flight(s: Story) -> tuple[str, str]:
    """Two openings on v1, still the version new cases start on."""
    app, cw = s.app, s.actor()
    s.say("Two Nore openings on nore_open v1, still the version new cases start on")
    ingrid = s.step(
        "  Ingrid orders an opening; her consent is asked for",
        lambda: open_case(app, cw, "nore_open", customer="20010", metering_point=INGRID),
    )
    advance(app, cw, ingrid.case, "request_consent")
    tor = s.step(
        "  a form for Tor's meter gives his old address",
        lambda: open_case(
            app,
            cw,
            "nore_open",
            customer="20011",
            metering_point=TOR,
            fields=_consent("Tor Lunde", "Gamlevegen 1", "3630", received_at=s.now_iso()),
        ),
    )
    return ingrid.case, tor.case


def migrate(s: Story) -> None:
    """Release v2, then move the live v1 cases to it: a dry run, then the real run."""
    app, boss = s.app, s.actor(SUPERVISOR)
    app.settings = replace(app.settings, workflow_versions={})
    s.say(
        "nore_open v2 released: new Nore cases start on v2 (the objection window, the identity review)"
    )
    dry = service.run(app, boss, MigrateCases("nore_open", 1, 2))
    done = service.run(app, boss, MigrateCases("nore_open", 1, 2, apply=True))
    if dry.migrated != done.migrated or done.refused:
        s.problems.append("the migration's dry run differs from its real run, or refused cases")
    s.say(
        f"  {SUPERVISOR}: workflow migrate nore-open --from 1 --to 2 --all — dry run "
        f"{len(dry.migrated)} cases, then applied {len(done.migrated)}:"
    )
    for m in done.migrated:
        kept = ", ".join(m["timers_kept"]) or "none"
        s.say(f"    {m['case']} {m['state_from']} → {m['state_to']} (timers kept: {kept})")


def on_v2(s: Story, ingrid: str, tor: str) -> None:
    app, cw, boss = s.app, s.actor(), s.actor(SUPERVISOR)
    s.wait(hours=1)
    s.step(
        "  Ingrid's form consent arrives: she is told at her e-mail on file, the window runs",
        lambda: advance(
            app,
            cw,
            ingrid,
            "record_consent",
            _consent("Ingrid Bakke", "Bjørkevegen 3", "3630", received_at=s.now_iso()),
        ),
    )
    s.step(
        "  Bjørn accepts Tor's old address",
        lambda: advance(app, boss, tor, "approve_address", note="Same dwelling, old street name"),
    )
    s.step(
        "  Anne calls Tor back on the number on file",
        lambda: advance(app, cw, tor, "confirm_identity", note="Called back on 917 65 432"),
    )
    s.step(
        "  Tor objects: his daughter ordered it without asking",
        lambda: advance(app, cw, tor, "object", {"reason": "Not ordered by the customer"}),
    )
    anders = s.step(
        "  Berit orders an opening for her father Anders, with his power of attorney (v2)",
        lambda: open_case(
            app,
            cw,
            "nore_open",
            customer="20012",
            metering_point=ANDERS,
            fields=_consent(
                "Berit Strand",
                "Elvegata 8",
                "3631",
                signer_role="power_of_attorney",
                received_at=s.now_iso(),
            ),
        ),
    )
    s.step(
        "  Anne sees the power of attorney",
        lambda: advance(
            app,
            cw,
            anders.case,
            "confirm_identity",
            note="Power of attorney seen, signed by Anders",
        ),
    )
    s.say("  ... the objection windows end without an objection")
    s.tick(days=1, minutes=1)  # Sunday 17 May + 1 working day: Monday
    s.tick(minutes=15)
    s.expect(
        ingrid, "confirmed", "Nore opening migrated from v1 to v2: objection window, then open"
    )
    s.expect(
        tor, "objected", "Migrated from v1: address and identity review, then the customer objected"
    )
    s.expect(
        anders.case, "confirmed", "Nore v2: a representative's order, identity review, then open"
    )
    s.check_port(TOR, "closed")


def release_v2(s: Story) -> None:
    ingrid, tor = in_flight(s)
    migrate(s)
    on_v2(s, ingrid, tor)

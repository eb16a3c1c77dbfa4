"""The demo's closes: on request by e-mail and by phone, a close overtaking an opening in flight,
the nightly Elhub-derived file, and the refusals a caseworker meets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hanport import service
from hanport.demo.stage import AUDITOR, Story, _consent, advance, open_case
from hanport.queries.cases import case_view
from hanport.service.cases import Result
from hanport.service.commands import (
    RunTerminations,
)


def close_by_email(s: Story, kari: Result) -> None:
    """Closing on request, by e-mail from the registered address."""
    cw = s.actor()
    app = s.app
    # Closing on request, by e-mail from the registered address.
    s.wait(days=3)
    s.say("Kari asks by e-mail to close her port, giving her meter number")
    close_kari = s.step(
        "  caseworker registers the request",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20001",
            meter_number="7359 9929 0516 0861",
            channel="email",
            from_email="kari.nordmann@example.no",
        ),
    )
    s.tick(minutes=1)
    s.tick(minutes=15)
    s.expect(close_kari.case, "closed", "Close on request (e-mail), closed by the HES")
    s.refused(
        "  she asks again the next day",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20001",
            meter_number="7359992905160861",
            channel="phone",
        ),
    )


def close_by_phone(s: Story) -> None:
    """Closing a legacy-open port by phone, identity verified by call-back."""
    cw = s.actor()
    app = s.app
    # Closing a legacy-open port by phone, identity verified by call-back.
    s.say("Siri Berg phones to close the port that was opened before the system existed")
    siri = s.step(
        "  caseworker registers the request",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20004",
            meter_number="6970631401582127",
            channel="phone",
        ),
    )
    s.step(
        "  caseworker calls back on the registered number",
        lambda: advance(
            app, cw, siri.case, "verify_identity", {"method": "callback_registered_phone"}
        ),
    )
    s.tick(minutes=1)
    s.tick(minutes=15)
    s.expect(siri.case, "closed", "Close on request (phone), legacy consent")


def close_overtakes(s: Story) -> None:
    """A close request overtakes an opening in flight."""
    cw = s.actor()
    app = s.app
    # A close request overtakes an opening in flight.
    s.say(
        "Marit Dahl (Ringerike) gets her new meter, consents, then asks to close the stream instead"
    )
    marit = s.step(
        "  caseworker registers the swap order",
        lambda: open_case(
            app, cw, "meter_swap", customer="20006", metering_point="707057500000000063"
        ),
    )
    s.step(
        "  the new meter is installed",
        lambda: advance(
            app,
            cw,
            marit.case,
            "record_installation",
            {"meter_number": "7359992905160908", "installed_at": s.now_iso()},
        ),
    )
    s.step(
        "  her consent arrives",
        lambda: advance(
            app,
            cw,
            marit.case,
            "record_consent",
            _consent("Marit Dahl", "Hønengata 7", "3513", received_at=s.now_iso()),
        ),
    )
    s.tick(minutes=1)  # the open command has left
    close_marit = s.step(
        "  she phones: close it after all",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20006",
            meter_number="7359992905160908",
            channel="phone",
        ),
    )
    s.step(
        "  identity verified (BankID)",
        lambda: advance(app, cw, close_marit.case, "verify_identity", {"method": "bankid"}),
    )
    s.say(f"  {marit.case} is now {case_view(app, marit.case)['state']}")
    s.tick(minutes=15)  # the late 'opened' acknowledgement, then the close leaves
    s.tick(minutes=15)  # the close is acknowledged
    s.expect(marit.case, "cancelled", "Swap overtaken by a close request")
    s.expect(close_marit.case, "closed", "Close request overtaking an opening: port ends closed")
    s.check_port("707057500000000063", "closed")


def nightly(s: Story, ola: str, per: str) -> None:
    """The nightly Elhub-derived file: a move, a contract end in the future, a move that is
    rolled back, a newcomer moving in, a repeated document and a bad row."""
    from hanport.service.termination_rows import BATCH_ACTOR

    app = s.app
    now = app.clock.now()
    soon, later = now + timedelta(days=5), now + timedelta(days=10)
    lines = [
        "document_id;metering_point_id;event;brs_code;effective_at;customer_id;rollback_of",
        f"elhub-0001;707057500032174572;move_out;BRS-NO-201;{now.isoformat()};20002;",
        f"elhub-0002;707057500042745649;end_of_supply;BRS-NO-202;{later.isoformat()};20003;",
        f"elhub-0003;707057500000000087;move_out;BRS-NO-211;{soon.isoformat()};20008;",
        "elhub-0004;707057500000000087;rollback;BRS-NO-221;;;elhub-0003",
        f"elhub-0005;707057500000000094;move_in;BRS-NO-201;{now.isoformat()};31001;",
        f"elhub-0001;707057500032174572;move_out;BRS-NO-201;{now.isoformat()};20002;",
        f"elhub-0006;707057500053182052;move_out;BRS-NO-201;{now.isoformat()};20001;",
    ]
    folder = Path(str(app.settings.maildir)).parent
    path = folder / "elhub-terminations.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s.say(
        f"Nightly batch: {path.name} (a move, a future contract end, a rollback, a move-in, a repeat, a bad row)"
    )
    dry = service.run(app, BATCH_ACTOR, RunTerminations(path, dry_run=True))
    report = service.run(app, BATCH_ACTOR, RunTerminations(path, details=True))
    if (dry.applied, dry.noop, dry.rejected) != (report.applied, report.noop, report.rejected):
        s.problems.append("the dry run's summary differs from the real run's")
    for o in report.outcomes:
        s.say(f"  row {o['row']} {o['document_id'] or '-'}: {o['outcome']} — {o['detail']}")
    s.say(
        f"  {report.applied} applied, {report.noop} no-op, {report.rejected} rejected (the rejects file: {Path(report.rejects_file or '').name})"
    )
    if (report.applied, report.noop, report.rejected) != (5, 1, 1):
        s.problems.append(
            f"nightly batch: expected 5 applied, 1 no-op, 1 rejected; got {report.summary()}"
        )
    refs = {o["document_id"]: o["case"] for o in report.outcomes if o["case"]}
    s.tick(minutes=1)  # the due closes leave for the HES
    s.tick(minutes=15)
    s.expect(refs["elhub-0001"], "closed", "Auto-close: Ola moved out")
    s.expect(
        refs["elhub-0005"],
        "closed",
        "Auto-close: a newcomer moved in at Lise's address (Lise told)",
    )
    s.expect(refs["elhub-0003"], "cancelled", "Auto-close rolled back before it took effect")
    s.check_port("707057500000000087", "open")
    s.say("  ... ten days later, Per's contract ends")
    s.wait(days=10)
    s.tick(minutes=1)
    s.tick(minutes=15)
    s.expect(refs["elhub-0002"], "closed", "Auto-close at a future contract end")
    s.check_port("707057500042745649", "closed")
    del ola, per


def refusals(s: Story, ola: Result) -> None:
    """Refusals a caseworker meets."""
    cw = s.actor()
    app = s.app
    # Refusals a caseworker meets.
    s.say("Refusals")
    s.refused(
        "  a Nore opening for a Ringerike metering point",
        lambda: open_case(
            app, cw, "nore_open", customer="20002", metering_point="707057500032174572"
        ),
    )
    s.refused(
        "  a close request with an unknown meter number",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20005",
            meter_number="7359992905169999",
            channel="phone",
        ),
    )
    s.refused(
        "  an opening for a metering point ID with a wrong check digit",
        lambda: open_case(
            app, cw, "nore_open", customer="20005", metering_point="707057500012345678"
        ),
    )
    wrong = s.step(
        "  Nils asks to close Kari's meter (not his)",
        lambda: open_case(
            app,
            cw,
            "close_port",
            customer="20005",
            meter_number="7359992905160861",
            channel="phone",
        ),
    )
    s.expect(wrong.case, "rejected", "Close request for another customer's meter")
    s.refused(
        "  the auditor tries to cancel a case",
        lambda: advance(app, s.actor(AUDITOR), ola.case, "cancel", {"reason": "test"}),
    )

"""The end-to-end demo: a fresh SQLite database, a realistic registry in Nore, Ringerike and Hole,
every workflow along its main path plus the refusals a caseworker meets, then the case histories.

The demo's clock is simulated and moves forward between steps. It returns False (the CLI exits
non-zero) when any case misses its expected final state or a refusal does not happen.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from hanport import commands
from hanport.bootstrap import App, bootstrap
from hanport.calendar import format_local
from hanport.casework import Actor
from hanport.config import load
from hanport.errors import HanportError
from hanport.registry import import_customers, import_points
from hanport.roles import resolve

CASEWORKER, SUPERVISOR, AUDITOR = "anne.saksbehandler", "bjorn.leder", "revisor"

CUSTOMERS = """customer_id;name;email;phone;street;postal_code;city;language;energipilot
20001;Kari Nordmann;kari.nordmann@example.no;912 34 567;Sentrumsvegen 5;3630;Rødberg;nb;no
20002;Ola Hansen;ola.hansen@example.no;+47 41234567;Storgata 12B;3510;Hønefoss;nb;yes
20003;Per Åsen;per.asen@example.no;;Vikveien 3;3530;Røyse;en;no
20004;Siri Berg;siri.berg@example.no;;Uvdalsvegen 40;3632;Uvdal;nb;no
20005;Nils Li;nils.li@example.no;;Nedre Dal 2;3631;Rødberg;nb;no
20006;Marit Dahl;marit.dahl@example.no;;Hønengata 7;3513;Hønefoss;nb;no
"""

POINTS = """metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port
707057500053182051;20001;7359992905160861;3338;Sentrumsvegen 5;3630;Rødberg;closed
707057500032174572;20002;5706567316639529;3305;Storgata 12B;3510;Hønefoss;none
707057500042745649;20003;5706567316639536;3310;Vikveien 3;3530;Røyse;none
707057500000000049;20004;6970631401582127;0633;Uvdalsvegen 40;3632;Uvdal;open
707057500000000056;20005;7359992905160878;3050;Nedre Dal 2;3631;Rødberg;closed
707057500000000063;20006;5706567316639543;3007;Hønengata 7;3513;Hønefoss;none
"""


def _consent(name: str, street: str, postal: str, **over: str) -> dict[str, str]:
    base = {
        "signer_name": name,
        "signer_role": "subscriber",
        "address": street,
        "postal_code": postal,
        "security": "inside_dwelling",
        "channel": "form",
        "declaration_version": "v2",
        "received_at": "",
    }
    base.update(over)
    return base


@dataclass
class Story:
    app: App
    as_json: bool
    expected: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)

    def actor(self, name: str = CASEWORKER) -> Actor:
        return resolve(self.app, name)

    def say(self, text: str) -> None:
        when = format_local(self.app.clock.now())
        self.log.append({"at": when, "text": text})
        if not self.as_json:
            click.echo(f"{click.style(when, fg='cyan')}  {text}")

    def wait(self, **delta: float) -> None:
        self.app.clock.advance(timedelta(**delta))  # type: ignore[attr-defined]

    def now_iso(self) -> str:
        return self.app.clock.now().isoformat()

    def step(self, text: str, fn: Callable[[], commands.Result]) -> commands.Result:
        result = fn()
        self.say(f"{text} → {result.case} {result.state}")
        return result

    def refused(self, text: str, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except HanportError as exc:
            self.say(f"{text} → refused (exit {exc.exit_code}): {exc}")
            return
        self.problems.append(f"expected a refusal: {text}")
        self.say(f"{text} → NOT refused (unexpected)")

    def expect(self, ref: str, state: str, title: str) -> None:
        self.expected[ref] = state
        self.titles[ref] = title


def _scenarios(s: Story) -> None:
    cw, sup = s.actor(), s.actor(SUPERVISOR)
    app = s.app
    advance, open_case = commands.advance, commands.open_case

    # Nore: the form carries order and consent together; the address matches.
    s.say("Nore: Kari Nordmann sends the order and consent form for her meter in Rødberg")
    kari = s.step(
        "  caseworker registers the form",
        lambda: open_case(
            app,
            cw,
            "nore_open",
            customer="20001",
            metering_point="707057500053182051",
            channel="form",
            fields=_consent("Kari Nordmann", "sentrumsvegen  5", "3630", received_at=s.now_iso()),
        ),
    )
    s.wait(hours=2)
    s.step(
        "  the vendor confirms the port was opened remotely",
        lambda: advance(app, cw, kari.case, "confirm_open"),
    )
    s.expect(kari.case, "confirmed", "Nore opening, address matches")
    s.refused(
        "  a second opening order for the same meter",
        lambda: open_case(
            app, cw, "nore_open", customer="20001", metering_point="707057500053182051"
        ),
    )

    # Nore: the address on the form is the postal address, not the installation.
    s.wait(hours=1)
    s.say("Nore: Nils Li writes 'Postboks 7' on the form; the installation is Nedre Dal 2")
    nils = s.step(
        "  caseworker asks for the consent first",
        lambda: open_case(
            app,
            cw,
            "nore_open",
            customer="20005",
            metering_point="707057500000000056",
            channel="phone",
        ),
    )
    s.step(
        "  caseworker sends the consent request",
        lambda: advance(app, cw, nils.case, "request_consent"),
    )
    s.wait(days=2)
    s.step(
        "  the consent arrives with another address",
        lambda: advance(
            app,
            cw,
            nils.case,
            "record_consent",
            _consent("Nils Li", "Postboks 7", "3631", received_at=s.now_iso()),
        ),
    )
    s.refused(
        "  the caseworker tries to approve the address herself",
        lambda: advance(app, cw, nils.case, "approve_address", note="looks fine"),
    )
    s.step(
        "  the supervisor rejects it: another dwelling is possible",
        lambda: advance(
            app, sup, nils.case, "reject", {"reason": "Address does not match the installation"}
        ),
    )
    s.expect(nils.case, "rejected", "Nore opening, address mismatch rejected")

    # Ringerike: ENERGIPILOT customer; warned first, then the swap.
    s.wait(hours=3)
    s.say("Ringerike: Ola Hansen (ENERGIPILOT) orders a meter with a HAN port")
    ola = s.step(
        "  caseworker registers the swap order",
        lambda: open_case(
            app,
            cw,
            "meter_swap",
            customer="20002",
            metering_point="707057500032174572",
            channel="email",
        ),
    )
    s.refused(
        "  queueing before the warning was acknowledged",
        lambda: advance(app, cw, ola.case, "enqueue"),
    )
    s.wait(days=1)
    s.step(
        "  Ola accepts that his old real-time unit will stop working",
        lambda: advance(app, cw, ola.case, "acknowledge_energipilot"),
    )
    s.wait(days=20)
    s.step(
        "  the installer's visit is booked",
        lambda: advance(app, cw, ola.case, "schedule_visit", {"visit_date": "2026-04-14"}),
    )
    s.wait(days=20)
    s.step(
        "  the new meter is installed",
        lambda: advance(
            app,
            cw,
            ola.case,
            "record_installation",
            {"meter_number": "7359992905160885", "installed_at": s.now_iso()},
        ),
    )
    s.wait(days=1)
    s.step(
        "  Ola's consent arrives",
        lambda: advance(
            app,
            cw,
            ola.case,
            "record_consent",
            _consent("Ola Hansen", "Storgata 12 b", "3510", received_at=s.now_iso()),
        ),
    )
    s.wait(hours=5)
    s.step("  the HES acknowledges the opening", lambda: advance(app, cw, ola.case, "confirm_open"))
    s.expect(ola.case, "confirmed", "Ringerike swap (ENERGIPILOT), then opening")

    # Hole: a swap whose first open command fails.
    s.say("Hole: Per Åsen orders a meter swap")
    per = s.step(
        "  caseworker registers the swap order",
        lambda: open_case(
            app,
            cw,
            "meter_swap",
            customer="20003",
            metering_point="707057500042745649",
            channel="phone",
        ),
    )
    s.wait(days=35)
    s.step(
        "  the new meter is installed",
        lambda: advance(
            app,
            cw,
            per.case,
            "record_installation",
            {"meter_number": "7359992905160892", "installed_at": s.now_iso()},
        ),
    )
    s.step(
        "  Per's consent arrives by e-mail from his registered address",
        lambda: advance(
            app,
            cw,
            per.case,
            "record_consent",
            _consent(
                "Per Åsen",
                "Vikveien 3",
                "3530",
                channel="email",
                from_email="Per.Asen@example.no",
                received_at=s.now_iso(),
            ),
        ),
    )
    s.wait(hours=24)
    s.step(
        "  the HES reports the meter unreachable",
        lambda: advance(app, cw, per.case, "report_failure", {"error": "meter unreachable"}),
    )
    s.wait(hours=1)
    s.step(
        "  the retried command is acknowledged", lambda: advance(app, cw, per.case, "confirm_open")
    )
    s.expect(per.case, "confirmed", "Hole swap, one HES failure, then opening")

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
    s.wait(hours=1)
    s.step(
        "  the HES confirms the close", lambda: advance(app, cw, close_kari.case, "confirm_close")
    )
    s.expect(close_kari.case, "closed", "Close on request (e-mail)")
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
    s.step("  the HES confirms the close", lambda: advance(app, cw, siri.case, "confirm_close"))
    s.expect(siri.case, "closed", "Close on request (phone), legacy consent")

    # A close request overtakes an opening in flight.
    s.say("Marit Dahl (Ringerike) has a swap queued, then asks to close the stream instead")
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
        "  identity verified",
        lambda: advance(app, cw, close_marit.case, "verify_identity", {"method": "bankid"}),
    )
    s.say(f"  {marit.case} is now {commands.case_view(app, marit.case)['state']}")
    s.step(
        "  the HES confirms the close", lambda: advance(app, cw, close_marit.case, "confirm_close")
    )
    s.expect(marit.case, "cancelled", "Swap overtaken by a close request")
    s.expect(close_marit.case, "closed", "Close request overtaking an opening")

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
        lambda: advance(app, s.actor(AUDITOR), nils.case, "cancel", {"reason": "test"}),
    )


def _print_histories(s: Story) -> list[dict[str, Any]]:
    out = []
    if not s.as_json:
        click.echo("\n" + click.style("Case histories", bold=True))
    for ref, want in s.expected.items():
        v = commands.case_view(s.app, ref)
        ok = v["state"] == want
        if not ok:
            s.problems.append(f"{ref} ended {v['state']}, expected {want}")
        out.append(
            {
                "case": ref,
                "title": s.titles[ref],
                "expected": want,
                "state": v["state"],
                "history": v["history"],
            }
        )
        if s.as_json:
            continue
        mark = click.style("ok", fg="green") if ok else click.style("WRONG", fg="red")
        click.echo(f"\n{ref}  {s.titles[ref]}  [{v['state']}: {mark}]")
        for e in v["history"]:
            click.echo(
                f"  {e['seq']:>2}  {e['at_local']}  {e['actor']:<20} {e['trigger']:<24} {e['from'] or '∅'} → {e['to']}"
            )
    return out


def run(folder: Path, now: str, *, as_json: bool = False) -> bool:
    """Run the demo in ``folder`` (recreated); True when every case ended as expected."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    db = folder / "hanport-demo.db"
    settings = load(
        {
            "HANPORT_DATABASE_URL": f"sqlite:///{db}",
            "HANPORT_ROLES": f"{CASEWORKER}=caseworker,{SUPERVISOR}=supervisor,{AUDITOR}=auditor",
            "HANPORT_CLOCK": "simulated",
        },
        user=CASEWORKER,
        maildir=str(folder / "maildir"),
    )
    app = bootstrap(settings, now=now, simulated=True)
    try:
        s = Story(app, as_json)
        (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        (folder / "metering-points.csv").write_text(POINTS, encoding="utf-8")
        rc = import_customers(app, s.actor(), folder / "customers.csv")
        rp = import_points(app, s.actor(), folder / "metering-points.csv")
        s.say(
            f"Registry imported: {rc.inserted} customers, {rp.inserted} metering points (Nore, Ringerike, Hole)"
        )
        _scenarios(s)
        cases = _print_histories(s)
        ok = not s.problems
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "ok": ok,
                        "database": str(db),
                        "story": s.log,
                        "cases": cases,
                        "problems": s.problems,
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            click.echo("")
            for p in s.problems:
                click.echo(click.style(f"PROBLEM: {p}", fg="red"), err=True)
            click.echo(f"Demo database: {db}")
            click.echo(
                click.style("Demo finished: every case reached its expected state.", fg="green")
                if ok
                else click.style("Demo finished with problems.", fg="red")
            )
        return ok
    finally:
        app.close()

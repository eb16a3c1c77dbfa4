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

from hanport import service
from hanport.bootstrap import App, bootstrap
from hanport.calendar import format_local
from hanport.config import load
from hanport.errors import HanportError
from hanport.queries.cases import case_view
from hanport.service.cases import Result
from hanport.service.commands import (
    Advance,
    DeliverMail,
    ImportCustomers,
    ImportMeteringPoints,
    OpenCase,
    RunTerminations,
)
from hanport.service.roles import resolve
from hanport.workflows.definition import Actor

CASEWORKER, SUPERVISOR, AUDITOR = "anne.saksbehandler", "bjorn.leder", "revisor"

CUSTOMERS = """customer_id;name;email;phone;street;postal_code;city;language;energipilot
20001;Kari Nordmann;kari.nordmann@example.no;912 34 567;Sentrumsvegen 5;3630;Rødberg;nb;no
20002;Ola Hansen;ola.hansen@example.no;+47 41234567;Storgata 12B;3510;Hønefoss;nb;yes
20003;Per Åsen;per.asen@example.no;;Vikveien 3;3530;Røyse;en;no
20004;Siri Berg;siri.berg@example.no;;Uvdalsvegen 40;3632;Uvdal;nb;no
20005;Nils Li;nils.li@example.no;;Nedre Dal 2;3631;Rødberg;nb;no
20006;Marit Dahl;marit.dahl@example.no;;Hønengata 7;3513;Hønefoss;nb;no
20007;Eva Moen;eva.moen@example.no;;Fjellvegen 21;3632;Uvdal;en;no
20008;Jon Vik;jon.vik@example.no;;Dalsvegen 9;3630;Rødberg;nb;no
20009;Lise Holm;lise.holm@example.no;;Kirkevegen 14;3632;Uvdal;nb;no
"""

POINTS = """metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port
707057500053182051;20001;7359992905160861;3338;Sentrumsvegen 5;3630;Rødberg;closed
707057500032174572;20002;5706567316639529;3305;Storgata 12B;3510;Hønefoss;none
707057500042745649;20003;5706567316639536;3310;Vikveien 3;3530;Røyse;none
707057500000000049;20004;6970631401582127;0633;Uvdalsvegen 40;3632;Uvdal;open
707057500000000056;20005;7359992905160878;3050;Nedre Dal 2;3631;Rødberg;closed
707057500000000063;20006;5706567316639543;3007;Hønengata 7;3513;Hønefoss;none
707057500000000070;20007;7359992905160915;3338;Fjellvegen 21;3632;Uvdal;closed
707057500000000087;20008;6970631401582134;3338;Dalsvegen 9;3630;Rødberg;open
707057500000000094;20009;6970631401582141;3050;Kirkevegen 14;3632;Uvdal;open
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

    def step(self, text: str, fn: Callable[[], Result]) -> Result:
        result = fn()
        self.say(f"{text} → {result.case} {result.state}")
        return result

    def tick(self, **delta: float) -> None:
        """Move the clock, then run one tick and tell what it did."""
        from hanport.entrypoints.tick import tick

        self.wait(**delta)
        report = tick(self.app)
        for line in report.details:
            self.say(f"  [tick] {line}")

    def check_flag(self, ref: str, flag: str) -> None:
        flags = case_view(self.app, ref)["flags"]
        if flag not in flags:
            self.problems.append(f"{ref} should carry the flag {flag} (has {flags})")
        else:
            self.say(f"  {ref} is flagged {flag}")

    def check_event(self, ref: str, trigger: str) -> None:
        if not any(e["trigger"] == trigger for e in case_view(self.app, ref)["history"]):
            self.problems.append(f"{ref} should have a {trigger} event")

    def check_port(self, gsrn: str, port: str) -> None:
        from hanport.storage.views import reading

        with reading(self.app.engine) as views:
            point = views.ports.point(gsrn)
        if point is None or point.han_port != port:
            self.problems.append(f"port of {gsrn} should be {port}, is {point and point.han_port}")
        else:
            self.say(f"  the port of {gsrn} is {port}")

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


def open_case(app: App, actor: Actor, workflow: str, **options: Any) -> Result:
    result: Result = service.run(app, actor, OpenCase(workflow, **options))
    return result


def advance(
    app: App, actor: Actor, ref: str, trigger: str, fields: dict[str, str] | None = None, **kw: Any
) -> Result:
    result: Result = service.run(app, actor, Advance(ref, trigger, fields or {}, **kw))
    return result


def _scenarios(s: Story) -> None:
    cw, sup = s.actor(), s.actor(SUPERVISOR)
    app = s.app

    # Day 0 — Nore: the form carries order and consent together; the address matches.
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
    s.tick(minutes=1)  # the open command leaves for the head-end system
    s.tick(minutes=15)  # its acknowledgement comes back
    s.expect(kari.case, "confirmed", "Nore opening, address matches, opened by the HES")
    s.refused(
        "  a second opening order for the same meter",
        lambda: open_case(
            app, cw, "nore_open", customer="20001", metering_point="707057500053182051"
        ),
    )

    # Day 0 — three requests that will wait: a consent that comes late and wrong, one that never
    # comes, and an ENERGIPILOT swap that waits too long in the queue.
    s.say("Nore: Nils Li phones to order an opening; the consent form is sent to him")
    nils = s.step(
        "  caseworker registers the order",
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
    s.say("Nore: Eva Moen orders an opening by e-mail but never returns the consent")
    eva = s.step(
        "  caseworker registers the order",
        lambda: open_case(
            app,
            cw,
            "nore_open",
            customer="20007",
            metering_point="707057500000000070",
            channel="email",
        ),
    )
    s.step(
        "  caseworker sends the consent request",
        lambda: advance(app, cw, eva.case, "request_consent"),
    )
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
    s.step(
        "  Ola accepts that his old real-time unit will stop working",
        lambda: advance(app, cw, ola.case, "acknowledge_energipilot"),
    )
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

    # Day 3 — Per's new meter, his consent, and a head-end system that cannot reach the meter.
    s.wait(days=3)
    s.step(
        "  Per's new meter is installed",
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
    s.tick(minutes=1)
    s.tick(minutes=15)  # failure 1, retried after 15 min
    s.tick(minutes=16)
    s.tick(minutes=15)  # failure 2, retried after 30 min
    s.tick(minutes=31)
    s.tick(minutes=15)  # failure 3: needs attention
    s.check_flag(per.case, "hes_attention")

    # Day 8–9 — timers: Nils's reminder, Per's SLA.
    s.wait(days=5)
    s.tick(minutes=1)
    s.check_flag(per.case, "sla_breached")
    s.check_event(nils.case, "remind_consent")
    s.step(
        "  caseworker has the vendor check Per's meter and retries",
        lambda: advance(app, cw, per.case, "retry"),
    )
    s.tick(minutes=1)
    s.tick(minutes=15)
    s.expect(per.case, "confirmed", "Hole swap; three HES failures, SLA breached, retried, opened")

    # Day 10 — Nils's consent arrives with the postal address, not the installation's.
    s.wait(days=1)
    s.step(
        "  Nils's consent arrives with 'Postboks 7'",
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
        "  the supervisor rejects it: it may be another dwelling",
        lambda: advance(
            app, sup, nils.case, "reject", {"reason": "Address does not match the installation"}
        ),
    )
    s.expect(nils.case, "rejected", "Nore opening, reminder sent, address mismatch rejected")

    # Day 31 — Eva's request expires.
    s.wait(days=21)
    s.tick(minutes=1)
    s.expect(eva.case, "expired", "Nore opening, consent never came: expired after 30 days")

    # Day 61 — Ola's swap is overdue; then it happens.
    s.wait(days=30)
    s.tick(minutes=1)
    s.check_flag(ola.case, "swap_overdue")
    s.step(
        "  the installer's visit is booked",
        lambda: advance(app, cw, ola.case, "schedule_visit", {"visit_date": "2026-05-06"}),
    )
    s.wait(days=3)
    s.step(
        "  the new meter is installed (the overdue flag clears)",
        lambda: advance(
            app,
            cw,
            ola.case,
            "record_installation",
            {"meter_number": "7359992905160885", "installed_at": s.now_iso()},
        ),
    )
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
    s.tick(minutes=1)
    s.tick(minutes=15)
    s.expect(
        ola.case, "confirmed", "Ringerike swap (ENERGIPILOT), overdue in the queue, then opened"
    )

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

    _nightly(s, ola.case, per.case)

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


def _nightly(s: Story, ola: str, per: str) -> None:
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


def _audit(s: Story) -> None:
    """The auditor's view: every chain verified and replayed, and one point's port timeline."""
    from hanport.queries import audit

    report = audit.verify(s.app)
    replays = audit.replay(s.app)
    diverging = [r.case for r in replays if r.divergences]
    if not report.ok:
        s.problems.extend(f"audit: {p.case} {p.seq}: {p.what}" for p in report.problems)
    if diverging:
        s.problems.append(f"audit: replay diverges for {', '.join(diverging)}")
    gsrn = "707057500000000063"
    timeline = audit.port(s.app, gsrn)["timeline"]
    if s.as_json:
        return
    click.echo("\n" + click.style("Audit", bold=True))
    click.echo(
        f"  audit verify --all: {report.cases} cases, {report.events} events, {report.points} "
        f"points — {'all intact' if report.ok else f'{len(report.problems)} PROBLEMS'}"
    )
    click.echo(
        f"  audit replay --all: {len(replays)} cases — {'all as recorded' if not diverging else 'DIVERGING'}"
    )
    click.echo(f"  audit port {gsrn} (Marit's: an opening overtaken by a close):")
    for t in timeline:
        warn = "  ← open without a live consent" if t["open_without_live_consent"] else ""
        click.echo(f"    {t['from_local']:<22} {t['state']:<8} {t['cause']}{warn}")


def _print_histories(s: Story) -> list[dict[str, Any]]:
    out = []
    if not s.as_json:
        click.echo("\n" + click.style("Case histories", bold=True))
    for ref, want in s.expected.items():
        v = case_view(s.app, ref)
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
            "HANPORT_HES_ADAPTER": "simulated",
        },
        user=CASEWORKER,
        maildir=str(folder / "maildir"),
        hes_sim_script={"707057500042745649": ("fail", "fail", "fail")},
    )
    app = bootstrap(settings, now=now, simulated=True)
    try:
        s = Story(app, as_json)
        (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        (folder / "metering-points.csv").write_text(POINTS, encoding="utf-8")
        rc = service.run(app, s.actor(), ImportCustomers(folder / "customers.csv"))
        rp = service.run(app, s.actor(), ImportMeteringPoints(folder / "metering-points.csv"))
        s.say(
            f"Registry imported: {rc.inserted} customers, {rp.inserted} metering points (Nore, Ringerike, Hole)"
        )
        _scenarios(s)
        from hanport.queries.mail import list_mail
        from hanport.service.mail import maildir

        service.run(app, s.actor(), DeliverMail())
        box = maildir(app)
        delivered = len(list((box / "new").glob("*"))) if (box / "new").exists() else 0
        unsent = [m for m in list_mail(app) if m["status"] not in ("sent", "no_address")]
        if unsent:
            s.problems.append(f"{len(unsent)} notices were not delivered")
        cases = _print_histories(s)
        _audit(s)
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
                f"Notices: {delivered} e-mails delivered to the Maildir folder {box} "
                f"(read them with any mail client, e.g. `mutt -f {box}`, or `hanport --db sqlite:///{db} mail list`)"
            )
            click.echo(
                click.style("Demo finished: every case reached its expected state.", fg="green")
                if ok
                else click.style("Demo finished with problems.", fg="red")
            )
        return ok
    finally:
        app.close()

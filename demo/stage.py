"""The demo's stage: its registry, the actors, and ``Story`` — the simulated clock it moves, what
it says, and the checks that every case ends where it should."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import click

from hanport import service
from hanport.bootstrap import App
from hanport.calendar import format_local
from hanport.errors import HanportError
from hanport.queries.cases import case_view
from hanport.service.cases import Result
from hanport.service.commands import (
    Advance,
    OpenCase,
)
from hanport.service.roles import resolve
from hanport.workflows.definition import Actor

CASEWORKER, SUPERVISOR, AUDITOR = "anne.saksbehandler", "bjorn.leder", "revisor"
PRIVACY = "personvernombud"  # the data-protection officer

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
20010;Ingrid Bakke;ingrid.bakke@example.no;;Bjørkevegen 3;3630;Rødberg;nb;no
20011;Tor Lunde;tor.lunde@example.no;917 65 432;Elvegata 2;3630;Rødberg;nb;no
20012;Anders Strand;anders.strand@example.no;;Elvegata 8;3631;Rødberg;nb;no
20013;Hanne Lie;hanne.lie@example.no;;Bakkevegen 11;3630;Rødberg;nb;no
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
707057500000001015;20010;7359992905160922;3338;Bjørkevegen 3;3630;Rødberg;closed
707057500000001022;20011;7359992905160939;3338;Elvegata 2;3630;Rødberg;closed
707057500000001039;20012;7359992905160946;3050;Elvegata 8;3631;Rødberg;closed
707057500000001053;20013;7359992905160953;3338;Bakkevegen 11;3630;Rødberg;closed
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

"""A hand-computed history for the SLA report: Nore cases run through the real service on a
moving simulated clock, each chosen to cross something a working-day count can get wrong — a
weekend, Easter 2026, the change to summer time on 29 March 2026 — plus a case that waited for
the customer, a cancelled one and one migrated from nore_open v1 to v2 on the way.

The working calendar (Europe/Oslo): Monday to Friday except public holidays; around Easter 2026
Maundy Thursday 2 April, Good Friday 3 April, Easter Sunday 5 April and Easter Monday 6 April
are holidays. "Within 3 working days": open before local midnight at the end of the third
working day after the day of the notice. The expected figures are worked out by hand below.

    case   notice (Oslo)          open (Oslo)            working days after the notice's day
    A      Fri 06.03 14:00 +01    Wed 11.03 16:00 +01    Mon 9 (1), Tue 10 (2), Wed 11 (3): 3,
                                                         deadline Thu 12.03 00:00 -> within
    B      Fri 06.03 10:00 +01    Thu 12.03 09:00 +01    ... Wed 11 (3), Thu 12 (4): 4 -> late
    C      Wed 01.04 15:00 +02    Thu 09.04 23:30 +02    Thu 2, Fri 3 holidays, Sat, Sun 5
                                                         holiday, Mon 6 holiday; Tue 7 (1),
                                                         Wed 8 (2), Thu 9 (3): 3, deadline
                                                         Fri 10.04 00:00 +02 -> within (a count
                                                         without holidays would say late)
    D1     Fri 27.03 23:30 +01    Wed 01.04 23:30 +02    Mon 30 (1), Tue 31 (2), Wed 1 (3): 3,
                                                         deadline Thu 02.04 00:00 +02 -> within;
                                                         the clocks went forward on Sun 29.03:
                                                         119 hours, not 120
    D2     Fri 27.03 23:30 +01    Thu 02.04 00:30 +02    Wed 1 (3), then Thu 2 is a holiday: the
                                                         first working day on or after it is
                                                         Tue 7 (4): 4 -> late (in UTC it opened
                                                         on Wed 1 April: a UTC count says within)
    E      Mon 16.03 12:00 +01    Thu 19.03 11:00 +01    Tue 17 (1), Wed 18 (2), Thu 19 (3): 3 ->
           (ordered Mon 02.03 09:00; the consent        within: the 14 days 3 hours waiting for
           form received 16.03, recorded 17.03 10:00)   the customer are the customer's (339 h);
                                                         ours: 22 h until the form was recorded
                                                         plus 49 h opening = 71 h
    F      Mon 09.03 10:00 +01    cancelled Tue 10.03    ended unopened: counted apart
    G      Wed 11.03 09:00 +01    Mon 16.03 10:00 +01    Thu 12 (1), Fri 13 (2), Mon 16 (3): 3 ->
           (ordered on v1 Mon 09.03, migrated to v2      within; migrated
           Tue 10.03, consent recorded on v2 11.03 10:00)

    March (notice month): notices A B D1 D2 E F G = 7; decided A B D1 D2 E G = 6; within A D1 E G
    = 4; late B D2; share 4/6; working days 3 3 3 3 4 4: median 3, 90th percentile the 6th
    (⌈0.9·6⌉) = 4; requests (opened in March) A B D1 D2 E F G = 7; ports opened in March (by the
    HES confirmation) A B E G = 4. April: notice C: 1 within, 3 working days; requests C = 1;
    ports opened C D1 D2 = 3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from stdnum import ean

from hanport import service
from hanport.bootstrap import App
from hanport.calendar import parse_instant
from hanport.service.commands import MigrateCases
from tests import support as s

CASES = ("A", "B", "C", "D1", "D2", "E", "F", "G")
PERIOD = (date(2026, 3, 1), date(2026, 4, 30))
AS_OF = "2026-04-30T12:00:00+02:00"
BEGIN = "2026-03-02T08:00:00+01:00"


def gsrn(n: int) -> str:
    body = f"7070575000001{n:04d}"
    return body + ean.calc_check_digit(body)


def meter(n: int) -> str:
    body = f"735999290600{n:03d}"
    return body + ean.calc_check_digit(body)


def registry_csv(count: int) -> tuple[str, str]:
    """``count`` customers (3001…) each with a closed Nore port of their own."""
    customers = ["customer_id;name;email;phone;street;postal_code;city;language;energipilot"]
    points = [
        "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
    ]
    for i in range(1, count + 1):
        street = f"Sentrumsvegen {i}"
        customers.append(f"{3000 + i};Kunde {i};k{i}@example.no;;{street};3630;Rødberg;nb;no")
        points.append(f"{gsrn(i)};{3000 + i};{meter(i)};3338;{street};3630;Rødberg;closed")
    return "\n".join(customers) + "\n", "\n".join(points) + "\n"


def import_registry(app: App, folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    c, p = registry_csv(count)
    (folder / "c.csv").write_text(c, encoding="utf-8")
    (folder / "p.csv").write_text(p, encoding="utf-8")
    who = s.actor(app)
    assert not s.import_customers(app, who, folder / "c.csv").rejected
    assert not s.import_points(app, who, folder / "p.csv").rejected


def consent_for(i: int, received: str) -> dict[str, str]:
    """A valid form consent for customer 3000+i's point, received at ``received``."""
    return s.consent(
        signer_name=f"Kunde {i}",
        address=f"Sentrumsvegen {i}",
        postal_code="3630",
        received_at=parse_instant(received).isoformat(),
    )


@dataclass
class Story:
    """The fixture's cases: letter -> case reference."""

    app: App
    refs: dict[str, str]

    def at(self, when: str) -> None:
        self.app.clock.set(parse_instant(when))  # type: ignore[attr-defined]

    def order(self, name: str, when: str, *, signed: bool = True) -> None:
        """Customer i orders at ``when``; with the form's consent (received then) if
        ``signed``, else the caseworker asks for it."""
        self.at(when)
        i = CASES.index(name) + 1
        fields = consent_for(i, when) if signed else None
        r = s.open_case(
            self.app,
            s.actor(self.app),
            "nore_open",
            customer=str(3000 + i),
            metering_point=gsrn(i),
            fields=fields,
        )
        self.refs[name] = r.case
        if not signed:
            s.advance(self.app, s.actor(self.app), r.case, "request_consent")

    def fire(self, name: str, when: str, trigger: str, **fields: str) -> str:
        self.at(when)
        who = s.actor(self.app, "sup" if trigger == "approve_address" else "cw")
        return s.advance(self.app, who, self.refs[name], trigger, fields or None).state

    def migrate(self, name: str, when: str) -> None:
        self.at(when)
        cmd = MigrateCases("nore_open", 1, 2, cases=(self.refs[name],), apply=True)
        done = service.run(self.app, s.actor(self.app, "sup"), cmd)
        assert [m["case"] for m in done.migrated] == [self.refs[name]], done


def build(app: App, folder: Path) -> Story:
    """Run the fixture's history on ``app`` (a fresh database, the clock before 2 March)."""
    st = Story(app, {})
    st.at(BEGIN)
    import_registry(app, folder, len(CASES))
    steps: list[Callable[[], Any]] = [
        lambda: st.order("E", "2026-03-02T09:00+01:00", signed=False),
        lambda: st.order("B", "2026-03-06T10:00+01:00"),
        lambda: st.order("A", "2026-03-06T14:00+01:00"),
        lambda: st.order("G", "2026-03-09T09:00+01:00", signed=False),
        lambda: st.order("F", "2026-03-09T10:00+01:00"),
        lambda: st.fire("F", "2026-03-10T11:00+01:00", "cancel", reason="changed my mind"),
        lambda: st.migrate("G", "2026-03-10T12:00+01:00"),
        lambda: _consent_v2(st),
        lambda: st.fire("A", "2026-03-11T16:00+01:00", "confirm_open"),
        lambda: st.fire("B", "2026-03-12T09:00+01:00", "confirm_open"),
        lambda: st.fire("G", "2026-03-16T10:00+01:00", "confirm_open"),
        lambda: _late_form(st),
        lambda: st.fire("E", "2026-03-19T11:00+01:00", "confirm_open"),
        lambda: st.order("D1", "2026-03-27T23:30+01:00"),
        lambda: st.order("D2", "2026-03-27T23:30+01:00"),
        lambda: st.order("C", "2026-04-01T15:00+02:00"),
        lambda: st.fire("D1", "2026-04-01T23:30+02:00", "confirm_open"),
        lambda: st.fire("D2", "2026-04-02T00:30+02:00", "confirm_open"),
        lambda: st.fire("C", "2026-04-09T23:30+02:00", "confirm_open"),
    ]
    for step in steps:
        step()
    st.at(AS_OF)
    return st


def _consent_v2(st: Story) -> None:
    """G's form, recorded on v2 (sent from the e-mail on file: no objection window)."""
    st.at("2026-03-11T10:00+01:00")
    i = CASES.index("G") + 1
    fields = consent_for(i, "2026-03-11T09:00+01:00")
    fields.update(channel="email", from_email=f"k{i}@example.no")
    state = s.advance(st.app, s.actor(st.app), st.refs["G"], "record_consent", fields).state
    assert state == "opening", state


def _late_form(st: Story) -> None:
    """E's form reached us Monday 16 March at noon; it was recorded Tuesday at 10."""
    st.at("2026-03-17T10:00+01:00")
    fields = consent_for(CASES.index("E") + 1, "2026-03-16T12:00+01:00")
    state = s.advance(st.app, s.actor(st.app), st.refs["E"], "record_consent", fields).state
    assert state == "opening", state

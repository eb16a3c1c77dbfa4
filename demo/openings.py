"""The demo's openings: Nore's orders and consents, the swaps in Ringerike and Hole, and the
timers that move them (reminder, SLA, expiry, the overdue swap)."""

from __future__ import annotations

from hanport.demo.stage import SUPERVISOR, Story, _consent, advance, open_case
from hanport.service.cases import Result


def kari_opens(s: Story) -> Result:
    """Day 0, Nore: the form carries order and consent together; the address matches."""
    cw = s.actor()
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
    return kari


def openings_that_wait(s: Story) -> tuple[Result, Result]:
    """Day 0, Nore: a consent that comes late and wrong, and one that never comes."""
    cw = s.actor()
    app = s.app
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
    return nils, eva


def swaps_ordered(s: Story) -> tuple[Result, Result]:
    """Day 0, Ringerike and Hole: an ENERGIPILOT swap that waits too long in the queue, and Per's."""
    cw = s.actor()
    app = s.app
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
    return ola, per


def per_and_timers(s: Story, nils: Result, per: Result) -> None:
    """Day 3–9: Per's new meter, his consent, a head-end system that cannot reach the meter; the timers."""
    cw = s.actor()
    app = s.app
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


def late_and_never(s: Story, nils: Result, eva: Result) -> None:
    """Day 10 and 31: Nils's consent with the wrong address; Eva's request expires."""
    cw = s.actor()
    sup = s.actor(SUPERVISOR)
    app = s.app
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


def overdue_swap(s: Story, ola: Result) -> None:
    """Day 61: Ola's swap is overdue; then it happens."""
    cw = s.actor()
    app = s.app
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

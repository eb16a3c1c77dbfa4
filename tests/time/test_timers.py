"""Timers on both backends: consent reminder and expiry, the HES timeout with backoff, the swap
delay, the SLA in working days, late and repeated firing, configurable durations, and how cases
past a timer show up (``case list --overdue/--attention``, ``case show``).

The clock is simulated: tests move it past a timer's due time and fire; nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from stdnum import ean

from hanport.bootstrap import App, save_clock
from hanport.config import load, parse_duration
from hanport.queries.cases import case_view, list_cases
from hanport.workflows.definition import Duration
from tests.support import (
    HOLE_POINT,
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    advance,
    consent,
    dispatch,
    fire_due,
    make_app,
    open_case,
    seed,
)
from tests.time.helpers import (
    case_row,
    events,
    hes_rows,
    mail_templates,
    oslo,
    pending,
    timer_rows,
    triggers,
)

T0 = datetime.fromisoformat(START)  # Monday 2026-03-02 09:00 Oslo (CET)
NEW_METER = "570656731669999" + ean.calc_check_digit("570656731669999")  # the swap's new meter


def awaiting(app: App, point: str = NORE_POINT, customer: str = "1001") -> str:
    r = open_case(app, actor(app), "nore_open", customer=customer, metering_point=point)
    r = advance(app, actor(app), r.case, "request_consent")
    assert r.state == "awaiting_consent"
    return r.case


def opening(app: App, **over: str) -> str:
    """A nore_open case on NORE_POINT whose consent was recorded now (→ opening)."""
    received = app.clock.now().isoformat()
    r = open_case(
        app,
        actor(app),
        "nore_open",
        customer="1001",
        metering_point=NORE_POINT,
        fields=consent(received_at=received, **over),
    )
    assert r.state == "opening"
    return r.case


def fire(app: App) -> int:
    return fire_due(app).fired


def at(app: App, when: datetime) -> None:
    app.clock.set(when)


# --- consent: reminder and expiry -------------------------------------------------------------


def test_remind_consent_fires_once_after_seven_days(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    remind = pending(app, ref, "remind_consent")
    assert remind["due_at"] == oslo(2026, 3, 9, 9)

    at(app, remind["due_at"] - timedelta(seconds=1))
    assert fire(app) == 0
    at(app, remind["due_at"])
    assert fire(app) == 1

    assert case_row(app, ref)["state"] == "awaiting_consent"
    assert mail_templates(app, ref).count("consent_reminder") == 1
    ev = events(app, ref)[-1]
    assert (ev["trigger"], ev["actor"], ev["actor_kind"]) == (
        "remind_consent",
        "scheduler",
        "scheduler",
    )
    assert (ev["from_state"], ev["to_state"]) == ("awaiting_consent", "awaiting_consent")

    # Once: later ticks before the expiry send no second reminder.
    app.clock.advance(timedelta(days=10))
    assert fire(app) == 0
    assert mail_templates(app, ref).count("consent_reminder") == 1
    assert [t["status"] for t in timer_rows(app, ref, "remind_consent")] == ["fired"]


def test_expire_after_thirty_days(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    expire = pending(app, ref, "expire")
    # 30 calendar days at the same Oslo clock time (the DST change on 29 March is inside).
    assert expire["due_at"] == oslo(2026, 4, 1, 9)

    at(app, expire["due_at"] - timedelta(seconds=1))
    fire(app)  # the reminder
    assert case_row(app, ref)["state"] == "awaiting_consent"
    at(app, expire["due_at"])
    assert fire(app) == 1

    row = case_row(app, ref)
    assert (row["state"], row["active"]) == ("expired", False)
    assert mail_templates(app, ref).count("consent_expired") == 1
    assert triggers(app, ref)[-1] == "expire"
    assert not [t for t in timer_rows(app, ref) if t["status"] == "pending"]
    app.clock.advance(timedelta(days=60))
    assert fire(app) == 0


def test_a_timer_that_ends_its_state_is_marked_fired(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    expire = pending(app, ref, "expire")
    at(app, expire["due_at"])
    fire(app)
    assert case_row(app, ref)["state"] == "expired"
    assert timer_rows(app, ref, "expire")[0]["status"] == "fired"


def test_a_fired_hes_timeout_is_marked_fired(seeded: App) -> None:
    app = seeded
    ref = opening(app)
    first = pending(app, ref, "hes_timeout")
    at(app, first["due_at"])
    assert fire(app) == 1
    assert case_row(app, ref)["data"]["hes_failures"] == 1
    assert timer_rows(app, ref, "hes_timeout")[0]["status"] == "fired"


def test_leaving_awaiting_consent_cancels_both_timers(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    app.clock.advance(timedelta(days=1))
    advance(app, actor(app), ref, "record_consent", consent())
    assert {t["name"]: t["status"] for t in timer_rows(app, ref) if t["kind"] == "state"} == {
        "remind_consent": "cancelled",
        "expire": "cancelled",
        "hes_timeout": "pending",
    }
    # A cancel from awaiting_consent cancels them too.
    other = awaiting(app, NORE_POINT_2, "1005")
    advance(app, actor(app), other, "cancel", {"reason": "no longer wanted"})
    assert [t["status"] for t in timer_rows(app, other)] == ["cancelled", "cancelled"]

    app.clock.advance(timedelta(days=40))
    fire(app)
    for r in (ref, other):
        assert "remind_consent" not in triggers(app, r)
        assert "expire" not in triggers(app, r)
    assert case_row(app, ref)["state"] == "opening"
    assert "consent_reminder" not in mail_templates(app, ref)


# --- the HES timeout, backoff, needs_attention, retry -----------------------------------------


def test_hes_timeout_is_a_failure_retried_with_doubling_backoff(seeded: App) -> None:
    app = seeded  # default areas use the manual adapter: no acknowledgement ever comes by itself
    ref = opening(app)
    dispatch(app)
    assert [h["status"] for h in hes_rows(app, ref)] == ["sent"]
    first = pending(app, ref, "hes_timeout")
    assert first["due_at"] == T0 + timedelta(hours=24)

    # 1st timeout: a failure, the retry 15 min later, a new 24 h timeout from then.
    at(app, first["due_at"])
    assert fire(app) == 1
    ev = events(app, ref)[-1]
    assert (ev["trigger"], ev["actor_kind"], ev["to_state"]) == (
        "report_failure",
        "scheduler",
        "opening",
    )
    data = case_row(app, ref)["data"]
    assert data["hes_failures"] == 1
    cmds = hes_rows(app, ref)
    assert [(c["status"], c["attempt"]) for c in cmds] == [("failed", 1), ("pending", 2)]
    assert cmds[1]["not_before"] == first["due_at"] + timedelta(minutes=15)
    assert cmds[1]["not_before"] > cmds[0]["not_before"]
    second = pending(app, ref, "hes_timeout")
    assert second["due_at"] == cmds[1]["not_before"] + timedelta(hours=24)

    # 2nd: the backoff doubles.
    at(app, second["due_at"])
    assert fire(app) == 1
    cmds = hes_rows(app, ref)
    assert [(c["status"], c["attempt"]) for c in cmds] == [
        ("failed", 1),
        ("failed", 2),
        ("pending", 3),
    ]
    assert cmds[2]["not_before"] == second["due_at"] + timedelta(minutes=30)
    assert case_row(app, ref)["state"] == "opening"

    # 3rd: needs_attention with the flag; no new command, no timeout left.
    third = pending(app, ref, "hes_timeout")
    at(app, third["due_at"])
    fire(app)  # the SLA (3 working days) is past by now too
    assert triggers(app, ref).count("report_failure") == 3
    row = case_row(app, ref)
    assert row["state"] == "needs_attention"
    assert "hes_attention" in row["flags"]
    assert row["data"]["hes_failures"] == 3
    assert [c["status"] for c in hes_rows(app, ref)] == ["failed", "failed", "failed"]
    assert not [t for t in timer_rows(app, ref, "hes_timeout") if t["status"] == "pending"]
    assert "hes_delay" in mail_templates(app, ref)


def test_retry_resets_the_failure_count(seeded: App) -> None:
    app = seeded
    ref = opening(app)
    for _ in range(3):
        at(app, pending(app, ref, "hes_timeout")["due_at"])
        fire(app)
    assert case_row(app, ref)["state"] == "needs_attention"

    app.clock.advance(timedelta(hours=2))
    r = advance(app, actor(app), ref, "retry")
    assert r.state == "opening"
    row = case_row(app, ref)
    assert row["data"]["hes_failures"] == 0
    assert "hes_attention" not in row["flags"]
    newest = hes_rows(app, ref)[-1]
    assert (newest["action"], newest["status"], newest["attempt"]) == ("open", "pending", 1)
    timeout = pending(app, ref, "hes_timeout")
    assert timeout["due_at"] == app.clock.now() + timedelta(hours=24)

    # The next timeout is failure 1 again: retried after 15 min, not needs_attention.
    at(app, timeout["due_at"])
    fire(app)
    row = case_row(app, ref)
    assert (row["state"], row["data"]["hes_failures"]) == ("opening", 1)
    assert hes_rows(app, ref)[-1]["not_before"] == timeout["due_at"] + timedelta(minutes=15)


# --- meter swap: the 60-day delay -------------------------------------------------------------


def swap(app: App) -> str:
    r = open_case(app, actor(app), "meter_swap", customer="1003", metering_point=HOLE_POINT)
    assert r.state == "queued"
    return r.case


def test_swap_overdue_fires_at_sixty_days_not_touched_by_a_visit(seeded: App) -> None:
    app = seeded
    ref = swap(app)
    timer = pending(app, ref, "swap_overdue")
    assert timer["due_at"] == oslo(2026, 5, 1, 9)  # 60 days after enqueue, same Oslo time

    app.clock.advance(timedelta(days=20))
    advance(app, actor(app), ref, "schedule_visit", {"visit_date": "2026-04-20"})
    app.clock.advance(timedelta(days=5))
    advance(app, actor(app), ref, "schedule_visit", {"visit_date": "2026-05-20"})
    assert case_row(app, ref)["state"] == "visit_scheduled"
    same = pending(app, ref, "swap_overdue")
    assert (same["id"], same["due_at"]) == (timer["id"], timer["due_at"])

    at(app, timer["due_at"] - timedelta(seconds=1))
    assert fire(app) == 0
    at(app, timer["due_at"])
    assert fire(app) == 1
    row = case_row(app, ref)
    assert row["state"] == "visit_scheduled"
    assert "swap_overdue" in row["flags"]
    assert mail_templates(app, ref).count("swap_delayed") == 1
    assert triggers(app, ref)[-1] == "swap_overdue"

    # The installation resolves it: the flag clears.
    app.clock.advance(timedelta(days=3))
    r = advance(
        app,
        actor(app),
        ref,
        "record_installation",
        {"meter_number": NEW_METER, "installed_at": app.clock.now().isoformat()},
    )
    assert r.state == "awaiting_consent"
    assert "swap_overdue" not in case_row(app, ref)["flags"]
    assert [t["status"] for t in timer_rows(app, ref, "swap_overdue")] == ["fired"]


def test_record_installation_stops_the_swap_timer(seeded: App) -> None:
    app = seeded
    ref = swap(app)
    app.clock.advance(timedelta(days=30))
    advance(
        app,
        actor(app),
        ref,
        "record_installation",
        {"meter_number": NEW_METER, "installed_at": app.clock.now().isoformat()},
    )
    assert [t["status"] for t in timer_rows(app, ref, "swap_overdue")] == ["cancelled"]
    app.clock.advance(timedelta(days=45))
    fire(app)
    assert "swap_overdue" not in triggers(app, ref)
    assert "swap_overdue" not in case_row(app, ref)["flags"]
    assert "swap_delayed" not in mail_templates(app, ref)


# --- the SLA: 3 working days, Oslo clock time -------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "due"),
    [
        # Friday 15:00 CET → Wednesday 15:00 CEST (the weekend and the DST change in between).
        (oslo(2026, 3, 27, 15), oslo(2026, 4, 1, 15)),
        # Wednesday before Easter 2026: Maundy Thursday, Good Friday, the weekend and Easter
        # Monday are not working days.
        (oslo(2026, 4, 1, 10), oslo(2026, 4, 9, 10)),
        # Autumn DST (25 October): Friday 15:00 CEST → Wednesday 15:00 CET.
        (oslo(2026, 10, 23, 15), oslo(2026, 10, 28, 15)),
        # Ascension Day (Thursday 14 May 2026) is a holiday; 17 May falls on a Sunday.
        (oslo(2026, 5, 13, 10), oslo(2026, 5, 19, 10)),
    ],
    ids=["weekend-and-dst", "easter", "autumn-dst", "ascension"],
)
def test_sla_is_due_on_the_third_working_day_at_the_same_clock_time(
    seeded: App, recorded: datetime, due: datetime
) -> None:
    app = seeded
    at(app, recorded)
    ref = opening(app)
    sla = pending(app, ref, "sla")
    assert sla["due_at"] == due
    assert sla["due_at"].astimezone(due.tzinfo).strftime("%H:%M") == recorded.strftime("%H:%M")
    shown = {t["name"]: t["due_local"] for t in case_view(app, ref)["timers"]}
    assert shown["sla"] == due.strftime("%Y-%m-%d %H:%M %Z")


def test_sla_starts_at_approve_address_after_a_review(seeded: App) -> None:
    app = seeded
    at(app, oslo(2026, 3, 23, 11))  # Monday
    ref = open_case(
        app,
        actor(app),
        "nore_open",
        customer="1001",
        metering_point=NORE_POINT,
        fields=consent(address="Sentrumsvegen 7"),  # another dwelling: reviewed first
    ).case
    assert case_row(app, ref)["state"] == "address_review"
    assert timer_rows(app, ref, "sla") == []
    at(app, oslo(2026, 3, 25, 14, 30))  # Wednesday
    r = advance(app, actor(app, "sup"), ref, "approve_address", note="checked with the customer")
    assert r.state == "opening"
    assert pending(app, ref, "sla")["due_at"] == oslo(2026, 3, 30, 14, 30)  # Monday, CEST


def test_hes_timeout_counts_elapsed_hours_across_the_dst_change(seeded: App) -> None:
    app = seeded
    at(app, oslo(2026, 3, 28, 12))  # Saturday before the spring change (CET)
    ref = opening(app)
    due = pending(app, ref, "hes_timeout")["due_at"]
    assert due - app.clock.now() == timedelta(hours=24)
    assert due == oslo(2026, 3, 29, 13)  # 13:00 CEST: the local day had 23 hours


def test_sla_breach_is_an_event_and_a_flag_the_state_stays(seeded: App) -> None:
    app = seeded
    at(app, oslo(2026, 3, 27, 15))
    ref = opening(app)
    due = pending(app, ref, "sla")["due_at"]

    at(app, due - timedelta(seconds=1))
    fire(app)
    assert "sla_breached" not in triggers(app, ref)
    assert "sla_breached" not in case_row(app, ref)["flags"]

    at(app, due)
    fire(app)
    row = case_row(app, ref)
    breaches = [e for e in events(app, ref) if e["trigger"] == "sla_breached"]
    assert len(breaches) == 1
    ev = breaches[0]
    assert (ev["from_state"], ev["to_state"], ev["actor_kind"]) == (
        "opening",
        "opening",
        "scheduler",
    )
    assert "sla_breached" in row["flags"]
    assert row["state"] == "opening"
    assert [t["status"] for t in timer_rows(app, ref, "sla")] == ["fired"]
    assert ref in {c["case"] for c in list_cases(app, overdue=True)}

    # Later ticks do not breach it again.
    app.clock.advance(timedelta(days=10))
    fire(app)
    assert triggers(app, ref).count("sla_breached") == 1


def test_sla_stops_at_a_final_state(seeded: App) -> None:
    app = seeded
    at(app, oslo(2026, 3, 27, 15))
    ref = opening(app)
    app.clock.advance(timedelta(hours=2))
    assert advance(app, actor(app), ref, "confirm_open").state == "confirmed"
    assert [t["status"] for t in timer_rows(app, ref, "sla")] == ["cancelled"]
    assert not [t for t in timer_rows(app, ref) if t["status"] == "pending"]
    at(app, oslo(2026, 4, 20, 12))
    assert fire(app) == 0
    assert "sla_breached" not in triggers(app, ref)
    assert case_row(app, ref)["flags"] == []


# --- late and repeated firing -----------------------------------------------------------------


def test_a_late_timer_fires_and_records_how_late(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    remind = pending(app, ref, "remind_consent")
    at(app, remind["due_at"] + timedelta(hours=3, seconds=25))
    assert fire(app) == 1
    ev = events(app, ref)[-1]
    assert ev["trigger"] == "remind_consent"
    assert ev["data"]["late_seconds"] == 3 * 3600 + 25
    assert ev["data"]["timer"]["id"] == remind["id"]
    assert ev["data"]["timer"]["name"] == "remind_consent"
    assert ev["data"]["key"] == f"timer:{remind['id']}"
    assert datetime.fromisoformat(ev["data"]["timer"]["due_at"]) == remind["due_at"]
    assert ev["occurred_at"] == app.clock.now()


def test_firing_twice_at_the_same_time_fires_nothing_the_second_time(
    seeded: App, db_url: str
) -> None:
    app = seeded
    refs = [awaiting(app), awaiting(app, NORE_POINT_2, "1005")]
    app.clock.advance(timedelta(days=7, minutes=1))
    assert fire(app) == 2
    n_events = sum(len(events(app, r)) for r in refs)
    assert fire(app) == 0
    # A second scheduler (another App on the same database) at the same time: nothing either.
    other = make_app(db_url, now=app.clock.now())
    try:
        assert fire_due(other).fired == 0
    finally:
        other.close()
    assert sum(len(events(app, r)) for r in refs) == n_events
    for r in refs:
        assert mail_templates(app, r).count("consent_reminder") == 1


# --- configurable durations -------------------------------------------------------------------


def test_timer_durations_are_configurable(db_url: str, tmp_path: Path) -> None:
    app = make_app(
        db_url,
        timer_overrides={"remind_consent": Duration(days=2), "hes_timeout": Duration(hours=6)},
    )
    try:
        seed(app, tmp_path / "registry")
        ref = awaiting(app)
        assert pending(app, ref, "remind_consent")["due_at"] == T0 + timedelta(days=2)
        assert pending(app, ref, "expire")["due_at"] == oslo(2026, 4, 1, 9)  # not overridden
        app.clock.advance(timedelta(days=2))
        assert fire(app) == 1
        assert triggers(app, ref)[-1] == "remind_consent"

        advance(app, actor(app), ref, "record_consent", consent())
        timeout = pending(app, ref, "hes_timeout")
        assert timeout["due_at"] == app.clock.now() + timedelta(hours=6)
        at(app, timeout["due_at"])
        fire(app)
        # The restarted timeout after the retry uses the override too.
        assert pending(app, ref, "hes_timeout")["due_at"] == timeout["due_at"] + timedelta(
            minutes=15, hours=6
        )
    finally:
        app.close()


def test_timer_overrides_from_the_environment() -> None:
    s = load({"HANPORT_TIMERS": "remind_consent=2d,hes_timeout=6h,sla=5wd"}, user="cw")
    assert s.timer_overrides == {
        "remind_consent": Duration(days=2),
        "hes_timeout": Duration(hours=6),
        "sla": Duration(working_days=5),
    }
    assert parse_duration("7d") == Duration(days=7)
    assert load({"HANPORT_HES_BACKOFF_MINUTES": "5"}, user="cw").hes_backoff_minutes == 5
    assert load({}, user="cw").hes_backoff_minutes == 15


# --- what people see: case list --overdue / --attention, case show ----------------------------


def test_list_overdue_lists_cases_past_a_timer_or_with_a_breached_sla(seeded: App) -> None:
    app = seeded
    late = awaiting(app)
    queued = swap(app)
    assert list_cases(app, overdue=True) == []

    app.clock.advance(timedelta(days=7, hours=1))  # the reminder is due, not yet fired
    assert [c["case"] for c in list_cases(app, overdue=True)] == [late]
    fire(app)
    assert list_cases(app, overdue=True) == []

    # An SLA breach keeps a case overdue after the timer fired (the flag).
    advance(app, actor(app), late, "record_consent", consent())
    app.clock.advance(timedelta(days=6))
    fire(app)
    assert "sla_breached" in case_row(app, late)["flags"]
    assert app.clock.now() < pending(app, late, "hes_timeout")["due_at"]
    listed = list_cases(app, overdue=True)
    assert [c["case"] for c in listed] == [late]
    assert queued not in {c["case"] for c in listed}


def test_case_list_overdue_on_the_command_line(
    seeded: App, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hanport.entrypoints.cli.main import cli

    app = seeded
    late = awaiting(app)
    swap(app)
    app.clock.advance(timedelta(days=8))
    save_clock(app)
    for k, v in {"HANPORT_ROLES": "cw=caseworker", "HANPORT_USER": "cw"}.items():
        monkeypatch.setenv(k, v)
    res = CliRunner().invoke(cli, ["--db", db_url, "--json", "case", "list", "--overdue"])
    assert res.exit_code == 0, res.output
    assert [c["case"] for c in json.loads(res.output)] == [late]


def test_list_attention_lists_flagged_and_stuck_cases(seeded: App) -> None:
    app = seeded
    review = open_case(
        app,
        actor(app),
        "nore_open",
        customer="1001",
        metering_point=NORE_POINT,
        fields=consent(address="Storgata 1"),  # not the installation address
    )
    assert review.state == "address_review"
    stuck = open_case(
        app,
        actor(app),
        "nore_open",
        customer="1005",
        metering_point=NORE_POINT_2,
        fields=consent(signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631"),
    ).case
    queued = swap(app)
    listed = {c["case"]: c for c in list_cases(app, attention=True)}
    assert review.case in listed
    assert queued not in listed

    for _ in range(3):
        at(app, pending(app, stuck, "hes_timeout")["due_at"])
        fire(app)
    assert case_row(app, stuck)["state"] == "needs_attention"
    listed = {c["case"]: c for c in list_cases(app, attention=True)}
    assert set(listed) == {review.case, stuck}
    assert "hes_attention" in listed[stuck]["flags"]
    assert listed[review.case]["state"] == "address_review"


def test_case_view_lists_pending_timers_in_oslo_time(seeded: App) -> None:
    app = seeded
    ref = awaiting(app)
    view = case_view(app, ref)
    assert [(t["name"], t["due_local"]) for t in view["timers"]] == [
        ("remind_consent", "2026-03-09 09:00 CET"),
        ("expire", "2026-04-01 09:00 CEST"),
    ]
    assert view["timers"][1]["due_at"] == "2026-04-01T07:00:00+00:00"
    app.clock.advance(timedelta(days=7))
    fire(app)
    assert [t["name"] for t in case_view(app, ref)["timers"]] == ["expire"]
    advance(app, actor(app), ref, "record_consent", consent())
    names = [t["name"] for t in case_view(app, ref)["timers"]]
    assert names == ["hes_timeout", "sla"]
    assert all(t["due_at"].endswith("+00:00") for t in case_view(app, ref)["timers"])

"""What a terminations file does (shared/domain.md, "Where terminations and moves come from"),
on SQLite and PostgreSQL: file order, whose port a row closes, where the notices go, nothing
before ``effective_at``, rollbacks before and after it, one close per point, instants across
the DST changes.

The batch runs through ``hanport.service.batch.run_terminations``; one test drives the real CLI. The
simulated clock starts 2026-03-02T09:00+01:00 and is moved, never slept on; ``tick`` fires what
is due. The Nore areas use the manual HES adapter: the close is a ``hes_commands`` row and the
acknowledgement is a caseworker's ``confirm_close``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hanport.bootstrap import App
from hanport.entrypoints.tick import tick
from hanport.service.batch import BatchReport
from tests.batch.helpers import (
    FUTURE,
    FUTURE_UTC,
    PAST,
    case,
    cases_for,
    cli,
    consents,
    documents,
    events,
    hes,
    live_consents,
    mail,
    open_port_1001,
    opening_in_flight_1001,
    point,
    rollback,
    row,
    rows,
    run_file,
    states,
    write_file,
)
from tests.support import (
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    advance,
    open_case,
)

KARI = "kari@example.no"  # customer 1001
SIRI = "siri@example.no"  # customer 1004, the legacy consent on NORE_OPEN_POINT


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def timers(app: App, ref: str, name: str = "auto_close_due") -> list[dict]:
    return rows(
        app.engine,
        "SELECT t.* FROM timers t JOIN cases c ON c.id = t.case_id "
        "WHERE c.ref = :r AND t.name = :n ORDER BY t.id",
        r=ref,
        n=name,
    )


def the_case(report: BatchReport, doc: str) -> str:
    """The case a document's row opened or acted on."""
    found = [o for o in report.outcomes if o["document_id"] == doc and o["case"]]
    assert found, report.outcomes
    return found[0]["case"]


def assert_still_open(app: App, gsrn: str, holder: str) -> None:
    assert point(app, gsrn)["han_port"] == "open"
    live = live_consents(app, gsrn)
    assert [c["customer"] for c in live] == [holder]
    assert point(app, gsrn)["consent_id"] == live[0]["id"]


def close_at_tick(app: App, when: str) -> None:
    app.clock.set(at(when))
    tick(app)


# --- order ------------------------------------------------------------------------------------


def test_rows_are_applied_in_file_order(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    f = write_file(
        tmp_path / "t.csv",
        [
            rollback("rb-0", NORE_POINT, "mo-1"),  # its target comes later: not seen yet
            row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),
            rollback("rb-1", NORE_POINT, "mo-1"),  # cancels mo-1's close
            row("eos-1", NORE_POINT, "end_of_supply", FUTURE, "1001"),  # a close again
            row("mo-2", NORE_POINT, "move_out", FUTURE, "1001"),  # one is scheduled: no-op
            row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "9001"),
        ],
    )
    report = run_file(app, f)
    assert [(o["row"], o["document_id"], o["outcome"]) for o in report.outcomes] == [
        (2, "rb-0", "rejected"),
        (3, "mo-1", "applied"),
        (4, "rb-1", "applied"),
        (5, "eos-1", "applied"),
        (6, "mo-2", "noop"),
        (7, "mi-1", "applied"),
    ]
    assert "rollback_of" in report.outcomes[0]["detail"]
    first, second, third = (
        the_case(report, "mo-1"),
        the_case(report, "eos-1"),
        the_case(report, "mi-1"),
    )
    assert the_case(report, "rb-1") == first
    # Cases were opened in row order.
    assert [case(app, r)["id"] for r in (first, second, third)] == sorted(
        case(app, r)["id"] for r in (first, second, third)
    )
    assert case(app, first)["state"] == "cancelled"
    assert case(app, second)["state"] == "scheduled"
    assert case(app, second)["data"]["close_reason"] == "end_of_supply"
    assert case(app, third)["state"] == "closing"
    assert [c["state"] for c in cases_for(app, NORE_POINT, "close_port")] == [
        "cancelled",
        "scheduled",
    ]


# --- the holder leaves ------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["move_out", "end_of_supply"])
def test_the_holder_leaving_closes_the_port_at_effective_at(
    seeded: App, tmp_path: Path, event: str
) -> None:
    app = seeded
    open_port_1001(app)
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d-1", NORE_POINT, event, FUTURE, "1001")])
    )
    assert (report.applied, report.noop, report.rejected) == (1, 0, 0)
    ref = the_case(report, "d-1")
    c = case(app, ref)
    assert (c["workflow"], c["state"]) == ("close_port", "scheduled")
    assert c["data"]["close_reason"] == event
    assert c["data"]["effective_at"] == FUTURE_UTC
    assert c["data"]["document_id"] == "d-1"
    assert events(app, ref)[0]["actor_kind"] == "batch"
    # Nothing happens before effective_at: the consent is live, the port open, no HES command.
    assert_still_open(app, NORE_POINT, "1001")
    assert hes(app, ref) == []
    assert mail(app, ref) == []
    (timer,) = timers(app, ref)
    assert (timer["status"], timer["trigger"]) == ("pending", "start_close")

    close_at_tick(app, "2026-03-09T23:59:59+01:00")  # a second before
    assert case(app, ref)["state"] == "scheduled"
    assert_still_open(app, NORE_POINT, "1001")
    assert hes(app, ref) == []

    close_at_tick(app, FUTURE)  # the close takes effect at effective_at (start-inclusive)
    assert case(app, ref)["state"] == "closing"
    (ended,) = [s for s in consents(app, NORE_POINT) if s["ended_at"] is not None]
    assert ended["customer"] == "1001" and ended["end_reason"] == event
    assert live_consents(app, NORE_POINT) == []
    assert [h["action"] for h in hes(app, ref)] == ["close"]
    assert point(app, NORE_POINT)["han_port"] == "closing"
    start_close = events(app, ref)[-1]
    assert (start_close["trigger"], start_close["actor_kind"]) == ("start_close", "scheduler")

    r = advance(app, actor(app), ref, "confirm_close")
    assert r.state == "closed"
    assert point(app, NORE_POINT)["han_port"] == "closed"
    assert point(app, NORE_POINT)["consent_id"] is None
    assert [(m["template"], m["recipient"]) for m in mail(app, ref)] == [("auto_closed", KARI)]


@pytest.mark.parametrize("due", [PAST, START])
def test_a_due_effective_at_closes_at_once(seeded: App, tmp_path: Path, due: str) -> None:
    app = seeded
    open_port_1001(app)
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d-1", NORE_POINT, "move_out", due, "1001")])
    )
    ref = the_case(report, "d-1")
    assert case(app, ref)["state"] == "closing"
    assert "closes now" in report.outcomes[0]["detail"]
    assert [s["end_reason"] for s in consents(app, NORE_POINT)] == ["move_out"]
    assert [h["action"] for h in hes(app, ref)] == ["close"]
    assert point(app, NORE_POINT)["han_port"] == "closing"
    assert not [t for t in timers(app, ref) if t["status"] == "pending"]
    assert advance(app, actor(app), ref, "confirm_close").state == "closed"
    assert [m["template"] for m in mail(app, ref)] == ["auto_closed"]


def test_a_due_effective_at_skips_scheduled(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d-1", NORE_POINT, "move_out", PAST, "1001")])
    )
    ref = the_case(report, "d-1")
    assert states(app, ref) == ["requested", "closing"]
    assert timers(app, ref) == []


# --- someone else's consent ---------------------------------------------------------------------


def test_a_port_held_by_another_customers_consent_is_a_noop_and_reported(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    f = write_file(
        tmp_path / "t.csv",
        [
            row("x-1", NORE_OPEN_POINT, "move_out", PAST, "1001"),  # 1004 holds it
            row("x-2", NORE_POINT, "end_of_supply", PAST, "1004"),  # 1001 holds it
            row("x-3", NORE_OPEN_POINT, "move_in", PAST, "1004"),  # the holder itself
            row("x-4", NORE_POINT_2, "move_out", PAST, "1005"),  # a closed port
        ],
    )
    # Through the real command line: exit 0, every row reported with its reason.
    url = app.engine.url.render_as_string(hide_password=False)
    run = cli(url, "--json", "batch", "terminations", "--details", str(f))
    assert run.code == 0, run.err
    out = run.json()
    assert (out["rows"], out["applied"], out["noop"], out["rejected"]) == (4, 0, 4, 0)
    detail = {o["document_id"]: o["detail"] for o in out["outcomes"]}
    assert "another customer's consent" in detail["x-1"]
    assert "another customer's consent" in detail["x-2"]
    assert "newcomer's own consent" in detail["x-3"]
    assert "closed" in detail["x-4"]
    recorded = documents(app.engine)
    assert {d: recorded[d]["outcome"] for d in recorded} == dict.fromkeys(detail, "noop")
    assert recorded["x-1"]["detail"] == detail["x-1"]
    assert cases_for(app, NORE_OPEN_POINT, "close_port") == []
    assert cases_for(app, NORE_POINT, "close_port") == []
    assert_still_open(app, NORE_OPEN_POINT, "1004")
    assert_still_open(app, NORE_POINT, "1001")


# --- a newcomer moves in ------------------------------------------------------------------------


@pytest.mark.parametrize("newcomer", ["9001", "1001"], ids=["unknown", "registered"])
def test_move_in_closes_the_previous_holders_port_and_only_they_are_told(
    seeded: App, tmp_path: Path, newcomer: str
) -> None:
    app = seeded
    report = run_file(
        app,
        write_file(tmp_path / "t.csv", [row("mi-1", NORE_OPEN_POINT, "move_in", FUTURE, newcomer)]),
    )
    assert report.applied == 1, report.outcomes
    ref = the_case(report, "mi-1")
    c = case(app, ref)
    assert c["data"]["close_reason"] == "move_in"
    owner = rows(app.engine, "SELECT customer_id FROM customers WHERE id = :i", i=c["customer_pk"])
    assert owner == [{"customer_id": "1004"}]  # the case is the holder's
    assert c["state"] == "scheduled"
    assert_still_open(app, NORE_OPEN_POINT, "1004")

    close_at_tick(app, "2026-03-10T00:00:01+01:00")
    assert case(app, ref)["state"] == "closing"
    (legacy,) = consents(app, NORE_OPEN_POINT)
    assert (legacy["source"], legacy["end_reason"]) == ("legacy_import", "move_in")
    assert [h["action"] for h in hes(app, ref)] == ["close"]
    assert advance(app, actor(app), ref, "confirm_close").state == "closed"
    assert point(app, NORE_OPEN_POINT)["han_port"] == "closed"

    sent = mail(app, ref)
    assert [m["template"] for m in sent] == ["auto_closed"]
    assert {m["recipient"] for m in sent} == {SIRI}
    everyone = {m["recipient"] for m in rows(app.engine, "SELECT recipient FROM mail_outbox")}
    if newcomer == "1001":
        assert KARI not in everyone  # the newcomer is never told about the old consent


def test_move_in_rolled_back_tells_the_holder_not_the_newcomer(seeded: App, tmp_path: Path) -> None:
    app = seeded
    run_file(
        app,
        write_file(tmp_path / "a.csv", [row("mi-1", NORE_OPEN_POINT, "move_in", FUTURE, "1001")]),
    )
    report = run_file(
        app, write_file(tmp_path / "b.csv", [rollback("rb-1", NORE_OPEN_POINT, "mi-1")])
    )
    ref = the_case(report, "rb-1")
    assert case(app, ref)["state"] == "cancelled"
    assert [(m["template"], m["recipient"]) for m in mail(app, ref)] == [
        ("close_cancelled_rollback", SIRI)
    ]
    assert_still_open(app, NORE_OPEN_POINT, "1004")


# --- in-flight openings -----------------------------------------------------------------------


def test_an_opening_in_flight_is_cancelled_at_effective_at_not_before(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    opening = opening_in_flight_1001(app)
    effective = "2026-03-02T15:00:00+01:00"  # within the opening's 24 h HES timeout
    report = run_file(
        app, write_file(tmp_path / "t.csv", [row("d-1", NORE_POINT, "move_out", effective, "1001")])
    )
    assert report.applied == 1, report.outcomes
    ref = the_case(report, "d-1")
    assert case(app, ref)["state"] == "scheduled"
    # Nothing before effective_at: the opening goes on, its consent live.
    assert case(app, opening)["state"] == "opening"
    assert [c["end_reason"] for c in consents(app, NORE_POINT)] == [None]
    assert [(h["action"], h["status"]) for h in hes(app, opening)] == [("open", "pending")]

    close_at_tick(app, effective)
    assert case(app, opening)["state"] == "cancelled"
    assert case(app, ref)["state"] == "closing"
    (c,) = consents(app, NORE_POINT)
    assert c["ended_at"] is not None and c["end_reason"] == "move_out"
    assert [(h["action"], h["status"]) for h in hes(app, opening)] == [("open", "cancelled")]
    assert [h["action"] for h in hes(app, ref)] == ["close"]
    assert advance(app, actor(app), ref, "confirm_close").state == "closed"
    assert point(app, NORE_POINT)["han_port"] == "closed"


# --- rollbacks --------------------------------------------------------------------------------


@pytest.mark.parametrize("same_file", [True, False], ids=["same-file", "later-file"])
def test_a_rollback_before_effective_at_cancels_the_scheduled_close(
    seeded: App, tmp_path: Path, same_file: bool
) -> None:
    app = seeded
    open_port_1001(app)
    close = row("mo-1", NORE_POINT, "move_out", FUTURE, "1001")
    back = rollback("rb-1", NORE_POINT, "mo-1")
    if same_file:
        report = run_file(app, write_file(tmp_path / "a.csv", [close, back]))
    else:
        run_file(app, write_file(tmp_path / "a.csv", [close]))
        app.clock.advance(timedelta(days=2))
        report = run_file(app, write_file(tmp_path / "b.csv", [back]))
    assert report.outcomes[-1]["outcome"] == "applied"
    assert "rolled back" in report.outcomes[-1]["detail"]
    ref = the_case(report, "rb-1")
    assert case(app, ref)["state"] == "cancelled"
    assert [(m["template"], m["recipient"]) for m in mail(app, ref)] == [
        ("close_cancelled_rollback", KARI)
    ]
    assert [t["status"] for t in timers(app, ref)] == ["cancelled"]
    assert_still_open(app, NORE_POINT, "1001")
    assert documents(app.engine)["rb-1"]["outcome"] == "applied"

    # And nothing happens at the effective time.
    close_at_tick(app, "2026-03-10T00:00:01+01:00")
    assert case(app, ref)["state"] == "cancelled"
    assert hes(app, ref) == []
    assert_still_open(app, NORE_POINT, "1001")


@pytest.mark.parametrize("acknowledged", [True, False], ids=["closed", "closing"])
def test_a_rollback_after_effective_at_is_recorded_and_the_port_stays_closed(
    seeded: App, tmp_path: Path, acknowledged: bool
) -> None:
    app = seeded
    open_port_1001(app)
    run_file(
        app, write_file(tmp_path / "a.csv", [row("mo-1", NORE_POINT, "move_out", FUTURE, "1001")])
    )
    close_at_tick(app, "2026-03-10T00:00:01+01:00")
    ref = cases_for(app, NORE_POINT, "close_port")[0]["ref"]
    if acknowledged:
        advance(app, actor(app), ref, "confirm_close")
    state = case(app, ref)["state"]

    report = run_file(app, write_file(tmp_path / "b.csv", [rollback("rb-1", NORE_POINT, "mo-1")]))
    assert (report.applied, report.noop, report.rejected) == (0, 1, 0)
    assert "too late" in report.outcomes[0]["detail"]
    recorded = documents(app.engine)["rb-1"]
    assert recorded["outcome"] == "noop" and "too late" in recorded["detail"]
    assert case(app, ref)["state"] == state
    assert [c["end_reason"] for c in consents(app, NORE_POINT)] == ["move_out"]
    assert not any(m["template"] == "close_cancelled_rollback" for m in mail(app, ref))
    if not acknowledged:
        advance(app, actor(app), ref, "confirm_close")
    assert point(app, NORE_POINT)["han_port"] == "closed"
    assert live_consents(app, NORE_POINT) == []


def test_a_rollback_after_effective_at_but_before_the_timer_fired_is_a_noop(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    run_file(
        app, write_file(tmp_path / "a.csv", [row("mo-1", NORE_POINT, "move_out", FUTURE, "1001")])
    )
    ref = cases_for(app, NORE_POINT, "close_port")[0]["ref"]
    app.clock.set(at("2026-03-10T04:15:00+01:00"))  # the next nightly slot, the timer not fired
    report = run_file(app, write_file(tmp_path / "b.csv", [rollback("rb-1", NORE_POINT, "mo-1")]))
    assert report.outcomes[0]["outcome"] == "noop", report.outcomes
    tick(app)
    assert case(app, ref)["state"] == "closing"
    assert [c["end_reason"] for c in consents(app, NORE_POINT)] == ["move_out"]


def test_a_rollback_of_a_noop_document_is_a_noop(seeded: App, tmp_path: Path) -> None:
    app = seeded
    report = run_file(
        app,
        write_file(
            tmp_path / "t.csv",
            [
                row("mo-1", NORE_OPEN_POINT, "move_out", FUTURE, "1001"),  # not the holder
                rollback("rb-1", NORE_OPEN_POINT, "mo-1"),
            ],
        ),
    )
    assert [o["outcome"] for o in report.outcomes] == ["noop", "noop"]
    assert "nothing to roll back" in report.outcomes[1]["detail"]
    assert_still_open(app, NORE_OPEN_POINT, "1004")


# --- one close per point ----------------------------------------------------------------------


def test_a_second_close_for_a_point_with_one_scheduled_or_in_progress_is_a_noop(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    report = run_file(
        app,
        write_file(
            tmp_path / "a.csv",
            [
                row("a-1", NORE_POINT, "move_out", FUTURE, "1001"),
                row("a-2", NORE_POINT, "end_of_supply", PAST, "1001"),
                row("a-3", NORE_POINT, "move_in", PAST, "9001"),
            ],
        ),
    )
    assert [o["outcome"] for o in report.outcomes] == ["applied", "noop", "noop"]
    assert all("already scheduled" in o["detail"] for o in report.outcomes[1:])
    (only,) = cases_for(app, NORE_POINT, "close_port")
    assert only["state"] == "scheduled" and only["data"]["close_reason"] == "move_out"

    close_at_tick(app, FUTURE)
    report = run_file(
        app, write_file(tmp_path / "b.csv", [row("b-1", NORE_POINT, "move_in", PAST, "9001")])
    )
    assert report.outcomes[0]["outcome"] == "noop"
    assert "already closing" in report.outcomes[0]["detail"]
    advance(app, actor(app), only["ref"], "confirm_close")
    report = run_file(
        app, write_file(tmp_path / "c.csv", [row("c-1", NORE_POINT, "move_out", PAST, "1001")])
    )
    assert report.outcomes[0]["outcome"] == "noop"
    assert "closed" in report.outcomes[0]["detail"]
    assert len(cases_for(app, NORE_POINT, "close_port")) == 1
    assert [c["end_reason"] for c in consents(app, NORE_POINT)] == ["move_out"]


def test_a_close_request_under_way_makes_the_batch_close_a_noop(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    r = open_case(
        app,
        actor(app),
        "close_port",
        customer="1004",
        meter_number=NORE_OPEN_METER,
        channel="email",
        from_email=SIRI,
    )
    assert r.state == "closing"
    report = run_file(
        app,
        write_file(tmp_path / "t.csv", [row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "9001")]),
    )
    assert report.outcomes[0]["outcome"] == "noop"
    assert r.case in report.outcomes[0]["detail"]
    assert [c["ref"] for c in cases_for(app, NORE_OPEN_POINT, "close_port")] == [r.case]
    assert [c["end_reason"] for c in consents(app, NORE_OPEN_POINT)] == ["withdrawn"]


# --- instants across DST ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "later", "later_utc", "due"),
    [
        # Spring (2026-03-29, 02:00 → 03:00): 03:30+02:00 is an hour *after* 01:30+01:00 and
        # 45 minutes after the clock; the due one is written with the winter offset.
        (
            "2026-03-29T00:45:00+00:00",
            "2026-03-29T03:30:00+02:00",
            "2026-03-29T01:30:00+00:00",
            "2026-03-29T01:30:00+01:00",
        ),
        # Autumn (2026-10-25, 03:00 → 02:00): 02:15+01:00 is *later* than 02:30+02:00 and than
        # the clock at 02:45+02:00, though its wall-clock time is earlier.
        (
            "2026-10-25T02:45:00+02:00",
            "2026-10-25T02:15:00+01:00",
            "2026-10-25T01:15:00+00:00",
            "2026-10-25T02:30:00+02:00",
        ),
        # Offsets and Z mixed.
        (
            "2026-10-25T01:00:00Z",
            "2026-10-25T01:00:01Z",
            "2026-10-25T01:00:01+00:00",
            "2026-10-25T03:00:00+02:00",
        ),
    ],
    ids=["spring", "autumn", "utc"],
)
def test_instants_across_dst_compare_as_instants(
    seeded: App, tmp_path: Path, now: str, later: str, later_utc: str, due: str
) -> None:
    app = seeded
    open_port_1001(app)
    app.clock.set(at(now))
    report = run_file(
        app,
        write_file(
            tmp_path / "t.csv",
            [
                row("later", NORE_POINT, "move_out", later, "1001"),
                row("due", NORE_OPEN_POINT, "move_in", due, "9001"),
            ],
        ),
    )
    assert report.applied == 2, report.outcomes
    later_ref, due_ref = the_case(report, "later"), the_case(report, "due")
    assert case(app, due_ref)["state"] == "closing"
    assert case(app, later_ref)["state"] == "scheduled"
    assert case(app, later_ref)["data"]["effective_at"] == later_utc
    (timer,) = timers(app, later_ref)
    assert timer["status"] == "pending"

    close_at_tick(app, (at(later_utc) - timedelta(seconds=1)).isoformat())
    assert case(app, later_ref)["state"] == "scheduled"
    assert_still_open(app, NORE_POINT, "1001")
    close_at_tick(app, later_utc)
    assert case(app, later_ref)["state"] == "closing"
    assert [c["end_reason"] for c in consents(app, NORE_POINT)] == ["move_out"]

"""HES commands on both backends: the outbox (nothing before commit, nothing before not_before),
acknowledgements applied only by a later tick, one command at a time per point and in order, the
never-left-open rule when a case is cancelled or overtaken, deterministic and scripted failures of
the simulated adapter, and the manual adapter.

The simulated adapter answers ``hes_sim_delay_minutes`` (10) after dispatch; the answer is stored
on the command row and applied by ``apply_acks`` once the simulated clock has reached it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hanport.adapters import hes_gateways
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.entrypoints.tick import tick
from hanport.errors import NotFound, Refused
from hanport.identifiers import gsrn_with_check_digit
from hanport.queries.cases import case_view
from hanport.queries.hes import list_commands
from hanport.service import hes
from hanport.service.unit import transaction
from hanport.storage import tables
from tests.conftest import drop_pg_database, new_pg_database
from tests.support import (
    NORE_METER,
    NORE_METER_2,
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    advance,
    answer,
    apply_acks,
    consent,
    dispatch,
    fire_in,
    import_customers,
    import_points,
    open_case,
    seed,
)
from tests.time.helpers import (
    case_row,
    dispatch_spy,
    events,
    hes_rows,
    port,
    sim_app,
    tick_until,
)

T0 = datetime.fromisoformat(START)
DELAY = timedelta(minutes=10)  # the simulated adapter's default answer delay


@pytest.fixture
def sim(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[App]:
    """The test registry, every area on the simulated HES adapter; ``@pytest.mark.sim(...)``
    passes settings overrides."""
    marker = request.node.get_closest_marker("sim")
    over = dict(marker.kwargs) if marker else {}
    app = sim_app(db_url, **over)
    try:
        seed(app, tmp_path / "registry")
        yield app
    finally:
        app.close()


def open_nore(app: App, point: str = NORE_POINT, customer: str = "1001", **over: str) -> str:
    fields = consent(received_at=app.clock.now().isoformat(), **over)
    if point == NORE_POINT_2:
        fields.update(signer_name="Nils Li", address="Nedre Dal 2", postal_code="3631")
    r = open_case(
        app, actor(app), "nore_open", customer=customer, metering_point=point, fields=fields
    )
    assert r.state == "opening"
    return r.case


def state(app: App, ref: str) -> str:
    return str(case_row(app, ref)["state"])


# --- the outbox: nothing before commit, nothing before not_before -----------------------------


def test_dispatch_sends_nothing_of_a_command_that_rolled_back(
    sim: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sim
    sent = dispatch_spy(monkeypatch)
    ref = open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT).case
    with transaction(app) as uow:
        case = fire_in(uow, app, actor(app), ref, "record_consent", **consent())
        assert case.state == "opening"
        # no commit: the command fails after enqueueing its HES command
    assert dispatch(app).dispatched == 0
    assert tick(app).hes_dispatched == 0
    assert sent == []
    assert hes_rows(app) == []
    assert port(app, NORE_POINT) == "closed"


def test_dispatch_sends_nothing_before_the_command_commits(
    sim: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sim
    sent = dispatch_spy(monkeypatch)
    ref = open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT).case
    reports: list[hes.HesReport] = []
    worker = threading.Thread(target=lambda: reports.append(dispatch(app)))
    with transaction(app) as uow:
        fire_in(uow, app, actor(app), ref, "record_consent", **consent())
        # A scheduler dispatching meanwhile: PostgreSQL does not see the row (it returns at
        # once); SQLite makes it wait for the writer. Either way nothing leaves yet.
        worker.start()
        worker.join(0.5)
        assert sent == []
        uow.commit()
    worker.join(10)
    assert not worker.is_alive()
    if not sent:  # PostgreSQL: the dispatch before the commit found nothing
        assert reports[0].dispatched == 0
        dispatch(app)
    assert [(cmd_id, action) for cmd_id, action, _ in sent] == [(hes_rows(app)[0]["id"], "open")]
    assert hes_rows(app)[0]["status"] == "sent"


@pytest.mark.sim(hes_sim_script={NORE_POINT: ("fail",)})
def test_dispatch_waits_for_not_before(sim: App, monkeypatch: pytest.MonkeyPatch) -> None:
    app = sim
    sent = dispatch_spy(monkeypatch)
    ref = open_nore(app)
    tick(app)
    app.clock.advance(DELAY)
    tick(app)  # the failure: the retry is queued with a 15 min backoff
    retry = hes_rows(app, ref)[-1]
    assert (retry["status"], retry["attempt"]) == ("pending", 2)
    assert retry["not_before"] == T0 + DELAY + timedelta(minutes=15)

    app.clock.set(retry["not_before"] - timedelta(seconds=1))
    assert dispatch(app).dispatched == 0
    assert tick(app).hes_dispatched == 0
    assert retry["id"] not in [s[0] for s in sent]
    app.clock.set(retry["not_before"])
    assert dispatch(app).dispatched == 1
    assert sent[-1][:2] == (retry["id"], "open")


# --- acknowledgements: stored at dispatch, applied by a later tick ----------------------------


def test_acks_are_stored_at_dispatch_and_applied_by_a_later_tick(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    assert dispatch(app).dispatched == 1
    cmd = hes_rows(app, ref)[0]
    assert (cmd["status"], cmd["adapter"], cmd["sent_at"]) == ("sent", "simulated", T0)
    assert (cmd["ack_due_at"], cmd["ack_outcome"]) == (T0 + DELAY, "opened")
    # Stored, not applied.
    assert state(app, ref) == "opening"
    assert port(app, NORE_POINT) == "opening"
    assert apply_acks(app).acknowledged == 0
    app.clock.advance(DELAY - timedelta(seconds=1))
    assert tick(app).hes_acknowledged == 0
    assert state(app, ref) == "opening"

    app.clock.advance(timedelta(seconds=1))
    assert tick(app).hes_acknowledged == 1
    assert state(app, ref) == "confirmed"
    assert port(app, NORE_POINT) == "open"
    ev = events(app, ref)[-1]
    assert (ev["trigger"], ev["actor"], ev["actor_kind"]) == ("confirm_open", "hes", "hes")
    assert ev["data"]["hes_command"] == cmd["id"]
    assert ev["data"]["late_seconds"] == 0
    done = hes_rows(app, ref)[0]
    assert (done["status"], done["result"], done["done_at"]) == ("acked", "opened", T0 + DELAY)
    assert case_view(app, ref)["consent"]["ended_at"] is None


@pytest.mark.sim(hes_sim_delay_minutes=0)
def test_an_immediate_answer_is_still_not_applied_inside_dispatch(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    report = tick(app)  # acknowledgements first (none yet), then the dispatch
    assert (report.hes_dispatched, report.hes_acknowledged) == (1, 0)
    assert hes_rows(app, ref)[0]["ack_due_at"] == T0
    assert state(app, ref) == "opening"
    assert tick(app).hes_acknowledged == 1  # the next tick, at the same instant
    assert state(app, ref) == "confirmed"


# --- order per point, and the never-left-open rule --------------------------------------------


def test_commands_for_one_point_go_in_order_one_at_a_time(
    sim: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sim
    sent = dispatch_spy(monkeypatch)
    ref = open_nore(app)
    tick(app)
    app.clock.advance(timedelta(minutes=2))
    advance(app, actor(app), ref, "cancel", {"reason": "the customer changed their mind"})
    opened, close = hes_rows(app, ref)
    assert (opened["action"], opened["status"]) == ("open", "sent")
    assert (close["action"], close["status"]) == ("close", "pending")

    for _ in range(3):  # ticks before the open is settled: the close waits
        app.clock.advance(timedelta(minutes=2))
        assert tick(app).hes_dispatched == 0
    assert [s[1] for s in sent] == ["open"]

    app.clock.set(opened["ack_due_at"])
    report = tick(app)  # the open is settled first, then the close leaves
    assert (report.hes_acknowledged, report.hes_dispatched) == (1, 1)
    assert [s[1] for s in sent] == ["open", "close"]
    settled = hes_rows(app, ref)[0]
    assert settled["done_at"] <= sent[1][2]


def test_a_late_opened_ack_on_a_cancelled_case_is_followed_by_the_close(sim: App) -> None:
    """The key safety property: the port is never left open without a live consent."""
    app = sim
    ref = open_nore(app)
    tick(app)  # the open leaves
    assert hes_rows(app, ref)[0]["status"] == "sent"
    app.clock.advance(timedelta(minutes=3))
    advance(app, actor(app), ref, "cancel", {"reason": "wrong customer"})
    assert state(app, ref) == "cancelled"
    consent_row = case_view(app, ref)["consent"]
    assert consent_row["end_reason"] == "cancelled"

    # The late "opened" acknowledgement arrives; the close queued behind it goes out at once.
    app.clock.set(T0 + DELAY)
    report = tick(app)
    assert (report.hes_acknowledged, report.hes_dispatched) == (1, 1)
    opened, close = hes_rows(app, ref)
    assert (opened["status"], opened["result"]) == ("acked", "opened")
    assert close["status"] == "sent"
    assert port(app, NORE_POINT) == "closing"  # opened, and a close is under way

    app.clock.set(close["ack_due_at"])
    tick(app)
    assert [(h["action"], h["status"]) for h in hes_rows(app, ref)] == [
        ("open", "acked"),
        ("close", "acked"),
    ]
    assert port(app, NORE_POINT) == "closed"
    assert state(app, ref) == "cancelled"
    with app.engine.connect() as conn:
        point = conn.execute(
            select(tables.POINTS.c.consent_id).where(tables.POINTS.c.gsrn == NORE_POINT)
        ).one()
    assert point.consent_id is None


def test_a_close_request_overtaking_an_opening_in_flight_closes_the_port(sim: App) -> None:
    app = sim
    opening_ref = open_nore(app)
    tick(app)  # the open is in flight
    app.clock.advance(timedelta(minutes=1))
    close = open_case(
        app,
        actor(app),
        "close_port",
        customer="1001",
        meter_number=NORE_METER,
        channel="email",
        from_email="kari@example.no",
    )
    assert close.state == "closing"
    assert state(app, opening_ref) == "cancelled"
    assert case_view(app, opening_ref)["consent"]["end_reason"] == "withdrawn"
    assert events(app, opening_ref)[-1]["data"]["superseded_by"] == close.case

    tick_until(app, lambda: state(app, close.case) == "closed", step=timedelta(minutes=5))
    assert port(app, NORE_POINT) == "closed"
    cmds = hes_rows(app, point=NORE_POINT)
    assert [(h["action"], h["status"]) for h in cmds] == [("open", "acked"), ("close", "acked")]
    assert cmds[1]["sent_at"] >= cmds[0]["done_at"]
    assert state(app, opening_ref) == "cancelled"


def test_a_close_request_before_the_open_left_recalls_it(
    sim: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sim
    sent = dispatch_spy(monkeypatch)
    opening_ref = open_nore(app)  # enqueued, not dispatched yet
    close = open_case(
        app,
        actor(app),
        "close_port",
        customer="1001",
        meter_number=NORE_METER,
        channel="email",
        from_email="kari@example.no",
    )
    assert hes_rows(app, opening_ref)[0]["status"] == "cancelled"
    tick_until(app, lambda: state(app, close.case) == "closed")
    assert [s[1] for s in sent] == ["close"]
    assert port(app, NORE_POINT) == "closed"


# --- failures: deterministic, scripted, and a failed close behind a cancelled case ------------


def _many_points(app: App, folder: Path, n: int) -> list[tuple[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    cust = ["customer_id;name;email;phone;street;postal_code;city;language;energipilot"]
    pts = [
        "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
    ]
    pairs = []
    for i in range(n):
        cid, gsrn = str(700000 + i), gsrn_with_check_digit(f"70705750{1000 + i:09d}")
        cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};3630;Rødberg;nb;no")
        pts.append(f"{gsrn};{cid};73{1000 + i:014d};3338;Bjørkeveien {i};3630;Rødberg;closed")
        pairs.append((cid, gsrn))
    (folder / "c.csv").write_text("\n".join(cust) + "\n", encoding="utf-8")
    (folder / "p.csv").write_text("\n".join(pts) + "\n", encoding="utf-8")
    import_customers(app, actor(app), folder / "c.csv")
    import_points(app, actor(app), folder / "p.csv")
    return pairs


def _outcomes(url: str, folder: Path, seed_value: int) -> dict[str, str]:
    """Open 16 cases under a 50 % failure share; the first answer per point."""
    app = sim_app(url, hes_sim_failure_share=0.5, hes_sim_seed=seed_value)
    try:
        seed(app, folder / "registry")
        pairs = _many_points(app, folder / "many", 16)
        for i, (cid, gsrn) in enumerate(pairs):
            f = consent(signer_name=f"Kunde {i}", address=f"Bjørkeveien {i}", received_at=START)
            open_case(app, actor(app), "nore_open", customer=cid, metering_point=gsrn, fields=f)
        tick(app)
        app.clock.advance(DELAY)
        tick(app)
        out = {}
        for _, gsrn in pairs:
            first = hes_rows(app, point=gsrn)[0]
            out[gsrn] = str(first["ack_outcome"])
            assert first["status"] == ("acked" if first["ack_outcome"] == "opened" else "failed")
        return out
    finally:
        app.close()


@pytest.fixture
def second_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh database on the same backend."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    url = new_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


def test_failures_are_deterministic_with_a_seed(
    db_url: str, second_db: str, tmp_path: Path
) -> None:
    first = _outcomes(db_url, tmp_path / "a", seed_value=11)
    again = _outcomes(second_db, tmp_path / "b", seed_value=11)
    assert first == again
    assert set(first.values()) == {"opened", "failed"}  # a share, not all or nothing


def test_the_simulated_gateway_is_a_pure_function_of_seed_command_and_attempt() -> None:
    cmds = [
        {"id": i, "attempt": a, "action": "open", "gsrn": "x"} for i in range(400) for a in (1, 2)
    ]

    def run(share: float, seed_value: int) -> list[str | None]:
        gw = hes_gateways.SimulatedGateway(failure_share=share, seed=seed_value)
        return [gw.send(c, T0).outcome for c in cmds]

    a, b = run(0.3, 5), run(0.3, 5)
    assert a == b
    assert run(0.3, 6) != a
    assert 0.24 < a.count("failed") / len(a) < 0.36
    assert set(run(0.0, 5)) == {"opened"}
    assert set(run(1.0, 5)) == {"failed"}
    sent = hes_gateways.SimulatedGateway(delay=timedelta(minutes=7)).send(cmds[0], T0)
    assert sent.ack_due_at == T0 + timedelta(minutes=7)


@pytest.mark.sim(hes_sim_script={NORE_POINT: ("fail", "fail", "fail")})
def test_scripted_failures_drive_the_case_to_needs_attention(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    tick_until(app, lambda: state(app, ref) == "needs_attention")
    row = case_row(app, ref)
    assert "hes_attention" in row["flags"]
    cmds = hes_rows(app, ref)
    assert [(c["action"], c["status"], c["attempt"]) for c in cmds] == [
        ("open", "failed", 1),
        ("open", "failed", 2),
        ("open", "failed", 3),
    ]
    failures = [e for e in events(app, ref) if e["trigger"] == "report_failure"]
    assert [e["actor_kind"] for e in failures] == ["hes", "hes", "hes"]
    # Backoff: 15, then 30 minutes after each failure was applied.
    assert cmds[1]["not_before"] == failures[0]["occurred_at"] + timedelta(minutes=15)
    assert cmds[2]["not_before"] == failures[1]["occurred_at"] + timedelta(minutes=30)
    assert port(app, NORE_POINT) == "opening"

    # The script is used up: the caseworker's retry opens the port.
    advance(app, actor(app), ref, "retry")
    tick_until(app, lambda: state(app, ref) == "confirmed")
    assert port(app, NORE_POINT) == "open"


@pytest.mark.sim(hes_sim_script={NORE_POINT: ("fail", "fail")})
def test_a_failed_close_behind_a_cancelled_case_is_queued_again(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    tick(app)
    advance(app, actor(app), ref, "cancel", {"reason": "moved"})
    tick_until(app, lambda: port(app, NORE_POINT) == "closed", max_steps=300)
    # One close command, sent again in its place after its failure (not a new row behind
    # whatever was enqueued meanwhile).
    closes = [h for h in hes_rows(app, ref) if h["action"] == "close"]
    assert [(h["status"], h["attempt"], h["sends"], h["result"]) for h in closes] == [
        ("acked", 2, 2, "closed")
    ]
    assert closes[0]["error"] == "simulated: meter unreachable (scripted)"
    assert state(app, ref) == "cancelled"


@pytest.mark.sim(hes_sim_delay_minutes=25 * 60)
def test_an_opened_ack_after_the_timeout_is_not_lost(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    tick(app)
    first = hes_rows(app, ref)[0]
    assert first["ack_due_at"] == T0 + timedelta(hours=25)
    app.clock.set(T0 + timedelta(hours=24))
    tick(app)  # the timeout: a failure, a retry is queued
    assert case_row(app, ref)["data"]["hes_failures"] == 1
    app.clock.set(first["ack_due_at"])
    tick(app)  # the HES's answer to the first command: the port did open
    assert port(app, NORE_POINT) == "open"


def test_two_schedulers_apply_one_acknowledgement_once(db_url: str, tmp_path: Path) -> None:
    script = {NORE_POINT: ("fail", "fail")}  # the open and the first close fail
    app = sim_app(db_url, hes_sim_script=script)
    try:
        seed(app, tmp_path / "registry")
        ref = open_nore(app)
        tick(app)
        advance(app, actor(app), ref, "cancel", {"reason": "moved"})
        app.clock.advance(DELAY)
        tick(app)  # the open's failure is recorded; the close behind it leaves
        assert [(h["action"], h["status"]) for h in hes_rows(app, ref)] == [
            ("open", "failed"),
            ("close", "sent"),
        ]
        app.clock.advance(DELAY)

        # Two schedulers reach the close's (failed) answer at the same moment: both have
        # listed it as due before either applies it (the answer is consumed under a lock).
        listed = threading.Barrier(2, timeout=20)

        def run(a: Any) -> None:
            listed.wait()
            reports.append(apply_acks(a))

        schedulers = [sim_app(db_url, now=app.clock.now(), hes_sim_script=script) for _ in "ab"]
        reports: list[hes.HesReport] = []
        threads = [threading.Thread(target=run, args=(a,)) for a in schedulers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for a in schedulers:
            a.close()
        assert len(reports) == 2
        closes = [h for h in hes_rows(app, ref) if h["action"] == "close"]
        assert [(h["status"], h["attempt"], h["sends"]) for h in closes] == [("pending", 2, 1)]
        assert sum(r.failed for r in reports) == 1, [r.details for r in reports]
    finally:
        app.close()


@pytest.mark.sim(hes_sim_script={NORE_POINT: ("fail", "fail", "fail")})
def test_a_requeued_close_waits_the_configured_backoff(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    tick(app)
    advance(app, actor(app), ref, "cancel", {"reason": "moved"})
    waits: dict[int, timedelta] = {}

    def requeued_twice() -> bool:
        (close,) = [h for h in hes_rows(app, ref) if h["action"] == "close"]
        if close["status"] == "pending" and close["attempt"] > 1:
            # Sent again after the failure applied by this tick (at the clock's time).
            waits.setdefault(close["attempt"], close["not_before"] - app.clock.now())
        return len(waits) >= 2

    tick_until(app, requeued_twice, step=timedelta(minutes=1), max_steps=300)
    assert waits == {2: timedelta(minutes=15), 3: timedelta(minutes=30)}


# --- the manual adapter -----------------------------------------------------------------------


def test_manual_adapter_sends_and_waits_for_the_caseworker(seeded: App) -> None:
    app = seeded  # default areas: manual
    ref = open_nore(app)
    assert tick(app).hes_dispatched == 1
    cmd = hes_rows(app, ref)[0]
    assert (cmd["status"], cmd["adapter"], cmd["ack_due_at"], cmd["ack_outcome"]) == (
        "sent",
        "manual",
        None,
        None,
    )
    for _ in range(4):
        app.clock.advance(timedelta(hours=5))
        report = tick(app)
        assert (report.hes_acknowledged, report.hes_dispatched) == (0, 0)
    assert state(app, ref) == "opening"
    assert port(app, NORE_POINT) == "opening"

    r = advance(app, actor(app), ref, "confirm_open")
    assert r.state == "confirmed"
    ev = events(app, ref)[-1]
    assert (ev["actor"], ev["actor_kind"]) == ("cw", "caseworker")
    assert hes_rows(app, ref)[0]["status"] == "acked"
    assert port(app, NORE_POINT) == "open"
    assert isoformat_utc(ev["occurred_at"]) == isoformat_utc(T0 + timedelta(hours=20))


def test_manual_adapter_a_cancelled_case_still_gets_its_close_sent(seeded: App) -> None:
    app = seeded
    ref = open_nore(app)
    tick(app)  # the caseworker is asked to open it at the vendor
    app.clock.advance(timedelta(minutes=30))
    advance(app, actor(app), ref, "cancel", {"reason": "changed mind"})
    for _ in range(6):  # three days of ticks
        app.clock.advance(timedelta(hours=12))
        tick(app)
    close = [h for h in hes_rows(app, ref) if h["action"] == "close"]
    assert close and close[-1]["status"] == "sent"


def test_hes_list_names_who_answers_each_command(seeded: App) -> None:
    app = seeded
    ref = open_nore(app)
    tick(app)
    (live,) = list_commands(app)
    assert (live["case"], live["action"], live["status"], live["adapter"]) == (
        ref,
        "open",
        "sent",
        "manual",
    )
    assert f"hanport case advance {ref} confirm_open" in live["waits_for"]
    advance(app, actor(app), ref, "cancel", {"reason": "changed mind"})
    rows = list_commands(app, metering_point=NORE_POINT)
    assert [(r["action"], r["status"], r["case_state"]) for r in rows] == [
        ("open", "sent", "cancelled"),
        ("close", "pending", "cancelled"),
    ]
    assert rows[0]["waits_for"] == f"a caseworker: hanport hes answer {rows[0]['id']} opened|failed"
    assert rows[1]["waits_for"].startswith("its turn")
    assert list_commands(app, metering_point=NORE_POINT_2) == []
    with pytest.raises(NotFound):
        list_commands(app, metering_point="707057500000000070")


def test_hes_answer_settles_the_commands_a_cancelled_case_left(seeded: App) -> None:
    """Manual area: an opening sent to the vendor, then cancelled. The vendor says the port was
    opened, then that the close behind it failed once and then succeeded: each answer is
    recorded by hand, and the port ends closed with the caseworker named in its history."""
    app = seeded
    ref = open_nore(app)
    tick(app)
    advance(app, actor(app), ref, "cancel", {"reason": "changed mind"})
    opened, close = hes_rows(app, ref)
    r = answer(app, actor(app), opened["id"], "opened")
    assert (r["status"], r["port"]) == ("acked", "closing")  # open now, the close queued behind
    tick(app)  # the close leaves for the vendor
    assert hes_rows(app, ref)[1]["status"] == "sent"
    r = answer(app, actor(app), close["id"], "failed", note="meter did not answer")
    assert (r["status"], r["attempt"], r["port"]) == ("pending", 2, "closing")  # sent again
    assert hes_rows(app, ref)[1]["error"] == "meter did not answer"
    tick_until(app, lambda: hes_rows(app, ref)[1]["status"] == "sent")
    r = answer(app, actor(app), close["id"], "closed")
    assert (r["status"], r["port"]) == ("acked", "closed")
    assert list_commands(app) == []
    with app.engine.connect() as conn:
        causes = [
            c
            for (c,) in conn.execute(
                select(tables.PORT_EVENTS.c.cause).order_by(tables.PORT_EVENTS.c.id)
            )
        ]
    assert causes[-1] == f"close answer recorded by cw for {ref} (cancelled)"


def test_hes_answer_refuses_what_it_cannot_settle(seeded: App, db_url: str) -> None:
    app = seeded
    ref = open_nore(app)
    (pending,) = hes_rows(app, ref)
    with pytest.raises(Refused, match="pending: only a command sent"):
        answer(app, actor(app), pending["id"], "opened")
    tick(app)
    with pytest.raises(Refused, match=f"belongs to {ref}, which is still opening"):
        answer(app, actor(app), pending["id"], "opened")
    advance(app, actor(app), ref, "cancel", {"reason": "changed mind"})
    with pytest.raises(Refused, match="opened or failed, not 'closed'") as wrong:
        answer(app, actor(app), pending["id"], "closed")
    assert wrong.value.field == "outcome"
    with pytest.raises(Refused, match="auditor"):
        answer(app, actor(app, "aud"), pending["id"], "opened")
    with pytest.raises(NotFound):
        answer(app, actor(app), 999_999, "opened")
    assert hes_rows(app, ref)[0]["status"] == "sent"  # nothing changed


@pytest.mark.sim()
def test_hes_answer_leaves_a_gateways_commands_to_the_gateway(sim: App) -> None:
    app = sim
    ref = open_nore(app)
    tick(app)
    advance(app, actor(app), ref, "cancel", {"reason": "changed mind"})
    with pytest.raises(Refused, match="simulated gateway, which answers it itself"):
        answer(app, actor(app), hes_rows(app, ref)[0]["id"], "opened")


def test_manual_adapter_a_superseded_open_does_not_block_the_point(seeded: App) -> None:
    app = seeded
    first = open_nore(app, NORE_POINT_2, "1005")
    tick(app)
    close = open_case(
        app, actor(app), "close_port", customer="1005", meter_number=NORE_METER_2, channel="phone"
    ).case
    advance(app, actor(app), close, "verify_identity", {"method": "bankid"})
    assert state(app, first) == "cancelled"
    tick(app)
    advance(app, actor(app), close, "confirm_close")  # the vendor closed it by phone
    assert port(app, NORE_POINT_2) == "closed"

    app.clock.advance(timedelta(days=1))
    again = open_nore(app, NORE_POINT_2, "1005")
    tick(app)
    assert hes_rows(app, again)[0]["status"] == "sent"

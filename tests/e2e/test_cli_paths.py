"""Every workflow from request to its final state, by hand through the real CLI (``--json``).

Key steps run as ``python -m hanport`` subprocesses; the rest in-process through
``hanport.entrypoints.cli.main.main`` (same parsing, same exit codes). Each test has its own copy of a
database whose registry was imported by subprocess (tests/e2e/conftest.py).
"""

from __future__ import annotations

import pytest

from tests.e2e.cli import (
    CUSTOMERS_CSV,
    HOLE_METER,
    HOLE_POINT,
    NORE_METER,
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    POINTS_CSV,
    RINGERIKE_POINT,
    Hanport,
    Run,
    consent_sets,
    meter_number,
)

HOLE_CONSENT = dict(signer_name="Per Åsen", address="Vikveien 3", postal_code="3530")
NEW_HOLE_METER = meter_number("570656731660001")


def _step(r: Run, state: str, version: int) -> dict:
    assert r.code == 0, str(r)
    data = r.json
    assert (data["state"], data["version"]) == (state, version), str(r)
    assert data["already_applied"] is False
    return data


def _triggers(view: dict) -> list[str]:
    return [a["trigger"] for a in view["allowed"]]


# --- the registry ------------------------------------------------------------------------------


def test_import_registry_from_csv(registry_db, hp: Hanport) -> None:
    _, customers, points = registry_db
    assert customers.json == {
        "kind": "customers",
        "file": customers.json["file"],
        "rows": 5,
        "inserted": 5,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
        "warnings": [],
    }
    assert customers.json["file"].endswith("customers.csv")
    assert (points.json["rows"], points.json["inserted"], points.json["rejected"]) == (5, 5, [])
    counts = hp.counts()
    assert counts["customers"] == len(CUSTOMERS_CSV.splitlines()) - 1 == 5
    assert counts["metering_points"] == len(POINTS_CSV.splitlines()) - 1 == 5
    assert counts["customer_history"] == 5
    assert counts["meter_history"] == 5
    assert counts["cases"] == 0
    ports = dict(hp.query("SELECT gsrn, han_port FROM metering_points"))
    assert ports == {
        NORE_POINT: "closed",
        RINGERIKE_POINT: "none",
        HOLE_POINT: "none",
        NORE_OPEN_POINT: "open",
        NORE_POINT_2: "closed",
    }


# --- nore_open ---------------------------------------------------------------------------------


def test_nore_open_from_request_to_confirmed(hp: Hanport) -> None:
    r = hp.run(
        "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        "--channel", "form", *consent_sets(),
    )  # fmt: skip
    opened = _step(r, "opening", 2)
    ref = opened["case"]
    assert ref.startswith("HAN-2026-") and len(ref) == len("HAN-2026-000001")
    assert opened["workflow"] == "nore_open"

    view = hp.show(ref)
    assert view["port"] == "opening"
    assert view["consent"]["address_match"] == "installation"
    assert view["consent"]["declaration_version"] == "v1"
    assert {"confirm_open", "report_failure", "cancel"} <= set(_triggers(view))
    timers = {t["name"]: t["due_local"] for t in view["timers"]}
    assert timers == {"hes_timeout": "2026-03-03 09:00 CET", "sla": "2026-03-05 09:00 CET"}
    assert [(h["seq"], h["trigger"], h["from"], h["to"]) for h in view["history"]] == [
        (1, "open", None, "requested"),
        (2, "record_consent", "requested", "opening"),
    ]
    assert [h["actor"] for h in view["history"]] == ["cw", "cw"]
    assert [c["action"] for c in view["hes_commands"]] == ["open"]

    _step(hp.advance(ref, "confirm-open"), "confirmed", 3)

    shown = hp.run("case", "show", ref).ok().json
    assert (shown["state"], shown["version"], shown["active"]) == ("confirmed", 3, False)
    assert shown["port"] == "open"
    assert shown["timers"] == []
    assert [m["template"] for m in shown["mail"]] == ["request_received", "port_opened"]
    assert [h["trigger"] for h in shown["history"]] == ["open", "record_consent", "confirm_open"]
    assert all(len(h["hash"]) == 64 for h in shown["history"])
    assert shown["hes_commands"][0]["status"] == "acked"


def test_nore_open_consent_requested_later(hp: Hanport) -> None:
    ref = hp.open_nore("--channel", "phone")
    assert hp.case_version(ref) == ("requested", 1)
    _step(hp.advance(ref, "request-consent"), "awaiting_consent", 2)
    view = hp.show(ref)
    assert {t["name"] for t in view["timers"]} == {"remind_consent", "expire"}
    rc = next(a for a in view["allowed"] if a["trigger"] == "record_consent")
    fields = {f["name"]: f for f in rc["fields"]}
    assert fields["signer_role"]["choices"] == ["subscriber", "power_of_attorney"]
    assert fields["from_email"]["required"] is False
    assert fields["address"]["required"] is True
    _step(hp.advance(ref, "record-consent", *consent_sets()), "opening", 3)
    _step(hp.advance(ref, "confirm-open"), "confirmed", 4)


# --- meter_swap --------------------------------------------------------------------------------


def test_meter_swap_hole_from_request_to_confirmed(hp: Hanport) -> None:
    r = hp.run("case", "open", "meter-swap", "--metering-point", HOLE_POINT, "--customer", "1003")
    ref = _step(r, "queued", 2)["case"]  # queued automatically
    view = hp.show(ref)
    assert [h["trigger"] for h in view["history"]] == ["open", "enqueue"]
    assert [m["template"] for m in view["mail"]] == ["swap_queued"]
    assert "swap_overdue" in {t["name"] for t in view["timers"]}

    _step(hp.advance(ref, "schedule-visit", "--set", "visit_date=2026-03-20"), "visit_scheduled", 3)
    hp.env["HANPORT_NOW"] = "2026-03-20T12:00:00+01:00"  # the day of the visit
    r = hp.call(
        "case", "advance", ref, "record-installation", "--set", f"meter_number={NEW_HOLE_METER}",
        "--set", "installed_at=2026-03-20T10:00:00+01:00",
    )  # fmt: skip
    _step(r, "awaiting_consent", 4)
    view = hp.show(ref)
    assert (view["meter_number"], view["port"]) == (NEW_HOLE_METER, "closed")
    assert "swap_overdue" not in {t["name"] for t in view["timers"]}

    r = hp.advance(ref, "record-consent", *consent_sets(**HOLE_CONSENT))
    _step(r, "opening", 5)
    _step(hp.advance(ref, "confirm-open"), "confirmed", 6)

    shown = hp.run("case", "show", ref).ok().json
    assert shown["meter_number"] == NEW_HOLE_METER
    assert shown["port"] == "open"
    assert [h["trigger"] for h in shown["history"]] == [
        "open", "enqueue", "schedule_visit", "record_installation", "record_consent",
        "confirm_open",
    ]  # fmt: skip
    # The old meter is kept in the point's history, ended at the installation.
    history = hp.query(
        "SELECT h.meter_number, h.valid_to IS NOT NULL FROM meter_history h "
        "JOIN metering_points p ON p.id = h.point_id WHERE p.gsrn = ? ORDER BY h.id",
        HOLE_POINT,
    )
    assert history == [(HOLE_METER, 1), (NEW_HOLE_METER, 0)]


def test_meter_swap_energipilot_needs_acknowledgement(hp: Hanport) -> None:
    r = hp.call(
        "case", "open", "meter-swap", "--metering-point", RINGERIKE_POINT, "--customer", "1002"
    )
    ref = _step(r, "requested", 1)["case"]
    view = hp.show(ref)
    assert [m["template"] for m in view["mail"]] == ["energipilot_warning"]
    assert "acknowledge_energipilot" in _triggers(view)
    hp.refused(4, "case", "advance", ref, "enqueue", says="energipilot", case=ref)
    _step(hp.advance(ref, "acknowledge-energipilot"), "queued", 2)
    assert [m["template"] for m in hp.show(ref)["mail"]] == ["energipilot_warning", "swap_queued"]

    # Acknowledged when ordering: queued at once, no warning.
    _step(hp.advance(ref, "cancel", "--set", "reason=ordered twice"), "cancelled", 3)
    r = hp.call(
        "case", "open", "meter-swap", "--metering-point", RINGERIKE_POINT, "--customer", "1002",
        "--energipilot-ack",
    )  # fmt: skip
    again = _step(r, "queued", 2)["case"]
    assert [m["template"] for m in hp.show(again)["mail"]] == ["swap_queued"]


# --- close_port --------------------------------------------------------------------------------


def test_close_port_by_phone_on_legacy_open_port(hp: Hanport) -> None:
    r = hp.run(
        "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "phone",
    )  # fmt: skip
    ref = _step(r, "requested", 1)["case"]
    view = hp.show(ref)
    assert view["metering_point"] == NORE_OPEN_POINT
    verify = next(a for a in view["allowed"] if a["trigger"] == "verify_identity")
    assert "bankid" in verify["fields"][0]["choices"]

    _step(hp.advance(ref, "verify-identity", "--set", "method=bankid"), "closing", 2)
    # The legacy consent ends (withdrawn) when the close is requested.
    assert hp.query(
        "SELECT source, end_reason, ended_at IS NOT NULL FROM consents c "
        "JOIN metering_points p ON p.id = c.point_id WHERE p.gsrn = ?",
        NORE_OPEN_POINT,
    ) == [("legacy_import", "withdrawn", 1)]
    _step(hp.advance(ref, "confirm-close"), "closed", 3)

    shown = hp.show(ref)
    assert shown["port"] == "closed"
    assert [m["template"] for m in shown["mail"]] == ["port_closed"]
    assert [(h["trigger"], h["actor"]) for h in shown["history"]] == [
        ("open", "cw"),
        ("verify_identity", "cw"),
        ("confirm_close", "cw"),
    ]


def test_close_port_by_email_from_registered_address_closes_at_once(hp: Hanport) -> None:
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "email", "--from-email", "SIRI@EXAMPLE.NO",
    )  # fmt: skip
    ref = _step(r, "closing", 2)["case"]
    _step(hp.advance(ref, "confirm-close"), "closed", 3)


# --- failures and reviews ----------------------------------------------------------------------


def test_hes_failures_need_attention_then_retry(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets())
    for version in (3, 4):
        r = hp.advance(ref, "report-failure", "--set", "error=meter unreachable")
        _step(r, "opening", version)
        assert "retried" in r.err  # the warning goes to stderr, the JSON to stdout
    _step(hp.advance(ref, "report-failure"), "needs_attention", 5)
    view = hp.show(ref)
    assert view["flags"] == ["hes_attention"]
    assert [(c["status"], c["attempt"]) for c in view["hes_commands"]] == [
        ("failed", 1),
        ("failed", 2),
        ("failed", 3),
    ]
    assert "hes_timeout" not in {t["name"] for t in view["timers"]}
    assert "hes_delay" in [m["template"] for m in view["mail"]]
    assert "retry" in _triggers(view)

    _step(hp.advance(ref, "retry"), "opening", 6)
    view = hp.show(ref)
    assert view["flags"] == []
    assert view["hes_commands"][-1]["status"] == "pending"
    _step(hp.advance(ref, "confirm-open"), "confirmed", 7)


def test_address_mismatch_needs_a_supervisor(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets(address="Sentrumsvegen 7"))
    view = hp.show(ref)
    assert (view["state"], view["version"], view["flags"]) == (
        "address_review",
        2,
        ["address_review"],
    )
    assert view["consent"]["address_match"] == "none"
    approve = next(a for a in view["allowed"] if a["trigger"] == "approve_address")
    assert (approve["role"], approve["note_required"]) == ("supervisor", True)

    hp.refused(
        4, "case", "advance", ref, "approve-address", "--note", "looks fine",
        says=("supervisor",), case=ref,
    )  # fmt: skip
    hp.refused(4, "case", "advance", ref, "approve-address", says="note", user="sup", case=ref)
    r = hp.run(
        "case", "advance", ref, "approve-address", "--note", "Called the customer: same house",
        user="sup",
    )  # fmt: skip
    _step(r, "opening", 3)
    view = hp.show(ref)
    assert view["flags"] == []
    assert view["history"][-1]["actor"] == "sup"
    assert "sla" in {t["name"] for t in view["timers"]}
    # The note is kept as a case note; the event only carries its hash.
    assert hp.query("SELECT kind, author, body FROM case_notes") == [
        ("note", "sup", "Called the customer: same house")
    ]
    assert "Called the customer" not in str(view["history"])


def test_address_mismatch_rejected(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets(address="Storgata 12"))
    _step(hp.advance(ref, "reject", "--set", "reason=not the customer's house"), "rejected", 3)
    assert hp.show(ref)["flags"] == []


def test_consent_by_email_from_another_sender_needs_review(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets(channel="email", from_email="someone@example.no"))
    view = hp.show(ref)
    assert (view["state"], view["flags"]) == ("address_review", ["address_review"])
    assert view["consent"]["address_match"] == "installation"  # the sender is what failed


def test_consent_by_email_from_registered_sender_with_odd_spelling(hp: Hanport) -> None:
    ref = hp.open_nore(
        *consent_sets(channel="email", from_email="KARI@EXAMPLE.NO", address="SENTRUMSVEGEN  5")
    )
    assert hp.case_version(ref) == ("opening", 2)


def test_consent_with_the_postal_address_needs_review(hp: Hanport) -> None:
    ref = hp.open_nore(
        *consent_sets(signer_name="Nils Li", address="Postboks 7", postal_code="3631"),
        point=NORE_POINT_2,
        customer="1005",
    )
    view = hp.show(ref)
    assert view["state"] == "address_review"
    assert view["consent"]["address_match"] == "postal_address"
    assert sorted(view["flags"]) == ["address_review", "no_email"]  # 1005 has no e-mail
    assert {m["status"] for m in view["mail"]} == {"no_address"}


def test_cancel_before_the_open_command_left_recalls_it(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets())
    _step(hp.advance(ref, "cancel", "--set", "reason=changed my mind"), "cancelled", 3)
    view = hp.show(ref)
    assert [(c["action"], c["status"]) for c in view["hes_commands"]] == [("open", "cancelled")]
    assert view["port"] == "closed"
    assert view["consent"]["end_reason"] == "cancelled"
    assert view["timers"] == []


def test_cancel_after_the_open_command_left_enqueues_a_close_behind(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets())
    hp.call("tick").ok()  # the manual adapter marks the open command sent
    _step(hp.advance(ref, "cancel", "--set", "reason=changed my mind"), "cancelled", 3)
    view = hp.show(ref)
    assert [(c["action"], c["status"]) for c in view["hes_commands"]] == [
        ("open", "sent"),
        ("close", "pending"),
    ]
    assert view["port"] == "closing"
    assert view["consent"]["end_reason"] == "cancelled"
    assert view["timers"] == []
    assert hp.query("SELECT kind, body FROM case_notes") == [("reason", "changed my mind")]


def test_the_vendors_answers_to_a_cancelled_cases_commands_are_recorded_by_hand(
    hp: Hanport,
) -> None:
    """Manual area: the commands a cancelled case left with the vendor are listed with who must
    answer them, and `hes answer` records the answers; the port ends closed."""
    ref = hp.open_nore(*consent_sets())
    hp.call("tick").ok()
    hp.advance(ref, "cancel", "--set", "reason=changed my mind").ok()
    listed = hp.call("hes", "list").ok().json
    assert [(c["case"], c["action"], c["status"]) for c in listed] == [
        (ref, "open", "sent"),
        (ref, "close", "pending"),
    ]
    opened, close = (c["id"] for c in listed)
    human = hp.call("hes", "list", as_json=False).ok().out
    assert f"hanport hes answer {opened} opened|failed" in human
    hp.refused(4, "hes", "answer", str(opened), "closed", says=("opened or failed", "closed"))
    hp.refused(4, "hes", "answer", str(close), "closed", says=("pending",))
    hp.refused(3, "hes", "answer", "999999", "closed", says=("999999",))
    hp.refused(4, "hes", "answer", str(opened), "opened", user="aud", says=("auditor",))
    assert hp.call("hes", "answer", str(opened), "opened").ok().json["port"] == "closing"
    hp.call("tick").ok()  # the close leaves for the vendor
    r = hp.call("hes", "answer", str(close), "closed", as_json=False).ok()
    assert "port closed" in r.out
    assert hp.call("hes", "list").ok().json == []
    assert len(hp.call("hes", "list", "--all").ok().json) == 2


def test_close_request_takes_over_an_opening_in_flight(hp: Hanport) -> None:
    opening = hp.open_nore(*consent_sets())
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_METER, "--customer", "1001",
        "--channel", "phone",
    )  # fmt: skip
    close = _step(r, "requested", 1)["case"]
    assert hp.case_version(opening) == ("opening", 2)  # an unverified request cancels nothing
    _step(
        hp.advance(close, "verify-identity", "--set", "method=callback_registered_phone"),
        "closing",
        2,
    )
    taken = hp.show(opening)
    assert taken["state"] == "cancelled"
    assert taken["consent"]["end_reason"] == "withdrawn"
    assert [(c["action"], c["status"]) for c in taken["hes_commands"]] == [("open", "cancelled")]
    assert taken["history"][-1]["data"].get("superseded_by") == close
    view = hp.show(close)
    assert [(c["action"], c["status"]) for c in view["hes_commands"]] == [("close", "pending")]
    _step(hp.advance(close, "confirm-close"), "closed", 3)
    assert hp.show(close)["port"] == "closed"


def test_close_request_reports_the_opening_it_cancelled(hp: Hanport) -> None:
    opening = hp.open_nore(*consent_sets())
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_METER, "--customer", "1001",
        "--channel", "phone",
    )  # fmt: skip
    close = r.ok().json["case"]
    r = hp.advance(close, "verify-identity", "--set", "method=bankid").ok()
    assert r.json["cancelled"] == [opening]


def test_close_request_for_another_customers_meter_is_rejected(hp: Hanport) -> None:
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1001",
        "--channel", "phone",
    )  # fmt: skip
    ref = _step(r, "rejected", 2)["case"]
    view = hp.show(ref)
    assert [m["template"] for m in view["mail"]] == ["close_rejected"]
    assert view["port"] == "open"  # nothing happened to 1004's port
    assert view["customer"] == "1001"


def test_now_sets_the_simulated_time(hp: Hanport) -> None:
    r = hp.call("--now", "2026-03-03T10:15", "case", "open", "nore-open", "--metering-point",
                NORE_POINT, "--customer", "1001")  # fmt: skip
    ref = r.ok().json["case"]
    view = hp.show(ref)
    assert view["created_at"] == "2026-03-03T09:15:00+00:00"
    assert view["history"][0]["at_local"] == "2026-03-03 10:15 CET"


def test_same_key_in_another_command_kind(hp: Hanport) -> None:
    r = hp.call(
        "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        "--key", "K-1",
    )  # fmt: skip
    ref = _step(r, "requested", 1)["case"]
    # Keys are scoped per command kind: the same key on an advance is a new command.
    _step(hp.advance(ref, "request-consent", "--key", "K-1"), "awaiting_consent", 2)


# --- reading -----------------------------------------------------------------------------------


@pytest.fixture
def several(hp: Hanport) -> dict[str, str]:
    """One case in each interesting place."""
    refs = {
        "nore": hp.open_nore(*consent_sets()),
        "review": hp.open_nore(
            *consent_sets(signer_name="Nils Li", address="Nedre Dal 3", postal_code="3631"),
            point=NORE_POINT_2,
            customer="1005",
        ),
    }
    for name, point, customer in (("hole", HOLE_POINT, "1003"), ("pilot", RINGERIKE_POINT, "1002")):
        r = hp.call("case", "open", "meter-swap", "--metering-point", point, "--customer", customer)
        refs[name] = r.ok().json["case"]
    return refs


def test_case_list_filters(hp: Hanport, several: dict[str, str]) -> None:
    def listed(*filters: str) -> list[str]:
        return [row["case"] for row in hp.call("case", "list", *filters).ok().json]

    every = listed()
    assert every == [several[k] for k in ("nore", "review", "hole", "pilot")]
    assert listed("--workflow", "nore-open") == [several["nore"], several["review"]]
    assert listed("--workflow", "meter_swap", "--state", "queued") == [several["hole"]]
    assert listed("--state", "requested") == [several["pilot"]]
    assert listed("--customer", "1002") == [several["pilot"]]
    assert listed("--metering-point", HOLE_POINT) == [several["hole"]]
    assert listed("--attention") == [several["review"]]
    assert listed("--workflow", "close-port") == []

    rows = hp.call("case", "list", "--attention").ok().json
    assert rows[0]["state"] == "address_review"
    assert rows[0]["metering_point"] == NORE_POINT_2 and rows[0]["customer"] == "1005"

    human = hp.call("case", "list", as_json=False).ok().out
    assert human.splitlines()[0].split()[:3] == ["CASE", "WORKFLOW", "STATE"]
    assert all(ref in human for ref in every)


def test_case_list_refuses_a_filter_that_names_nothing(hp: Hanport) -> None:
    """A state or workflow that does not exist is a typing mistake: refused (exit 4) with the
    valid names, not answered with an empty list."""
    r = hp.call("case", "list", "--state", "open")
    assert r.code == 4, str(r)
    assert "--state: no state 'open'" in r.err and "awaiting_consent" in r.err
    r = hp.call("case", "list", "--workflow", "close")
    assert r.code == 4, str(r)
    assert (
        "--workflow: no workflow 'close' (workflows: close_port, meter_swap, nore_open, privacy_request)"
        in r.err
    )
    r = hp.call("case", "list", "--workflow", "close-port", "--state", "queued")
    assert r.code == 4 and "no state 'queued'" in r.err, str(r)  # a swap's state, not a close's


def test_case_list_json_flags_are_a_list(hp: Hanport, several: dict[str, str]) -> None:
    rows = hp.call("case", "list", "--attention").ok().json
    assert sorted(rows[0]["flags"]) == ["address_review", "no_email"]


def test_case_show_human(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets(address="Sentrumsvegen 7"))
    out = hp.call("case", "show", ref, as_json=False).ok().out
    for text in (ref, "address_review", "Allowed triggers:", "approve_address", "--note required",
                 "Pending timers:", "Mail:", "History:", "request_received"):  # fmt: skip
        assert text in out, out


def test_workflow_show(hp: Hanport) -> None:
    mermaid = hp.run("workflow", "show", "nore-open", "--format", "mermaid", as_json=False).ok()
    lines = mermaid.out.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> requested" in lines
    assert "    requested --> awaiting_consent: request_consent" in lines
    assert any(line.strip().startswith("opening --> confirmed: confirm_open") for line in lines)

    text = hp.call("workflow", "show", "nore_open", "--format", "text", as_json=False).ok().out
    assert text.startswith("nore_open v2:")  # the newest by default
    v1 = hp.call("workflow", "show", "nore_open", "--version", "1", as_json=False).ok().out
    assert v1.startswith("nore_open v1:")
    for part in ("States:", "Transitions:", "Timers:", "approve_address", "hes_timeout"):
        assert part in text
    as_json = hp.call("workflow", "show", "meter-swap").ok().json
    assert (as_json["workflow"], as_json["version"], as_json["format"]) == ("meter_swap", 1, "text")
    hp.refused(3, "workflow", "show", "fly-to-moon", says="fly-to-moon")


def test_customer_show(hp: Hanport, several: dict[str, str]) -> None:
    c = hp.call("customer", "show", "1001").ok().json
    assert (c["customer"], c["name"], c["email"]) == ("1001", "Kari Nordmann", "kari@example.no")
    assert (c["phone"], c["language"], c["energipilot"], c["version"]) == (
        "+4791234567",
        "nb",
        False,
        1,
    )
    assert [(p["metering_point"], p["port"]) for p in c["metering_points"]] == [
        (NORE_POINT, "opening")
    ]
    assert c["cases"] == [{"ref": several["nore"], "workflow": "nore_open", "state": "opening"}]
    assert [(h["version"], h["source"], h["changed_by"]) for h in c["history"]] == [
        (1, "import", "cw")
    ]
    assert hp.call("customer", "show", "1002").ok().json["energipilot"] is True
    human = hp.call("customer", "show", "1002", as_json=False).ok().out
    assert "Ola Hansen" in human and "ENERGIPILOT yes" in human


def test_customer_update_keeps_history(hp: Hanport) -> None:
    r = hp.run("customer", "update", "1001", "--email", "new@example.no").ok()
    assert r.json == {"customer": "1001", "outcome": "updated"}
    c = hp.call("customer", "show", "1001").ok().json
    assert (c["email"], c["version"]) == ("new@example.no", 2)
    assert [(h["version"], h["source"]) for h in c["history"]] == [(1, "import"), (2, "cli")]
    assert [h["snapshot"]["email"] for h in c["history"]] == ["kari@example.no", "new@example.no"]
    # The same again changes nothing and adds no history.
    assert (
        hp.call("customer", "update", "1001", "--email", "new@example.no").ok().json["outcome"]
        == "unchanged"
    )
    assert len(hp.call("customer", "show", "1001").ok().json["history"]) == 2
    r = hp.call("customer", "update", "1001", "--phone", "41 23 45 67", "--language", "en").ok()
    c = hp.call("customer", "show", "1001").ok().json
    assert (c["phone"], c["language"], c["version"]) == ("+4741234567", "en", 3)


# --- idempotency keys --------------------------------------------------------------------------


def test_idempotent_open_with_key(hp: Hanport) -> None:
    args = ("case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001")
    first = _step(hp.call(*args, "--key", "form-4711"), "requested", 1)
    before = hp.dump()
    again = hp.run(*args, "--key", "form-4711").ok().json
    assert again["already_applied"] is True
    assert (again["case"], again["state"], again["version"]) == (first["case"], "requested", 1)
    assert hp.dump() == before
    hp.refused(
        4, *args, "--channel", "email", "--key", "form-4711", says=("key", "form-4711"),
        case=first["case"],
    )  # fmt: skip


def test_idempotent_advance_with_key(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets())
    done = _step(hp.advance(ref, "confirm-open", "--key", "ack-1"), "confirmed", 3)
    before = hp.dump()
    r = hp.advance(ref, "confirm-open", "--key", "ack-1").ok()
    assert r.json["already_applied"] is True
    assert (r.json["case"], r.json["state"], r.json["version"]) == (done["case"], "confirmed", 3)
    assert (
        "already applied"
        in hp.call("case", "advance", ref, "confirm-open", "--key", "ack-1", as_json=False).ok().out
    )
    assert hp.dump() == before
    hp.refused(
        4, "case", "advance", ref, "confirm-open", "--note", "other", "--key", "ack-1",
        says="ack-1", case=ref,
    )  # fmt: skip


# --- the same CLI on PostgreSQL ----------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_smoke(tmp_path, db_url: str) -> None:
    """Registry import and a nore_open case with ``--db`` naming a PostgreSQL database (skips
    when no server answers, see tests/conftest.py)."""
    hp = Hanport(tmp_path, init=False)  # HANPORT_DATABASE_URL names a SQLite file left unused
    db = ("--db", db_url)
    hp.call(*db, "db", "init", "--simulated-clock", user=None).ok()
    c = hp.run(*db, "import", "customers", hp.write("customers.csv", CUSTOMERS_CSV)).ok().json
    p = hp.run(*db, "import", "metering-points", hp.write("points.csv", POINTS_CSV)).ok().json
    assert (c["inserted"], p["inserted"]) == (5, 5)
    r = hp.run(
        *db, "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        *consent_sets(),
    )  # fmt: skip
    ref = _step(r, "opening", 2)["case"]
    _step(hp.call(*db, "case", "advance", ref, "confirm-open"), "confirmed", 3)
    again = hp.call(*db, "case", "advance", ref, "confirm-open")
    assert again.code == 4 and "confirm_open" in again.err, str(again)
    assert not hp.db_path.exists()
    view = hp.call(*db, "case", "show", ref).ok().json
    assert (view["state"], view["port"]) == ("confirmed", "open")
    assert [h["trigger"] for h in view["history"]] == ["open", "record_consent", "confirm_open"]

"""Bad input through the CLI: a clear message on stderr naming the field or row, the contract's
exit code, and nothing changed (every table's rows, the case's state and version).

Most cases run in-process (``hanport.entrypoints.cli.main.main``); a few through ``python -m hanport``.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import pytest

from tests.e2e.cli import (
    HOLE_METER,
    HOLE_POINT,
    NORE_METER,
    NORE_METER_2,
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    RINGERIKE_POINT,
    Hanport,
    consent_sets,
    meter_number,
)

POINT_HEADER = (
    "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
)
CUSTOMER_HEADER = "customer_id;name;email;phone;street;postal_code;city;language;energipilot"
NEW_POINT = "707057500000000070"  # valid GSRNs not in the registry
NEW_POINT_2 = "707057500000000087"
BAD_GSRN = "707057500012345678"  # domain.md: invalid check digit


@pytest.fixture
def requested(hp: Hanport) -> str:
    """A nore_open case in ``requested`` on NORE_POINT."""
    return hp.open_nore()


@pytest.fixture
def queued(hp: Hanport) -> str:
    """A meter_swap case in ``queued`` on HOLE_POINT."""
    r = hp.call("case", "open", "meter-swap", "--metering-point", HOLE_POINT, "--customer", "1003")
    return str(r.ok().json["case"])


# --- cases: what does not exist ---------------------------------------------------------------


def test_unknown_case(hp: Hanport, requested: str) -> None:
    hp.refused(
        3, "case", "advance", "HAN-2026-999999", "confirm-open",
        says="HAN-2026-999999", subprocess_run=True,
    )  # fmt: skip
    hp.refused(3, "case", "show", "HAN-2026-999999", says="not found")


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--customer", "9999", "customer 9999"),
        ("--metering-point", "707057500000000063", "metering point 707057500000000063"),
    ],
)
def test_open_unknown_customer_or_point(hp: Hanport, option: str, value: str, says: str) -> None:
    given = {"--metering-point": NORE_POINT, "--customer": "1001", option: value}
    args = [x for kv in given.items() for x in kv]
    hp.refused(3, "case", "open", "nore-open", *args, says=(says, "not found"))


def test_close_unknown_meter_number(hp: Hanport) -> None:
    unknown = meter_number("735999290516777")
    hp.refused(
        3, "case", "open", "close-port", "--meter-number", unknown, "--customer", "1001",
        "--channel", "phone", says=("meter number", unknown),
    )  # fmt: skip


# --- triggers and fields ----------------------------------------------------------------------


def test_unknown_trigger(hp: Hanport, requested: str) -> None:
    hp.refused(4, "case", "advance", requested, "frobnicate", says="frobnicate", case=requested)


def test_trigger_not_allowed_in_state(hp: Hanport, requested: str) -> None:
    r = hp.refused(
        4, "case", "advance", requested, "confirm-open",
        says=("confirm_open", "requested"), case=requested,
    )  # fmt: skip
    assert "allowed" in r.err


def test_missing_required_field(hp: Hanport, requested: str) -> None:
    args = consent_sets()
    at = args.index("signer_role=subscriber")
    del args[at - 1 : at + 1]
    hp.refused(
        4, "case", "advance", requested, "record-consent", *args,
        says="signer_role", case=requested,
    )  # fmt: skip
    hp.refused(4, "case", "advance", requested, "cancel", says="reason", case=requested)


def test_field_the_trigger_does_not_take(hp: Hanport, requested: str) -> None:
    hp.refused(
        4, "case", "advance", requested, "request-consent", "--set", "colour=blue",
        says="colour", case=requested,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"signer_role": "neighbour"}, ("signer_role", "neighbour")),
        ({"security": "garage"}, ("security", "garage")),
        ({"channel": "pigeon"}, ("channel", "pigeon")),
        ({"postal_code": "36300"}, ("postal_code", "4 digits")),
        ({"postal_code": "36x0"}, ("postal_code",)),
        ({"declaration_version": "v9"}, ("declaration_version", "v9")),
        ({"received_at": "2026-03-29T02:30"}, ("received_at", "does not exist")),
        ({"received_at": "2026-10-25T02:30"}, ("received_at",)),  # happens twice: ambiguous
        ({"received_at": "yesterday"}, ("received_at",)),
        ({"from_email": "kari at example.no"}, ("from_email",)),
        ({"signer_name": " "}, ("signer_name", "empty")),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else None,
)
def test_invalid_consent_field(hp: Hanport, requested: str, override: dict, says: tuple) -> None:
    hp.refused(
        4, "case", "advance", requested, "record-consent", *consent_sets(**override),
        says=says, case=requested,
    )  # fmt: skip


def test_invalid_consent_on_open_creates_no_case(hp: Hanport) -> None:
    hp.refused(
        4, "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        *consent_sets(declaration_version="v0"), says="declaration_version",
    )  # fmt: skip
    assert hp.counts()["cases"] == 0


@pytest.mark.parametrize(
    ("trigger", "sets", "says"),
    [
        ("schedule-visit", ("visit_date=2026-02-30",), "visit_date"),
        ("schedule-visit", ("visit_date=20.03.2026",), "visit_date"),
        (
            "record-installation",
            ("meter_number=12AB5678", "installed_at=2026-03-02T08:00:00+01:00"),
            "meter_number",
        ),
        (
            "record-installation",
            (f"meter_number={meter_number('570656731660002')}", "installed_at=2026-03-29T02:15"),
            "installed_at",
        ),
        # Another point's meter cannot be installed here.
        (
            "record-installation",
            (f"meter_number={NORE_METER}", "installed_at=2026-03-02T08:00:00+01:00"),
            "already registered on metering point",
        ),
    ],
)
def test_invalid_swap_field(
    hp: Hanport, queued: str, trigger: str, sets: tuple[str, ...], says: str
) -> None:
    args = [x for s in sets for x in ("--set", s)]
    hp.refused(4, "case", "advance", queued, trigger, *args, says=says, case=queued)


# --- who may do what --------------------------------------------------------------------------


def test_auditor_can_change_nothing(hp: Hanport, requested: str) -> None:
    says = ("aud", "auditor")
    hp.refused(
        4, "case", "advance", requested, "request-consent", says=says, user="aud", case=requested
    )
    hp.refused(
        4, "case", "open", "meter-swap", "--metering-point", HOLE_POINT, "--customer", "1003",
        says=says, user="aud",
    )  # fmt: skip
    hp.refused(4, "customer", "update", "1001", "--email", "x@example.no", says=says, user="aud")
    f = hp.write("customers.csv", CUSTOMER_HEADER + "\n2001;Ny Kunde;;;;;;nb;no\n")
    hp.refused(4, "import", "customers", f, says=says, user="aud")
    # …but can look.
    assert hp.call("case", "show", requested, user="aud").ok().json["case"] == requested
    assert hp.call("case", "list", user="aud").ok().json


def test_unknown_user_is_refused(hp: Hanport, requested: str) -> None:
    hp.refused(
        4,
        "case",
        "advance",
        requested,
        "request-consent",
        says="mallory",
        user="mallory",
        case=requested,
    )


def test_caseworker_cannot_fire_supervisor_triggers(hp: Hanport) -> None:
    ref = hp.open_nore(*consent_sets(address="Sentrumsvegen 7"))  # address_review
    assert hp.case_version(ref) == ("address_review", 2)
    hp.refused(
        4, "case", "advance", ref, "approve-address", "--note", "ok",
        says=("approve_address", "supervisor"), case=ref,
    )  # fmt: skip
    hp.refused(
        4, "case", "advance", ref, "clear-flag", "--set", "flag=address_review", "--note", "ok",
        says=("clear_flag", "supervisor"), case=ref,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("trigger", "user"),
    [("expire", "cw"), ("remind-consent", "sup"), ("sla-breached", "cw")],
)
def test_system_triggers_are_refused_from_the_cli(
    hp: Hanport, requested: str, trigger: str, user: str
) -> None:
    hp.call("case", "advance", requested, "request-consent").ok()
    hp.refused(
        4, "case", "advance", requested, trigger,
        says=(trigger.replace("-", "_"), "system"), user=user, case=requested,
    )  # fmt: skip


def _close_request(hp: Hanport) -> str:
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "phone",
    )  # fmt: skip
    return str(r.ok().json["case"])


def test_system_trigger_with_a_guard_is_refused(hp: Hanport) -> None:
    ref = _close_request(hp)
    hp.refused(4, "case", "advance", ref, "accept-email", says="accept_email", case=ref)
    hp.refused(4, "case", "advance", ref, "reject-request", says="reject_request", case=ref)


def test_system_trigger_with_a_guard_says_it_is_for_the_system(hp: Hanport) -> None:
    ref = _close_request(hp)
    hp.refused(4, "case", "advance", ref, "accept-email", says=("accept_email", "system"), case=ref)


# --- opening refused --------------------------------------------------------------------------


def test_invalid_gsrn_on_open(hp: Hanport) -> None:
    hp.refused(
        4, "case", "open", "nore-open", "--metering-point", BAD_GSRN, "--customer", "1001",
        says=(BAD_GSRN, "check digit"),
    )  # fmt: skip
    hp.refused(
        4, "case", "open", "meter-swap", "--metering-point", "70705750000000001", "--customer",
        "1003", says="18 digits",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("workflow", "point", "customer", "says"),
    [
        ("nore-open", RINGERIKE_POINT, "1002", "meter_swap"),  # Ringerike swaps meters
        ("meter-swap", NORE_POINT, "1001", "nore_open"),  # Nore opens remotely
    ],
)
def test_open_in_another_workflows_area(
    hp: Hanport, workflow: str, point: str, customer: str, says: str
) -> None:
    hp.refused(
        4, "case", "open", workflow, "--metering-point", point, "--customer", customer,
        says=(point, says),
    )  # fmt: skip


def test_open_refusals(hp: Hanport) -> None:
    # Not the point's customer.
    hp.refused(
        4, "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1002",
        says=("1002", "not the current customer"),
    )  # fmt: skip
    # Already open (imported as open).
    hp.refused(
        4, "case", "open", "nore-open", "--metering-point", NORE_OPEN_POINT, "--customer",
        "1004", says="already open",
    )  # fmt: skip
    # Another case holds the point.
    ref = hp.open_nore()
    hp.refused(
        4, "case", "open", "nore-open", "--metering-point", NORE_POINT, "--customer", "1001",
        says=ref,
    )  # fmt: skip


def test_close_already_closed_port(hp: Hanport) -> None:
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", NORE_METER_2, "--customer", "1005",
        "--channel", "phone", says="already closed",
    )  # fmt: skip
    # And after closing one by hand.
    r = hp.call(
        "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "phone",
    )  # fmt: skip
    ref = r.ok().json["case"]
    hp.advance(ref, "verify-identity", "--set", "method=bankid").ok()
    hp.advance(ref, "confirm-close").ok()
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "email", "--from-email", "siri@example.no", says="already closed",
    )  # fmt: skip


def test_close_with_replaced_meter_number(hp: Hanport, queued: str) -> None:
    new = meter_number("570656731660003")
    hp.env["HANPORT_NOW"] = "2026-03-20T12:00:00+01:00"  # the installer has been
    hp.advance(
        queued, "record-installation", "--set", f"meter_number={new}",
        "--set", "installed_at=2026-03-20T10:00:00+01:00",
    ).ok()  # fmt: skip
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", HOLE_METER, "--customer", "1003",
        "--channel", "phone", says=(HOLE_METER, "replaced", "2026-03-20"),
    )  # fmt: skip


def test_close_port_input_refused(hp: Hanport) -> None:
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", "12345", "--customer", "1004",
        "--channel", "phone", says=("meter number", "12345"),
    )  # fmt: skip
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", NORE_OPEN_METER, "--customer", "1004",
        "--channel", "email", says="--from-email",
    )  # fmt: skip


def test_now_refused_on_a_real_clock(tmp_path) -> None:
    real = Hanport(tmp_path / "real", simulated=False)
    real.env["HANPORT_ROLES"] = f"{getpass.getuser()}=caseworker"  # the login acts
    f = real.write("customers.csv", CUSTOMER_HEADER + "\n2001;Ny Kunde;;;;;;nb;no\n")
    real.call("import", "customers", f, user=None).ok()
    real.refused(
        4, "--now", "2026-03-02T09:00:00+01:00", "customer", "show", "2001",
        says=("--now", "simulated"), subprocess_run=True, user=None,
    )  # fmt: skip
    assert real.call("customer", "show", "2001", user=None).ok().json["name"] == "Ny Kunde"


@pytest.mark.parametrize("now", ["2026-03-29T02:30", "2026-10-25T02:30", "garbage"])
def test_invalid_now_is_refused(hp: Hanport, now: str) -> None:
    hp.refused(4, "--now", now, "case", "list", says=now)


# --- customer update ---------------------------------------------------------------------------


def test_customer_update_refused(hp: Hanport) -> None:
    hp.refused(4, "customer", "update", "1001", "--email", "kari(at)example.no", says="email")
    hp.refused(4, "customer", "update", "1001", "--phone", "123", says="phone")
    hp.refused(4, "customer", "update", "1001", says="nothing to change")
    hp.refused(3, "customer", "update", "4242", "--email", "a@example.no", says="4242")
    hp.refused(3, "customer", "show", "4242", says="4242")


# --- usage -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ("case", "open", "close-port", "--customer", "1001", "--channel", "phone"),
            "--meter-number",
        ),
        (("case", "open", "nore-open", "--customer", "1001"), "--metering-point"),
        (
            (
                "case",
                "open",
                "close-port",
                "--meter-number",
                NORE_METER,
                "--customer",
                "1001",
                "--channel",
                "fax",
            ),
            "--channel",
        ),
        (("case", "advance", "HAN-2026-000001"), "TRIGGER"),
        (("case", "advance", "HAN-2026-000001", "record-consent", "--set", "address"), "--set"),
        (("case", "teleport"), "teleport"),
        (("customer", "update", "1001", "--language", "de"), "--language"),
        (("workflow", "show", "nore-open", "--format", "png"), "--format"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_usage_errors(hp: Hanport, args: tuple[str, ...], says: str) -> None:
    hp.refused(2, *args, says=says)


def test_usage_error_by_subprocess(hp: Hanport) -> None:
    r = hp.refused(
        2,
        "case",
        "open",
        "meter-swap",
        "--customer",
        "1003",
        says="--metering-point",
        subprocess_run=True,
    )
    assert "Usage:" in r.err


# --- import files ------------------------------------------------------------------------------


def _points(hp: Hanport, name: str, *rows: str) -> str:
    return str(hp.write(name, "\n".join([POINT_HEADER, *rows]) + "\n"))


def test_import_not_utf8(hp: Hanport) -> None:
    text = f"{POINT_HEADER}\n{NEW_POINT};1001;;3338;Bjørnveien 1;3630;Rødberg;none\n"
    f = hp.write("latin1.csv", text.encode("latin-1"))
    hp.refused(4, "import", "metering-points", f, says=("utf-8", "line 2"), subprocess_run=True)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (POINT_HEADER.encode() + b"\r\n", "no rows"),
        (
            POINT_HEADER.replace("han_port", "port").encode()
            + f"\n{NEW_POINT};1001;;3338;A 1;3630;R;none\n".encode(),
            "header",
        ),
        (
            POINT_HEADER.replace(";", ",").encode()
            + f"\n{NEW_POINT},1001,,3338,A 1,3630,R,none\n".encode(),
            "header",
        ),
        (CUSTOMER_HEADER.encode() + b"\n2001;Ny;;;;;;nb;no\n", "header"),
    ],
    ids=[
        "empty",
        "blank-lines",
        "header-only",
        "wrong-header",
        "comma-separated",
        "customers-file",
    ],
)
def test_import_unusable_points_file(hp: Hanport, content: bytes, says: str) -> None:
    f = hp.write("points.csv", content)
    hp.refused(4, "import", "metering-points", f, says=says)


def test_import_unusable_customers_file(hp: Hanport) -> None:
    hp.refused(4, "import", "customers", hp.write("c.csv", CUSTOMER_HEADER + "\n"), says="no rows")
    hp.refused(4, "import", "customers", hp.folder / "missing.csv", says="missing.csv")
    hp.refused(4, "import", "customers", hp.write("c.csv", "customer;name\n1;x\n"), says="header")


def _rejected_rows(hp: Hanport, kind: str, path: str, expect: dict[int, str]) -> dict:
    r = hp.call("import", kind, path)
    assert r.code == 6, str(r)
    report = r.json
    got = {x["row"]: x["reason"] for x in report["rejected"]}
    assert set(got) == set(expect), str(r)
    for row, word in expect.items():
        assert word in got[row], (row, got[row])
        assert f"row {row}:" in r.err and word in r.err, str(r)
    return report


def test_import_points_bad_rows_rejected_good_rows_applied(hp: Hanport) -> None:
    before = hp.counts()
    f = _points(
        hp, "points.csv",
        f"{NEW_POINT};1001;;3338;Ny veg 1;3630;Rødberg;none",  # row 2: good
        f"{BAD_GSRN};1001;;3338;Ny veg 2;3630;Rødberg;none",  # row 3: check digit
        f"{NEW_POINT_2};1001",  # row 4: column count
        "707057500000000094;1001;;9999;Ny veg 3;3630;Rødberg;none",  # row 5: unmapped municipality
        "707057500000000100;1001;;3338;Ny veg 4;36300;Rødberg;none",  # row 6: postal code
        "707057500000000117;1001;;3338;Ny veg 5;3630;Rødberg;ajar",  # row 7: han_port
        "707057500000000124;7777;;3338;Ny veg 6;3630;Rødberg;none",  # row 8: unknown customer
        "707057500000000131;1001;;3338;Ny veg 7;3630;Rødberg;closed",  # row 9: port without meter
        "707057500000000148;1001;12AB;3338;Ny veg 8;3630;Rødberg;none",  # row 10: meter number
        f"{NEW_POINT};1001;;3338;Ny veg 1;3630;Rødberg;none",  # row 11: twice in the file
    )  # fmt: skip
    report = _rejected_rows(
        hp, "metering-points", f,
        {3: "metering_point_id", 4: "columns", 5: "municipality", 6: "postal_code",
         7: "han_port", 8: "customer_id", 9: "meter_number", 10: "meter_number", 11: "twice"},
    )  # fmt: skip
    assert (report["rows"], report["inserted"]) == (10, 1)
    after = hp.counts()
    assert after["metering_points"] == before["metering_points"] + 1
    assert hp.query("SELECT street FROM metering_points WHERE gsrn = ?", NEW_POINT) == [
        ("Ny veg 1",)
    ]


def test_import_customers_bad_rows_rejected_good_rows_applied(hp: Hanport) -> None:
    f = hp.write(
        "customers.csv",
        "\r\n".join([
            CUSTOMER_HEADER,
            "2001;Ny Kunde;ny@example.no;;Vegen 1;3630;Rødberg;nb;no",  # row 2: good
            "2002;Feil Post;feil(at)example.no;;;;;nb;no",  # row 3: email
            "2003;Feil Tlf;;12;;;;nb;no",  # row 4: phone
            "2004;Feil Språk;;;;;;de;no",  # row 5: language
            "2005;Feil Pilot;;;;;;nb;kanskje",  # row 6: energipilot
            "2006;For kort",  # row 7: columns
            ";Uten nummer;;;;;;nb;no",  # row 8: customer_id
            "2007;Feil Postnr;;;Vegen 2;363;Rødberg;nb;no",  # row 9: postal_code
        ]) + "\r\n",
    )  # fmt: skip
    report = _rejected_rows(
        hp, "customers", str(f),
        {3: "email", 4: "phone", 5: "language", 6: "energipilot", 7: "columns", 8: "customer_id",
         9: "postal_code"},
    )  # fmt: skip
    assert report["inserted"] == 1
    assert hp.call("customer", "show", "2001").ok().json["email"] == "ny@example.no"
    hp.refused(3, "customer", "show", "2002", says="2002")


def test_import_wrong_column_count_by_subprocess(hp: Hanport) -> None:
    f = _points(
        hp,
        "points.csv",
        f"{NEW_POINT};1001;;3338;Ny veg 1;3630;Rødberg",
        f"{NEW_POINT_2};1001;;3338;Ny veg 2;3630;Rødberg;none;extra",
    )
    r = hp.run("import", "metering-points", f)
    assert r.code == 6, str(r)
    assert "row 2:" in r.err and "row 3:" in r.err and "columns" in r.err
    assert [x["row"] for x in r.json["rejected"]] == [2, 3]
    assert hp.counts()["metering_points"] == 5


def test_database_unreachable_says_retry(tmp_path: Path) -> None:
    """No server where the URL points (a PostgreSQL being restarted, a wrong port): a one-line
    message and the "retry" exit code, not a traceback."""
    import socket

    with socket.socket() as s:  # a local port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hp = Hanport(tmp_path / "down", url=f"postgresql://postgres@127.0.0.1:{port}/test")
    r = hp.run("tick")
    assert r.code == 5, r
    assert "could not be reached or went away" in r.err and "retry" in r.err, r.err
    assert "Traceback" not in r.err

"""The registry import through the CLI: identifiers, upserts, the port state taken only on the first
import, legacy consents, meter changes."""

from __future__ import annotations

import pytest

from hanport.identifiers import gsrn_with_check_digit
from tests.e2e.cli import (
    CUSTOMERS_CSV,
    NORE_METER,
    NORE_METER_2,
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    POINTS_CSV,
    RINGERIKE_POINT,
    Hanport,
    meter_number,
)

POINT_HEADER = POINTS_CSV.splitlines()[0]
CUSTOMER_HEADER = CUSTOMERS_CSV.splitlines()[0]


def _row(gsrn: str, *, customer: str = "1001", meter: str = "", municipality: str = "3338",
         street: str = "Ny veg 1", postal: str = "3630", port: str = "none") -> str:  # fmt: skip
    return f"{gsrn};{customer};{meter};{municipality};{street};{postal};Rødberg;{port}"


def _points_file(hp: Hanport, *rows: str, name: str = "points.csv") -> str:
    return str(hp.write(name, "\n".join([POINT_HEADER, *rows]) + "\n"))


def _replace_row(csv: str, gsrn: str, **fields: str) -> str:
    """POINTS_CSV with the row of ``gsrn`` changed (column names as in the header)."""
    header = csv.splitlines()[0].split(";")
    out = []
    for line in csv.splitlines():
        cells = line.split(";")
        if cells[0] == gsrn:
            for k, v in fields.items():
                cells[header.index(k)] = v
        out.append(";".join(cells))
    return "\n".join(out) + "\n"


def _port(hp: Hanport, gsrn: str) -> tuple[str, str]:
    rows = hp.query("SELECT han_port, meter_number FROM metering_points WHERE gsrn = ?", gsrn)
    return rows[0]


def _meters(hp: Hanport, gsrn: str) -> list[tuple[str, bool]]:
    rows = hp.query(
        "SELECT h.meter_number, h.valid_to IS NULL FROM meter_history h "
        "JOIN metering_points p ON p.id = h.point_id WHERE p.gsrn = ? ORDER BY h.id",
        gsrn,
    )
    return [(m, bool(current)) for m, current in rows]


# --- identifiers -------------------------------------------------------------------------------


def test_gsrn_check_digit_enforced(hp: Hanport) -> None:
    valid = ["707057500053182051", "707057500032174572", "707057500042745649"]  # domain.md
    made = gsrn_with_check_digit("70705750009999999")
    wrong = made[:-1] + str((int(made[-1]) + 1) % 10)
    f = _points_file(
        hp,
        *(_row(g, street=f"Veg {i}") for i, g in enumerate(valid, 1)),  # rows 2-4
        _row(made, street="Veg 4"),  # row 5
        _row(wrong, street="Veg 5"),  # row 6
        _row("7070 5750 0012 3456 78", street="Veg 6"),  # row 7: invalid, spaces
        _row("70705750001234567", street="Veg 7"),  # row 8: 17 digits
    )
    r = hp.call("import", "metering-points", f)
    assert r.code == 6, str(r)
    rejected = {x["row"]: x["reason"] for x in r.json["rejected"]}
    assert set(rejected) == {6, 7, 8}
    assert all(reason.startswith("metering_point_id:") for reason in rejected.values())
    assert "check digit" in rejected[6] and "check digit" in rejected[7]
    assert "18 digits" in rejected[8]
    assert r.json["inserted"] == 4
    stored = {g for (g,) in hp.query("SELECT gsrn FROM metering_points")}
    assert set(valid) | {made} <= stored and wrong not in stored


def test_meter_number_failing_check_is_accepted_with_a_warning(hp: Hanport) -> None:
    good = meter_number("735999290516100")
    odd = good[:-1] + str((int(good[-1]) + 1) % 10)  # fails GS1 mod-10
    f = _points_file(
        hp,
        _row("707057500000000070", meter=good),
        _row("707057500000000087", meter=odd, port="closed"),
    )
    r = hp.run("import", "metering-points", f)
    assert r.code == 0, str(r)
    assert r.json["inserted"] == 2 and r.json["rejected"] == []
    assert len(r.json["warnings"]) == 1
    assert "row 3" in r.json["warnings"][0] and odd in r.json["warnings"][0]
    warning = [line for line in r.err.splitlines() if odd in line]
    assert len(warning) == 1 and "warning" in warning[0] and "row 3" in warning[0], r.err
    assert good not in r.err
    assert _port(hp, "707057500000000087") == ("closed", odd)


def test_meter_number_failing_check_warns_on_close_request(hp: Hanport) -> None:
    good = meter_number("735999290516400")
    odd = good[:-1] + str((int(good[-1]) + 1) % 10)
    f = _points_file(hp, _row("707057500000000070", meter=odd, port="open"))
    assert hp.call("import", "metering-points", f).ok().json["inserted"] == 1
    r = hp.call(
        "case", "open", "close-port", "--meter-number", odd, "--customer", "1001",
        "--channel", "phone",
    ).ok()  # fmt: skip
    assert r.json["state"] == "requested"
    assert len(r.json["warnings"]) == 1 and odd in r.json["warnings"][0]
    assert "warning" in r.err and odd in r.err


# --- upserts -----------------------------------------------------------------------------------


def test_reimport_same_files_changes_nothing(hp: Hanport) -> None:
    before = hp.dump()
    c = hp.call("import", "customers", hp.write("c.csv", CUSTOMERS_CSV)).ok().json
    p = hp.call("import", "metering-points", hp.write("p.csv", POINTS_CSV)).ok().json
    assert (c["rows"], c["inserted"], c["updated"], c["unchanged"]) == (5, 0, 0, 5)
    assert (p["rows"], p["inserted"], p["updated"], p["unchanged"]) == (5, 0, 0, 5)
    assert hp.dump() == before


def test_reimport_with_crlf_and_bom_changes_nothing(hp: Hanport) -> None:
    before = hp.dump()
    data = "\ufeff" + CUSTOMERS_CSV.replace("\n", "\r\n")
    c = hp.call("import", "customers", hp.write("c.csv", data.encode("utf-8"))).ok().json
    assert c["unchanged"] == 5
    assert hp.dump() == before


def test_changed_email_updates_and_keeps_history(hp: Hanport) -> None:
    ref = hp.open_nore()  # its "request received" mail waits in the outbox
    changed = CUSTOMERS_CSV.replace("kari@example.no", "kari.nordmann@example.no")
    r = hp.call("import", "customers", hp.write("c.csv", changed)).ok().json
    assert (r["inserted"], r["updated"], r["unchanged"]) == (0, 1, 4)
    c = hp.call("customer", "show", "1001").ok().json
    assert (c["email"], c["version"]) == ("kari.nordmann@example.no", 2)
    assert [(h["version"], h["source"], h["snapshot"]["email"]) for h in c["history"]] == [
        (1, "import", "kari@example.no"),
        (2, "import", "kari.nordmann@example.no"),
    ]
    assert hp.counts()["customer_history"] == 6
    # Unsent mail follows the new address.
    assert hp.query(
        "SELECT m.recipient FROM mail_outbox m JOIN cases c ON c.id = m.case_id WHERE c.ref = ?",
        ref,
    ) == [("kari.nordmann@example.no",)]


def test_changed_point_address_updates(hp: Hanport) -> None:
    text = _replace_row(POINTS_CSV, NORE_POINT, street="Sentrumsvegen 5A")
    r = hp.call("import", "metering-points", hp.write("p.csv", text)).ok().json
    assert (r["updated"], r["unchanged"]) == (1, 4)
    assert hp.query("SELECT street FROM metering_points WHERE gsrn = ?", NORE_POINT) == [
        ("Sentrumsvegen 5A",)
    ]


# --- the port state ----------------------------------------------------------------------------


def test_han_port_taken_only_on_first_import(hp: Hanport) -> None:
    text = _replace_row(POINTS_CSV, NORE_POINT, han_port="open")
    text = _replace_row(text, NORE_OPEN_POINT, han_port="closed")
    text = _replace_row(text, RINGERIKE_POINT, han_port="closed")
    consents = hp.counts()["consents"]
    r = hp.call("import", "metering-points", hp.write("p.csv", text)).ok().json
    assert (r["updated"], r["unchanged"]) == (0, 5)
    assert _port(hp, NORE_POINT)[0] == "closed"
    assert _port(hp, NORE_OPEN_POINT)[0] == "open"
    assert _port(hp, RINGERIKE_POINT)[0] == "none"
    assert hp.counts()["consents"] == consents


def test_imported_open_port_has_a_legacy_consent(hp: Hanport) -> None:
    rows = hp.query(
        "SELECT c.id, c.source, c.meter_number, c.opened_at IS NOT NULL, c.ended_at, p.consent_id "
        "FROM consents c JOIN metering_points p ON p.id = c.point_id WHERE p.gsrn = ?",
        NORE_OPEN_POINT,
    )
    assert len(rows) == 1
    cid, source, meter, opened, ended, point_consent = rows[0]
    assert (source, meter, opened, ended, point_consent) == (
        "legacy_import", NORE_OPEN_METER, 1, None, cid,
    )  # fmt: skip
    # Only the open port got one.
    assert hp.query("SELECT count(*) FROM consents") == [(1,)]
    c = hp.call("customer", "show", "1004").ok().json
    assert c["metering_points"] == [
        {"metering_point": NORE_OPEN_POINT, "meter_number": NORE_OPEN_METER,
         "municipality": "0633", "port": "open"},
    ]  # fmt: skip


# --- meter numbers -----------------------------------------------------------------------------


def test_changed_meter_on_open_port_starts_an_auto_close(hp: Hanport) -> None:
    """A meter replaced outside a swap case: the consent was for the old meter, so the port
    closes automatically (reason meter_replaced) and the new meter starts closed."""
    new = meter_number("697063140158999")
    text = _replace_row(POINTS_CSV, NORE_OPEN_POINT, meter_number=new)
    r = hp.run("import", "metering-points", hp.write("p.csv", text))
    assert r.code == 0, str(r)
    assert (r.json["updated"], r.json["unchanged"], r.json["rejected"]) == (1, 4, [])
    assert "closes automatically" in r.err and new in r.err
    assert _port(hp, NORE_OPEN_POINT) == ("closing", new)
    assert _meters(hp, NORE_OPEN_POINT) == [(NORE_OPEN_METER, False), (new, True)]
    cases = hp.call("case", "list", "--metering-point", NORE_OPEN_POINT).ok().json
    assert [(c["workflow"], c["state"], c["customer"]) for c in cases] == [
        ("close_port", "closing", "1004")
    ]
    show = hp.call("case", "show", cases[0]["case"]).ok().json
    assert show["consent"] is None or show["consent"]["end_reason"] == "meter_replaced"
    hp.call("case", "advance", cases[0]["case"], "confirm-close").ok()
    assert _port(hp, NORE_OPEN_POINT) == ("closed", new)


def test_changed_meter_with_case_in_flight_cancels_the_opening(hp: Hanport) -> None:
    ref = hp.open_nore()  # holds NORE_POINT (port closed, opening in flight)
    new = meter_number("735999290516222")
    text = _replace_row(POINTS_CSV, NORE_POINT, meter_number=new)
    r = hp.call("import", "metering-points", hp.write("p.csv", text)).ok().json
    assert (r["updated"], r["rejected"]) == (1, [])
    assert hp.call("case", "show", ref).ok().json["state"] == "cancelled"
    assert _meters(hp, NORE_POINT)[-1] == (new, True)


def test_changed_meter_on_closed_port_is_applied_and_kept_in_history(hp: Hanport) -> None:
    new = meter_number("735999290516333")
    text = _replace_row(POINTS_CSV, NORE_POINT_2, meter_number=new)
    r = hp.call("import", "metering-points", hp.write("p.csv", text)).ok().json
    assert (r["updated"], r["unchanged"], r["rejected"]) == (1, 4, [])
    assert _port(hp, NORE_POINT_2) == ("closed", new)
    assert _meters(hp, NORE_POINT_2) == [(NORE_METER_2, False), (new, True)]
    # The old number is now a replaced meter.
    hp.refused(
        4, "case", "open", "close-port", "--meter-number", NORE_METER_2, "--customer", "1005",
        "--channel", "phone", says=("replaced", NORE_METER_2),
    )  # fmt: skip
    # Importing the same file again is a no-op.
    again = hp.call("import", "metering-points", hp.write("p.csv", text)).ok().json
    assert again["unchanged"] == 5


def test_new_meter_with_port_on_point_without_one(hp: Hanport) -> None:
    new = meter_number("570656731669999")
    text = _replace_row(POINTS_CSV, RINGERIKE_POINT, meter_number=new, han_port="closed")
    hp.call("import", "metering-points", hp.write("p.csv", text)).ok()
    assert _port(hp, RINGERIKE_POINT) == ("closed", new)


def test_meter_already_on_another_point_is_rejected(hp: Hanport) -> None:
    f = _points_file(hp, _row("707057500000000070", meter=NORE_METER, port="closed"))
    r = hp.call("import", "metering-points", f)
    assert r.code == 6, str(r)
    reason = r.json["rejected"][0]["reason"]
    assert reason.startswith("meter_number:") and NORE_POINT in reason


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (_row("707057500000000070", municipality="0301"), "municipality"),  # Oslo: not mapped
        (_row("707057500000000070", municipality="33x8"), "municipality"),
        (_row("707057500000000070", postal="363"), "postal_code"),
        (_row("707057500000000070", port="maybe"), "han_port"),
        (_row("707057500000000070", customer="9999"), "customer_id"),
        (_row("707057500000000070", customer=""), "customer_id"),
        (_row("707057500000000070", meter="12-34-56"), "meter_number"),
        (_row("707057500000000070", meter="12345"), "meter_number"),
        (_row("707057500000000070", port="open"), "meter_number"),  # an open port needs a meter
        (_row("70705750000000007X"), "metering_point_id"),
    ],
)
def test_rejected_point_rows_name_the_field(hp: Hanport, row: str, field: str) -> None:
    before = hp.dump()
    r = hp.call("import", "metering-points", _points_file(hp, row))
    assert r.code == 6, str(r)
    [rejected] = r.json["rejected"]
    assert rejected["row"] == 2
    assert field in rejected["reason"], rejected
    assert f"row 2: {rejected['reason']}" in r.err
    assert hp.dump() == before

"""``hanport report sla`` at the command line: table, CSV, JSON and an HTML file; for
supervisors and auditors; a bad date, period, area or moment refused with its own exit code."""

from __future__ import annotations

import re

from tests.e2e.cli import Hanport, consent_sets

MARCH = ("--from", "2026-03-01", "--to", "2026-03-31")


def _opened_case(hp: Hanport) -> str:
    """A Nore order with its consent, opened the same day (the vendor's answer, recorded on the case)."""
    ref = hp.open_nore(*consent_sets())
    hp.call("tick").ok()  # the manual adapter marks the open command sent
    hp.advance(ref, "confirm_open").ok()
    return ref


def test_report_sla_in_every_format(hp: Hanport) -> None:
    ref = _opened_case(hp)
    data = hp.call("report", "sla", *MARCH, user="sup").ok().json
    rows = {(r["area"], r["month"]): r for r in data["sla"]}
    nore = rows[("Nore og Uvdal", "2026-03")]
    assert (nore["requests"], nore["ports_opened"], nore["within_3"]) == (1, 1, 1)
    assert nore["median_working_days"] == 0.0 and nore["share_within_3"] == 1.0
    assert data["breaches"] == [] and "within 3 working days" in data["definitions"]
    shown = hp.call("report", "sla", *MARCH, user="aud", as_json=False).ok().out
    assert shown.startswith("SLA report 2026-03-01..2026-03-31")
    assert "Per area and month" in shown and "Definitions" in shown and "Nore og Uvdal" in shown
    csv_out = hp.call("report", "sla", *MARCH, "--format", "csv", user="sup", as_json=False)
    lines = csv_out.ok().out.splitlines()
    assert lines[0].startswith("area;month;requests;ports_opened;notices")
    assert any(line.startswith("Nore og Uvdal;2026-03;1;1;1;") for line in lines)
    # --area by name (any case) or municipality number; --as-of before the order: nothing yet
    by_number = hp.call("report", "sla", *MARCH, "--area", "3338", user="sup").ok().json
    assert by_number["area"] == "Nore og Uvdal" and by_number["sla"] == data["sla"]
    early = hp.call(
        "report", "sla", *MARCH, "--area", "nore og uvdal", "--as-of", "2026-03-02T08:00",
        user="sup",
    ).ok().json  # fmt: skip
    assert early["sla"] == [] and early["cases_read"] == 0
    assert ref not in str(early)


def test_report_sla_html_file(hp: Hanport) -> None:
    _opened_case(hp)
    out = hp.folder / "report.html"
    r = hp.run("report", "sla", *MARCH, "--format", "html", "--output", out, user="sup")
    assert r.code == 0, str(r)
    assert f"written to {out}" in r.err and not r.out.strip()
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "Nore og Uvdal" in html
    assert html.count("<svg") == 2  # the weekly share and the distribution: no swap queue
    # self-contained: nothing fetched (the only URLs are the SVG and XLink namespace names)
    assert not re.search(r"(src|href)=\"(?!#)|url\((?!#)|@import|<script|<link", html)
    assert set(re.findall(r"https?://[^\"' )]+", html)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


def test_report_sla_refusals(hp: Hanport) -> None:
    hp.refused(4, "report", "sla", *MARCH, says="the reports are for supervisor or auditor")
    hp.refused(4, "report", "sla", "--from", "2026-02-30", "--to", "2026-03-31", user="sup",
               says=("--from", "2026-02-30", "YYYY-MM-DD"))  # fmt: skip
    hp.refused(4, "report", "sla", "--from", "2026-03-01", "--to", "march", user="sup",
               says=("--to", "march"))  # fmt: skip
    hp.refused(4, "report", "sla", "--from", "2026-03-31", "--to", "2026-03-01", user="sup",
               says=("before --from",))  # fmt: skip
    hp.refused(3, "report", "sla", *MARCH, "--area", "Bergen", user="sup",
               says=("--area", "Bergen", "Nore og Uvdal"))  # fmt: skip
    hp.refused(4, "report", "sla", *MARCH, "--as-of", "soon", user="sup", says="--as-of")
    hp.refused(4, "report", "sla", *MARCH, "--out", hp.folder / "nowhere" / "r.html",
               user="sup", says="does not exist")  # fmt: skip
    hp.refused(2, "report", "sla", "--to", "2026-03-31", user="sup", says="--from")

"""A document is applied once, ever; every row ends applied, noop or rejected; bad rows are
reported one by one and bad files refused whole; ``--dry-run`` changes nothing and says what
the real run then does; every run is recorded. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.identifiers import gsrn_with_check_digit
from hanport.storage.tables import BatchRun
from tests.batch.helpers import (
    FUTURE,
    HEADER,
    PAST,
    case,
    cases_for,
    cli,
    counts,
    documents,
    dump,
    open_port_1001,
    outcomes,
    rollback,
    row,
    rows,
    run_file,
    sha256,
    write_file,
)
from tests.support import (
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    import_points,
)

# A valid GSRN that the seeded registry does not know.
UNREGISTERED = gsrn_with_check_digit("70705750000000099")
RUNS = BatchRun.__table__  # type: ignore[attr-defined]


def url_of(app: App) -> str:
    return app.engine.url.render_as_string(hide_password=False)


def rejects_of(path: Path) -> list[list[str]]:
    with path.with_name(path.name + ".rejects.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f, delimiter=";"))


def business_tables(app: App) -> dict[str, list[str]]:
    """Everything but the batch bookkeeping and the clock."""
    return dump(app.engine, skip=("meta", "batch_runs", "batch_documents", "batch_files"))


def mixed_rows() -> list[str]:
    """Valid rows only: closes, no-ops, a rollback, a newcomer."""
    return [
        row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),
        row("x-1", NORE_OPEN_POINT, "move_out", PAST, "1001"),  # not the holder
        row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "9001"),
        rollback("rb-1", NORE_POINT, "mo-1"),
        row("eos-1", NORE_POINT, "end_of_supply", FUTURE, "1001"),
        row("c-1", NORE_POINT_2, "move_out", PAST, "1005"),  # closed port
    ]


# --- once, ever -------------------------------------------------------------------------------


def test_the_same_file_twice_applies_every_document_once(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    f = write_file(tmp_path / "t.csv", mixed_rows())
    first = run_file(app, f)
    assert (first.rows, first.applied, first.noop, first.rejected) == (6, 4, 2, 0)
    before = business_tables(app)
    docs = documents(app.engine)
    cases_before = len(rows(app.engine, "SELECT id FROM cases WHERE workflow = 'close_port'"))
    events_before = counts(app.engine)["case_events"]

    second = run_file(app, f)
    assert (second.rows, second.applied, second.noop, second.rejected) == (6, 0, 6, 0)
    assert all("already" in o["detail"] for o in second.outcomes)
    assert business_tables(app) == before  # not one case, event, mail or HES command more
    assert documents(app.engine) == docs  # each still recorded by the first run
    assert len(rows(app.engine, "SELECT id FROM cases WHERE workflow = 'close_port'")) == (
        cases_before
    )
    assert counts(app.engine)["case_events"] == events_before
    assert len(rows(app.engine, "SELECT id FROM batch_runs")) == 2

    # The command line agrees: all no-ops, exit 0.
    run = cli(url_of(app), "--json", "batch", "terminations", str(f))
    assert run.code == 0, run.err
    assert (run.json()["applied"], run.json()["noop"]) == (0, 6)
    assert business_tables(app) == before


def test_a_document_repeated_within_a_file_is_applied_once(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    close = row("mo-1", NORE_POINT, "move_out", FUTURE, "1001")
    move_in = row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "9001")
    # Filler no-ops between the repeats, so the repeats land far apart in the file.
    filler = [row(f"f-{i:04d}", NORE_POINT_2, "move_out", PAST, "1005") for i in range(1100)]
    f = write_file(tmp_path / "t.csv", [close, move_in, close, *filler, move_in, close])
    report = run_file(app, f)
    got = {(o["document_id"], o["row"]): o for o in report.outcomes}
    assert got[("mo-1", 2)]["outcome"] == "applied"
    assert got[("mi-1", 3)]["outcome"] == "applied"
    for doc, number in (("mo-1", 4), ("mi-1", 1105), ("mo-1", 1106)):
        assert got[(doc, number)]["outcome"] == "noop", got[(doc, number)]
        assert "already applied (row" in got[(doc, number)]["detail"]
    assert (report.applied, report.rejected) == (2, 0)
    assert len(cases_for(app, NORE_POINT, "close_port")) == 1
    assert len(cases_for(app, NORE_OPEN_POINT, "close_port")) == 1
    recorded = documents(app.engine)
    assert (recorded["mo-1"]["row_number"], recorded["mi-1"]["row_number"]) == (2, 3)
    assert len(recorded) == 2 + len(filler)


def test_a_rejected_document_is_applied_once_the_registry_is_fixed(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    f = write_file(
        tmp_path / "t.csv",
        [
            row("mo-1", UNREGISTERED, "move_out", PAST, "1003"),
            row("x-1", NORE_OPEN_POINT, "move_out", PAST, "1001"),
        ],
    )
    first = run_file(app, f)
    assert [o["outcome"] for o in first.outcomes] == ["rejected", "noop"]
    assert "metering_point_id" in first.outcomes[0]["detail"]
    assert documents(app.engine)["mo-1"]["outcome"] == "rejected"

    # The point comes into the registry (its port open under customer 1003's legacy consent).
    points = tmp_path / "points.csv"
    points.write_text(
        "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;"
        f"han_port\n{UNREGISTERED};1003;7359992905160879;3338;Vikveien 3;3530;Røyse;open\n",
        encoding="utf-8",
    )
    assert not import_points(app, actor(app), points).rejected

    second = run_file(app, f)
    assert [o["outcome"] for o in second.outcomes] == ["applied", "noop"]
    recorded = documents(app.engine)["mo-1"]
    assert (recorded["outcome"], recorded["run_id"]) == ("applied", second.run_id)
    (c,) = cases_for(app, UNREGISTERED, "close_port")
    assert c["state"] == "closing" and c["data"]["document_id"] == "mo-1"
    third = run_file(app, f)
    assert [o["outcome"] for o in third.outcomes] == ["noop", "noop"]
    assert len(cases_for(app, UNREGISTERED, "close_port")) == 1


def test_the_same_document_id_with_other_content_is_rejected(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    run_file(
        app,
        write_file(
            tmp_path / "a.csv",
            [
                row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),
                row("x-1", NORE_OPEN_POINT, "move_out", PAST, "1001"),  # a no-op
            ],
        ),
    )
    kept = documents(app.engine)
    f = write_file(
        tmp_path / "b.csv",
        [
            row("mo-1", NORE_POINT, "move_out", "2026-03-20T00:00:00+01:00", "1001"),
            row("x-1", NORE_OPEN_POINT, "move_in", PAST, "9001"),
            row("mi-2", NORE_OPEN_POINT, "end_of_supply", PAST, "1004"),
            row("mi-2", NORE_OPEN_POINT, "end_of_supply", PAST, "1004", brs="BRS-NO-203"),
        ],
    )
    report = run_file(app, f)
    assert outcomes(report) == [
        (2, "mo-1", "rejected"),
        (3, "x-1", "rejected"),
        (4, "mi-2", "applied"),
        (5, "mi-2", "rejected"),
    ]
    for o in report.outcomes:
        if o["outcome"] == "rejected":
            assert "document_id" in o["detail"], o
    after = documents(app.engine)
    assert after["mo-1"] == kept["mo-1"] and after["x-1"] == kept["x-1"]
    (c,) = cases_for(app, NORE_POINT, "close_port")
    assert c["state"] == "scheduled" and c["data"]["effective_at"] == "2026-03-09T23:00:00+00:00"
    assert len(cases_for(app, NORE_OPEN_POINT, "close_port")) == 1  # mi-2's only
    assert [r[0] for r in rejects_of(f)[1:]] == ["2", "3", "5"]


# --- every row accounted for ------------------------------------------------------------------


def test_every_row_ends_applied_noop_or_rejected_and_the_counts_add_up(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    lines = [
        *mixed_rows(),
        "",  # a blank line is not a row
        row("bad-1", "707057500012345678", "move_out", PAST, "1001"),
        row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),  # repeat
        "short;row",
        row("mo-1", NORE_POINT, "move_out", PAST, "1001"),  # same id, other content
    ]
    f = write_file(tmp_path / "t.csv", lines)
    report = run_file(app, f)
    numbers = [i + 2 for i, line in enumerate(lines) if line]
    assert report.rows == len(numbers) == 10
    assert report.applied + report.noop + report.rejected == report.rows
    assert [o["row"] for o in report.outcomes] == numbers
    assert {o["outcome"] for o in report.outcomes} <= {"applied", "noop", "rejected"}
    assert (report.applied, report.noop, report.rejected) == (4, 3, 3)
    (run,) = rows(app.engine, "SELECT * FROM batch_runs")
    assert (run["rows_read"], run["applied"], run["noop"], run["rejected"]) == (10, 4, 3, 3)


def test_a_bom_and_crlf_line_ends_are_accepted(seeded: App, tmp_path: Path) -> None:
    app = seeded
    f = tmp_path / "t.csv"
    f.write_bytes(
        (
            "\ufeff"
            + HEADER
            + "\r\n"
            + row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "9001")
            + "\r\n"
        ).encode("utf-8")
    )
    report = run_file(app, f)
    assert outcomes(report) == [(2, "mi-1", "applied")]


BAD_ROWS = [
    # (row, the field its reason must name)
    ("x-cols;" + NORE_POINT + ";move_out;BRS-NO-201;" + PAST + ";1001", "columns"),
    (row("x-check", "707057500012345678", "move_out", PAST, "1001"), "metering_point_id"),
    (row("x-unknown", UNREGISTERED, "move_out", PAST, "1001"), "metering_point_id"),
    (row("x-event", NORE_POINT, "moved_away", PAST, "1001", brs="BRS-NO-201"), "event"),
    (row("x-offset", NORE_POINT, "move_out", "2026-03-10T00:00:00", "1001"), "effective_at"),
    (row("x-instant", NORE_POINT, "move_out", "next tuesday", "1001"), "effective_at"),
    (row("x-empty-at", NORE_POINT, "move_out", "", "1001"), "effective_at"),
    (row("x-customer", NORE_POINT, "move_out", PAST, "7777"), "customer_id"),
    (row("", NORE_POINT, "move_out", PAST, "1001"), "document_id"),
    (rollback("x-never", NORE_POINT, "never-seen"), "rollback_of"),
    (rollback("x-no-target", NORE_POINT, ""), "rollback_of"),
    (row("x-both", NORE_POINT, "move_out", PAST, "1001", "mo-1"), "rollback_of"),
]


def test_bad_rows_are_rejected_with_row_number_and_field_and_good_rows_applied(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    good = [
        row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),
        row("x-1", NORE_OPEN_POINT, "move_out", PAST, "1001"),
    ]
    lines = [good[0], *[b for b, _ in BAD_ROWS], good[1]]
    f = write_file(tmp_path / "in" / "terminations.csv", lines)
    run = cli(url_of(app), "--json", "batch", "terminations", "--details", str(f))
    assert run.code == 6, (run.code, run.err)
    out = run.json()
    bad = len(BAD_ROWS)
    assert (out["rows"], out["applied"], out["noop"], out["rejected"]) == (bad + 2, 1, 1, bad)
    rejected = {o["row"]: o["detail"] for o in out["outcomes"] if o["outcome"] == "rejected"}
    expected_rows = list(range(3, 3 + bad))
    assert sorted(rejected) == expected_rows
    for number, (_, field) in zip(expected_rows, BAD_ROWS, strict=True):
        assert field in rejected[number], (number, rejected[number])
        assert f"row {number}: {rejected[number]}" in run.err
    # Written beside the input: the row number, the reason, the row as given.
    rejects = rejects_of(f)
    assert rejects[0] == ["row", "reason", *HEADER.split(";")]
    assert [r[0] for r in rejects[1:]] == [str(n) for n in expected_rows]
    assert [r[1] for r in rejects[1:]] == [rejected[n] for n in expected_rows]
    assert rejects[2][2:] == BAD_ROWS[1][0].split(";")
    assert out["rejects_file"] == str(f.with_name("terminations.csv.rejects.csv"))
    # The good rows were applied.
    assert case(app, out["outcomes"][0]["case"])["state"] == "scheduled"
    assert documents(app.engine)["mo-1"]["outcome"] == "applied"


_GOOD = (HEADER + "\n" + row("d", NORE_POINT, "move_out", PAST, "1001") + "\n").encode()
UNUSABLE = {
    "latin1-row": _GOOD.replace(b"BRS-NO-201", b"BRS-NO-201 R\xf8dberg"),
    "truncated-utf8-at-end": _GOOD + b"\xc3",
    "empty": b"",
    "blank": b"\n\r\n  \n",
    "header-only": (HEADER + "\n").encode(),
    "header-and-blank-lines": (HEADER + "\n\n;;;;;;\n").encode(),
    "wrong-header": (
        "document;gsrn;event;brs_code;effective_at;customer_id;rollback_of\n"
        + row("d", NORE_POINT, "move_out", PAST, "1001")
        + "\n"
    ).encode(),
    "comma-separated": (
        HEADER.replace(";", ",") + "\n" + row("d", NORE_POINT, "move_out", PAST, "1001") + "\n"
    ).encode(),
}


@pytest.mark.parametrize("kind", list(UNUSABLE))
def test_an_unusable_file_is_refused_and_nothing_changes(
    seeded: App, tmp_path: Path, kind: str
) -> None:
    app = seeded
    open_port_1001(app)
    f = tmp_path / "t.csv"
    f.write_bytes(UNUSABLE[kind])
    before_counts, before = counts(app.engine), dump(app.engine)
    with pytest.raises(Refused):
        run_file(app, f)
    run = cli(url_of(app), "batch", "terminations", str(f))
    assert run.code == 4, (run.code, run.out, run.err)
    assert run.err.startswith("hanport: ") and str(f) in run.err
    assert counts(app.engine) == before_counts
    assert dump(app.engine) == before
    assert rows(app.engine, "SELECT id FROM batch_runs") == []
    assert rows(app.engine, "SELECT document_id FROM batch_documents") == []
    assert not f.with_name(f.name + ".rejects.csv").exists()


def test_a_missing_file_is_refused(seeded: App, tmp_path: Path) -> None:
    run = cli(url_of(seeded), "batch", "terminations", str(tmp_path / "nowhere.csv"))
    assert run.code == 4, (run.code, run.err)
    assert counts(seeded.engine)["batch_runs"] == 0


# --- dry run ----------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_prints_what_the_real_run_then_does(
    seeded: App, tmp_path: Path
) -> None:
    app = seeded
    open_port_1001(app)
    lines = [
        *mixed_rows(),
        row("mo-1", NORE_POINT, "move_out", FUTURE, "1001"),  # repeated
        row("bad-1", UNREGISTERED, "move_out", PAST, "1001"),
        rollback("rb-x", NORE_POINT, "never-seen"),
        row("mi-1", NORE_OPEN_POINT, "move_in", PAST, "1004"),  # same id, other content
    ]
    f = write_file(tmp_path / "t.csv", lines)
    url = url_of(app)

    def check_round() -> None:
        before_counts, before = counts(app.engine), dump(app.engine)
        dry = cli(url, "--json", "batch", "terminations", "--dry-run", "--details", str(f))
        assert dry.code in (0, 6), dry.err
        assert counts(app.engine) == before_counts  # every table, batch_runs included
        assert dump(app.engine) == before
        assert not f.with_name(f.name + ".rejects.csv").exists()
        real = cli(url, "--json", "batch", "terminations", "--details", str(f))
        assert real.code == dry.code, (dry.err, real.err)
        d, r = dry.json(), real.json()
        assert d["dry_run"] is True and r["dry_run"] is False
        for key in ("rows", "applied", "noop", "rejected"):
            assert d[key] == r[key], key
        assert [(o["row"], o["document_id"], o["outcome"]) for o in d["outcomes"]] == [
            (o["row"], o["document_id"], o["outcome"]) for o in r["outcomes"]
        ]
        f.with_name(f.name + ".rejects.csv").unlink(missing_ok=True)

    check_round()  # a fresh file: closes, rollbacks, no-ops, rejects
    check_round()  # once more: everything already applied

    # The human summary is the same table too.
    dry = cli(url, "batch", "terminations", "--dry-run", str(f))
    real = cli(url, "batch", "terminations", str(f))
    assert dry.out.startswith("DRY RUN")
    assert dry.out.splitlines()[1:3] == real.out.splitlines()[0:2]


def test_dry_run_through_the_api_leaves_no_trace(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    f = write_file(tmp_path / "t.csv", mixed_rows())
    before = dump(app.engine)
    report = run_file(app, f, dry_run=True)
    assert report.dry_run and (report.applied, report.noop) == (4, 2)
    assert dump(app.engine) == before
    real = run_file(app, f)
    assert outcomes(real) == outcomes(report)


# --- the run's record -------------------------------------------------------------------------


def test_a_batch_run_records_file_hash_counts_start_and_end(seeded: App, tmp_path: Path) -> None:
    app = seeded
    open_port_1001(app)
    f = write_file(
        tmp_path / "nightly-2026-03-02.csv",
        [*mixed_rows(), row("bad", UNREGISTERED, "move_out", PAST, "1001")],
    )
    report = run_file(app, f)
    with app.engine.connect() as conn:
        (run,) = [dict(r) for r in conn.execute(select(RUNS)).mappings()]
    assert run["id"] == report.run_id
    assert run["kind"] == "terminations"
    assert run["file_name"] == "nightly-2026-03-02.csv"
    assert run["file_hash"] == sha256(f) == report.file_hash
    assert (run["rows_read"], run["applied"], run["noop"], run["rejected"]) == (7, 4, 2, 1)
    assert run["actor"] == "cw"
    assert run["started_at"].isoformat() == "2026-03-02T08:00:00+00:00" == _utc(START)
    assert run["finished_at"] is not None and run["finished_at"] >= run["started_at"]
    assert {d["run_id"] for d in documents(app.engine).values()} == {run["id"]}


def _utc(text: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).astimezone(UTC).isoformat()

"""``hanport batch``: the nightly Elhub-derived terminations file, by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hanport.cli.context import CliState, is_tty, pass_state, table
from hanport.errors import EXIT_REJECTED_ROWS


@click.group("batch", help="Batches: apply the Elhub-derived terminations and moves file.")
def group() -> None:
    pass


@group.command(
    "terminations",
    help="Apply FILE (document_id;metering_point_id;event;brs_code;effective_at;customer_id;"
    "rollback_of): auto-close ports on moves and contract ends. Exit 6 if rows were rejected "
    "(written to FILE.rejects.csv).",
)
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Change nothing; print the summary the real run would give."
)
@click.option("--details", is_flag=True, help="Also list every row's outcome.")
@pass_state
def terminations(state: CliState, file: Path, dry_run: bool, details: bool) -> None:
    from hanport.batch import run_terminations
    from hanport.csvfile import read_text

    app, actor = state.app(), state.actor()
    if is_tty() and not state.json:
        total = max(read_text(file)[0].count("\n") - 1, 1)
        with click.progressbar(length=total, label="rows", file=sys.stderr) as bar:
            report = run_terminations(app, actor, file, dry_run=dry_run, progress=bar.update)
    else:
        report = run_terminations(app, actor, file, dry_run=dry_run)
    summary = report.summary()
    head = "DRY RUN — nothing was changed\n" if dry_run else ""
    human = head + table(
        [
            {
                "rows": report.rows,
                "applied": report.applied,
                "noop": report.noop,
                "rejected": report.rejected,
            }
        ],
        ["rows", "applied", "noop", "rejected"],
    )
    shown = (
        report.outcomes
        if details
        else [o for o in report.outcomes if o["outcome"] != "applied" or o["case"]]
    )
    if details or report.rejected:
        rows = [o for o in shown if details or o["outcome"] == "rejected"]
        human += "\n\n" + table(rows, ["row", "document_id", "outcome", "case", "detail"])
    if report.rejects_file:
        human += f"\n\nRejected rows written to {report.rejects_file}"
    state.emit({**summary, "outcomes": report.outcomes}, human)
    if report.rejected:
        for o in report.outcomes:
            if o["outcome"] == "rejected":
                click.echo(f"hanport: row {o['row']}: {o['detail']}", err=True)
        click.get_current_context().exit(EXIT_REJECTED_ROWS)

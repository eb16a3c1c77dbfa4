"""``hanport batch``: the nightly Elhub-derived terminations file, by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hanport.entrypoints.cli.context import CliState, is_tty, pass_state, table
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
@click.option("--details", is_flag=True, help="List every row's outcome (else only rejected rows).")
@pass_state
def terminations(state: CliState, file: Path, dry_run: bool, details: bool) -> None:
    from hanport.adapters.csvfile import scan
    from hanport.service import run
    from hanport.service.commands import RunTerminations

    app, actor = state.app(), state.actor()
    if is_tty() and not state.json:
        total = max(scan(file).lines - 1, 1)
        with click.progressbar(length=total, label="rows", file=sys.stderr) as bar:
            command = RunTerminations(file, dry_run, details, progress=bar.update)
            report = run(app, actor, command)
    else:
        report = run(app, actor, RunTerminations(file, dry_run, details))
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
    if report.outcomes:  # every row with --details, else the rejected ones
        human += "\n\n" + table(
            report.outcomes, ["row", "document_id", "outcome", "case", "detail"]
        )
    if report.rejects_file:
        human += f"\n\nRejected rows written to {report.rejects_file}"
    state.emit({**summary, "outcomes": report.outcomes}, human)
    if report.rejected:
        for o in report.outcomes:
            if o["outcome"] == "rejected":
                click.echo(f"hanport: row {o['row']}: {o['detail']}", err=True)
        click.get_current_context().exit(EXIT_REJECTED_ROWS)

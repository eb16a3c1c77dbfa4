"""``hanport import``: the customer and metering-point registry from CSV."""

from __future__ import annotations

from pathlib import Path

import click

from hanport.entrypoints.cli.context import CliState, pass_state, table, warn
from hanport.errors import EXIT_REJECTED_ROWS


@click.group("import", help="Import the registry from CSV (UTF-8, ';'-separated, header row).")
def group() -> None:
    pass


def _report(state: CliState, report: object) -> None:
    from hanport.service.registry import ImportReport

    assert isinstance(report, ImportReport)
    data = report.as_dict()
    for w in report.warnings:
        warn(w)
    human = (
        f"{report.kind}: {report.rows} rows — {report.inserted} inserted, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.rejected)} rejected"
    )
    if report.rejected:
        human += "\n\nRejected rows:\n" + table(
            [r.as_dict() for r in report.rejected], ["row", "reason"]
        )
    state.emit(data, human)
    if report.rejected:
        for r in report.rejected:
            click.echo(f"hanport: row {r.number}: {r.reason}", err=True)
        click.get_current_context().exit(EXIT_REJECTED_ROWS)


@group.command(
    "customers",
    help="Upsert customers from FILE: customer_id;name;email;phone;street;postal_code;city;language;energipilot",
)
@click.argument("file", type=click.Path(path_type=Path))
@pass_state
def customers(state: CliState, file: Path) -> None:
    from hanport.service import run
    from hanport.service.commands import ImportCustomers

    _report(state, run(state.app(), state.actor(), ImportCustomers(file)))


@group.command(
    "metering-points",
    help="Upsert metering points from FILE: "
    "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port",
)
@click.argument("file", type=click.Path(path_type=Path))
@pass_state
def metering_points(state: CliState, file: Path) -> None:
    from hanport.service import run
    from hanport.service.commands import ImportMeteringPoints

    _report(state, run(state.app(), state.actor(), ImportMeteringPoints(file)))

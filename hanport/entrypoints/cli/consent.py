"""``hanport consent``: the consent register, from the history."""

from __future__ import annotations

import csv
import io

import click

from hanport.entrypoints.cli.context import CliState, pass_state, personal_options, table

COLUMNS = [
    "consent",
    "metering_point",
    "customer",
    "case",
    "channel",
    "declaration_version",
    "security",
    "given_at",
    "opened_at",
    "ended_at",
    "end_reason",
]


@click.group(
    "consent",
    help="The consent register: every consent as the history stood at any moment.",
)
def group() -> None:
    pass


@group.command(
    "list",
    help="List every consent with its point, customer, case, channel, declaration version and "
    "text hash, security option, when it was given, opened the port and ended (and why) — as "
    "the history stood at --at (default now). For privacy, supervisors and auditors; who "
    "signed only with --personal (logged).",
)
@click.option("--at", metavar="ISO", help="The moment to list as of (no offset: Oslo time).")
@click.option("--point", "point", metavar="GSRN", help="Only this metering point's consents.")
@click.option("--customer", metavar="C", help="Only this customer's consents.")
@click.option("--live", "which", flag_value="live", help="Only consents live at --at.")
@click.option("--ended", "which", flag_value="ended", help="Only consents ended by --at.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@personal_options
@pass_state
def list_cmd(
    state: CliState,
    at: str | None,
    point: str | None,
    customer: str | None,
    which: str | None,
    fmt: str,
    personal: bool,
    purpose: str | None,
) -> None:
    from hanport.entrypoints.cli.audit import instant
    from hanport.service.reads import consent_register

    live = None if which is None else which == "live"
    rows = consent_register(
        state.app(),
        state.actor(),
        at=instant(at),
        point=point.strip() if point else None,
        customer=customer.strip() if customer else None,
        live=live,
        personal=personal,
        purpose=purpose,
    )
    if fmt == "json":
        state.json = True
    if fmt == "csv" and not state.json:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
        return
    state.emit(rows, table(rows, COLUMNS))

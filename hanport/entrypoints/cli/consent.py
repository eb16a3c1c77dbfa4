"""``hanport consent``: the consent register, from the history."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

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
    from hanport.service.reads import consent_register_json, consent_register_rows

    live = None if which is None else which == "live"
    wanted = {
        "at": instant(at),
        "point": point.strip() if point else None,
        "customer": customer.strip() if customer else None,
        "live": live,
    }
    if (fmt == "json" or state.json) and not personal:
        _json_texts(consent_register_json(state.app(), state.actor(), **wanted))
        return
    rows = consent_register_rows(
        state.app(), state.actor(), **wanted, personal=personal, purpose=purpose
    )
    if fmt == "json" or state.json:
        _json(rows)
    elif fmt == "csv":
        _csv(rows)
    else:
        click.echo(table(list(rows), COLUMNS))


T = TypeVar("T")
CHUNK = 2_000  # rows written at a time: the register can hold hundreds of thousands


def _json(rows: Iterator[dict[str, Any]]) -> None:
    encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
    _json_texts(encode(r) for r in rows)


def _json_texts(objects: Iterator[str]) -> None:
    """A JSON array, one consent a line, written as the rows come."""
    first = True
    for chunk in _chunks(objects):
        click.echo(("[\n  " if first else ",\n  ") + ",\n  ".join(chunk), nl=False)
        first = False
    click.echo("[]" if first else "\n]")


def _csv(rows: Iterator[dict[str, Any]]) -> None:
    first = True
    for chunk in _chunks(rows):
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(chunk[0]), delimiter=";")
        if first:
            writer.writeheader()
            first = False
        writer.writerows(chunk)
        click.echo(buf.getvalue(), nl=False)
    if first:
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=COLUMNS, delimiter=";").writeheader()
        click.echo(buf.getvalue(), nl=False)


def _chunks(rows: Iterable[T]) -> Iterator[list[T]]:
    chunk: list[T] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

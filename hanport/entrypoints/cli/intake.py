"""``hanport intake``: the customer's web forms — what came in, what became of it, and the ones
that matched nothing, for a caseworker to settle."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state, personal_options, table

COLUMNS = ["intake", "form", "received_at", "status", "case", "customer", "outcome"]
STATUSES = ("new", "done", "merged", "review", "resolved")


@click.group(
    "intake",
    help="Web intakes: list them, show one (the form as typed, logged), resolve one under review.",
)
def group() -> None:
    pass


@group.command(
    "list",
    help="List the web intakes, oldest first: form, when received, status (new, done, merged, "
    "review, resolved), the case it became and why. Default: those under review.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([*STATUSES, "all"]),
    help="Only intakes with this status (repeatable; default review; all: every one).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 10000),
    default=200,
    show_default=True,
    help="At most this many intakes.",
)
@pass_state
def list_cmd(state: CliState, statuses: tuple[str, ...], limit: int) -> None:
    from hanport.service.reads import list_intakes

    chosen = () if "all" in statuses else (statuses or ("review",))
    rows = list_intakes(state.app(), state.actor(), chosen, limit)
    state.emit(rows, table(rows, COLUMNS))


@group.command(
    "show",
    help="Show intake ID: what became of it and, for caseworkers and supervisors, the form as "
    "typed (the read is logged; auditors and privacy with --personal).",
)
@click.argument("intake_id", metavar="ID", type=int)
@personal_options
@pass_state
def show_cmd(state: CliState, intake_id: int, personal: bool, purpose: str | None) -> None:
    from hanport.service.reads import show_intake

    detail = show_intake(state.app(), state.actor(), intake_id, personal=personal, purpose=purpose)
    lines = [f"{k}: {v}" for k, v in detail.items() if k not in ("fields",) and v is not None]
    fields = detail.get("fields")
    if fields:
        lines.append("form as typed:")
        lines += [f"  {k}: {v}" for k, v in fields.items()]
    elif fields is None:
        lines.append("form as typed: (withheld; --personal to read it, logged)")
    state.emit(detail, "\n".join(lines))


@group.command(
    "resolve",
    help="Settle intake ID, under review, with a note saying what was done (and --case, the case "
    "opened for it by hand, if any).",
)
@click.argument("intake_id", metavar="ID", type=int)
@click.option("--note", required=True, help="What was done (kept with the intake; personal).")
@click.option("--case", "case", metavar="REF", help="The case opened for this intake, if any.")
@pass_state
def resolve_cmd(state: CliState, intake_id: int, note: str, case: str | None) -> None:
    from hanport.service import run
    from hanport.service.commands import ResolveIntake

    run(state.app(), state.actor(), ResolveIntake(intake_id, note, case))
    state.emit({"intake": intake_id, "status": "resolved"}, f"intake {intake_id} resolved")

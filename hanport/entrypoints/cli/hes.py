"""``hanport hes``: the commands to the head-end system, and answers recorded by hand."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state, table


@click.group(
    "hes",
    help="HES commands: what is still out, and the vendor's answer to a manual command left by "
    "an ended case (a live case's command is answered with `case advance`).",
)
def group() -> None:
    pass


@group.command("list", help="HES commands still out (pending, sent, answer due), oldest first.")
@click.option("--metering-point", metavar="ID", help="Only this metering point's commands.")
@click.option("--all", "everything", is_flag=True, help="Every command, settled ones too.")
@pass_state
def list_(state: CliState, metering_point: str | None, everything: bool) -> None:
    from hanport.queries.hes import list_commands

    state.actor()  # a user with no role is refused before anything is read
    rows = list_commands(state.app(), metering_point=metering_point, everything=everything)
    human = table(
        rows,
        ["id", "case", "case_state", "metering_point", "action", "status", "attempt", "adapter"],
    )
    waiting = [f"#{r['id']}: waits for {r['waits_for']}" for r in rows if r["waits_for"] != "-"]
    state.emit(rows, "\n".join([human, *waiting]))


@group.command(
    "answer",
    help="Record the vendor's answer to manual command ID whose case has ended (a close left "
    "behind by a cancelled case): OUTCOME is opened or failed for an open, closed or failed for "
    "a close. A failed close is sent again.",
)
@click.argument("command_id", metavar="ID", type=int)
@click.argument("outcome", type=click.Choice(["opened", "closed", "failed"]))
@click.option("--note", metavar="TEXT", help="What the vendor said (kept with a failure).")
@pass_state
def answer_(state: CliState, command_id: int, outcome: str, note: str | None) -> None:
    from hanport.service import run
    from hanport.service.commands import AnswerHes

    r = run(state.app(), state.actor(), AnswerHes(command_id, outcome, note))
    state.emit(
        r,
        f"HES command {r['id']} ({r['action']}, {r['case']}): {r['outcome']} recorded; "
        f"command {r['status']}; metering point {r['metering_point']} port {r['port']}",
    )

"""``hanport scheduler``: the service."""

from __future__ import annotations

import logging

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.command(
    "scheduler",
    help="Run the scheduler service: tick every minute, the nightly batch slot; stops on SIGTERM/SIGINT.",
)
@click.option(
    "--tick-seconds", type=float, default=60.0, show_default=True, help="Seconds between ticks."
)
@pass_state
def group(state: CliState, tick_seconds: float) -> None:
    from hanport.entrypoints.scheduler import run
    from hanport.service.roles import require_writer

    require_writer(state.actor())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ticks = run(state.app(), tick_seconds=tick_seconds)
    state.emit({"ticks": ticks}, f"scheduler stopped after {ticks} ticks")

"""``hanport demo``: the end-to-end story on a fresh SQLite file."""

from __future__ import annotations

from pathlib import Path

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.command(
    "demo", help="Run the end-to-end demo on a fresh SQLite database and print its story."
)
@click.option(
    "--now",
    metavar="ISO",
    help="Start time of the demo's simulated clock.",
    default="2026-03-02T09:00:00+01:00",
    show_default=True,
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for the demo database (recreated).",
)
@pass_state
def group(state: CliState, now: str, folder: Path) -> None:
    from hanport.demo.story import run

    ok = run(folder, now, as_json=state.json)
    if not ok:
        click.get_current_context().exit(1)

"""``hanport workflow``: the workflow definitions."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.group("workflow", help="Show workflow definitions (states, triggers, timers, notices).")
def group() -> None:
    pass


@group.command(
    "show", help="Render workflow W (nore-open, meter-swap, close-port) as text or Mermaid."
)
@click.argument("w")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--version", "version", type=int, help="A specific workflow version (default: newest)."
)
@pass_state
def show(state: CliState, w: str, fmt: str, version: int | None) -> None:
    from hanport import workflows
    from hanport.errors import NotFound
    from hanport.workflows import render

    try:
        wf = workflows.get(w, version)
    except KeyError:
        raise NotFound(f"no workflow {w!r}" + (f" version {version}" if version else "")) from None
    out = render.mermaid(wf) if fmt == "mermaid" else render.text(wf)
    state.emit(
        {"workflow": wf.name, "version": wf.version, "format": fmt, "definition": out}, out.rstrip()
    )


def _register() -> None:
    from hanport.entrypoints.cli.migrate import migrate

    group.add_command(migrate)


_register()

"""``hanport workflow``: the workflow definitions."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state, table


@click.group(
    "workflow",
    help="Show workflow definitions (states, triggers, timers, notices), their versions and "
    "what changed between them; migrate live cases between versions.",
)
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


@group.command(
    "versions",
    help="List the versions of workflow W (or of every workflow): the one new cases start on, "
    "whether each is released (its definition fixed by a recorded fingerprint), the notices "
    "it sends, and its live and ended cases.",
)
@click.argument("w", required=False)
@pass_state
def versions(state: CliState, w: str | None) -> None:
    from hanport.queries.versions import versions as listing

    rows = listing(state.app(), w)
    shown = [
        {
            **r,
            "version": f"v{r['version']}",
            "new_cases": "yes" if r["new_cases"] else "",
            "released": "yes" if r["released"] else "NO",
            "fingerprint": r["fingerprint"][:12],
        }
        for r in rows
    ]
    cols = ["workflow", "version", "new_cases", "released", "live_cases", "ended_cases"]
    state.emit(rows, table(shown, [*cols, "fingerprint"]))


@group.command(
    "diff",
    help="What changed from version A to version B of workflow W: states, triggers (guards, "
    "sources, destinations), timers and notices added, removed or changed; as text, or as a "
    "Mermaid diagram of B marking them.",
)
@click.argument("w")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "mermaid"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@pass_state
def diff_cmd(state: CliState, w: str, a: int, b: int, fmt: str) -> None:
    from hanport import workflows
    from hanport.errors import NotFound
    from hanport.workflows import diff, render

    have = workflows.versions_of(w)
    if not have:
        raise NotFound(f"no workflow {w!r}")
    for v in (a, b):
        if v not in have:
            known = ", ".join(f"v{x}" for x in have)
            raise NotFound(f"workflow {w!r} has no version {v} (versions: {known})")
    old, new = workflows.get(w, a), workflows.get(w, b)
    d = diff.diff(old, new)
    out = render.mermaid_diff(old, new, d) if fmt == "mermaid" else diff.text(d)
    state.emit({**d.as_dict(), "format": fmt, "rendered": out}, out.rstrip())


def _register() -> None:
    from hanport.entrypoints.cli.migrate import migrate

    group.add_command(migrate)


_register()

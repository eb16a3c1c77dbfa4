"""The CLI reference and the workflow reference, generated from the commands' own help and the
workflow definitions. ``python -m hanport.entrypoints.cli.reference`` rewrites docs/cli.md and
docs/workflows.md; a test fails when they are out of date."""

from __future__ import annotations

import sys
from pathlib import Path

import click

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            out += _walk(cmd.commands[name], [*path, name])
    return out


def cli_markdown() -> str:
    from hanport.entrypoints.cli.main import EXIT_CODES, cli

    lines = [
        "# hanport CLI reference",
        "",
        "Generated from the commands' own help by `python -m hanport.entrypoints.cli.reference`; do not edit.",
        "",
        EXIT_CODES.replace("\n", " "),
        "",
    ]
    for path, cmd in _walk(cli, ["hanport"]):
        ctx = click.Context(cmd, info_name=" ".join(path))
        usage = cmd.get_usage(ctx).replace("Usage: ", "")
        lines += [
            f"## `{' '.join(path)}`",
            "",
            (cmd.help or "").strip(),
            "",
            "```",
            usage,
            "```",
            "",
        ]
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            lines += ["| option | help |", "|---|---|"]
            for p in params:
                if isinstance(p, click.Option):
                    names = ", ".join(f"`{o}`" for o in p.opts)
                    extra = (
                        f" (default: {p.default})"
                        if p.show_default and p.default not in (None, False)
                        else ""
                    )
                    lines.append(f"| {names} | {(p.help or '').strip()}{extra} |")
                else:
                    lines.append(f"| `{(p.metavar or (p.name or '').upper())}` | argument |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def workflows_markdown() -> str:
    from hanport import workflows
    from hanport.workflows import render

    lines = [
        "# Workflows",
        "",
        "Generated from the definitions in `workflows/` by `python -m hanport.entrypoints.cli.reference`; do not edit "
        "(the section on versions comes from `docs/workflow-versions.md`).",
        "",
        (DOCS / "workflow-versions.md").read_text(encoding="utf-8").rstrip(),
        "",
    ]
    for (name, version), wf in sorted(workflows.WORKFLOWS.items()):
        lines += [
            f"## {name} v{version}",
            "",
            wf.title,
            "",
            "```mermaid",
            render.mermaid(wf).rstrip(),
            "```",
            "",
            "```",
            render.text(wf).rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


FILES = {"cli.md": cli_markdown, "workflows.md": workflows_markdown}


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    for name, make in FILES.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/{name}", file=sys.stderr)


if __name__ == "__main__":
    main()

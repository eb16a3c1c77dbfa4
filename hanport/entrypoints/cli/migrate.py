"""``hanport workflow migrate``: move live cases to another version of their workflow."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state, table
from hanport.errors import EXIT_REJECTED_ROWS, UsageError


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UsageError(f"--map {pair!r}: give OLD=NEW (state names)")
        out[old.strip()] = new.strip()
    return out


@click.command(
    "migrate",
    help="Move the live cases of workflow W from version --from to --to (all, or --case …), "
    "each in its own transaction: states of the same name map by default, --map OLD=NEW "
    "for others; a case whose state has no mapping is refused and listed (exit 6). "
    "Supervisors only. --dry-run says what would happen; --apply does it (a rerun after an "
    "interruption finishes the rest).",
)
@click.argument("w")
@click.option("--from", "from_version", type=int, required=True, help="The version cases are on.")
@click.option("--to", "to_version", type=int, required=True, help="The version to move them to.")
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW", help="Map state OLD to NEW.")
@click.option("--case", "cases", multiple=True, metavar="REF", help="Only these cases.")
@click.option("--all", "every", is_flag=True, help="Every live case on --from.")
@click.option("--dry-run", is_flag=True, help="Change nothing; list what --apply would do.")
@click.option("--apply", "apply_", is_flag=True, help="Migrate.")
@pass_state
def migrate(
    state: CliState,
    w: str,
    from_version: int,
    to_version: int,
    maps: tuple[str, ...],
    cases: tuple[str, ...],
    every: bool,
    dry_run: bool,
    apply_: bool,
) -> None:
    from hanport.service import run
    from hanport.service.commands import MigrateCases

    if dry_run == apply_:
        raise UsageError("give exactly one of --dry-run and --apply")
    if bool(cases) == every:
        raise UsageError("give --all or --case REF (one or more), not both")
    app, actor = state.app(), state.actor()
    command = MigrateCases(w, from_version, to_version, _mapping(maps), cases, apply_)
    report = run(app, actor, command)
    data = report.as_dict()
    head = "DRY RUN — nothing was changed\n" if dry_run else ""
    rows = [
        {
            "case": m["case"],
            "change": f"{m['state_from']} → {m['state_to']}",
            "timers": _timers(m),
        }
        for m in report.migrated
    ]
    verb = "would move" if dry_run else "moved"
    human = (
        f"{head}{report.workflow} v{report.from_version} → v{report.to_version}: {verb} "
        f"{len(report.migrated)} cases, {len(report.refused)} refused"
        + (f", {len(report.already)} already on v{report.to_version}" if report.already else "")
    )
    if rows:
        human += "\n\n" + table(rows, ["case", "change", "timers"])
    if report.refused:
        human += "\n\nRefused:\n" + table(report.refused, ["case", "reason"])
    state.emit(data, human)
    if report.refused:
        for r in report.refused:
            click.echo(f"hanport: {r['case']}: {r['reason']}", err=True)
        click.get_current_context().exit(EXIT_REJECTED_ROWS)


def _timers(m: dict) -> str:
    parts = [f"kept {', '.join(m['timers_kept'])}"] if m["timers_kept"] else []
    if m["timers_cancelled"]:
        parts.append(f"cancelled {', '.join(m['timers_cancelled'])}")
    parts += [f"started {t['name']} (due {t['due_at'][:16]})" for t in m["timers_started"]]
    return "; ".join(parts) or "-"

"""``hanport tick``: one pass of the scheduler's work."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.command(
    "tick",
    help="Fire due timers, dispatch HES commands, apply acknowledgements, send mail — once.",
)
@click.option(
    "--now", metavar="ISO", help="Move the simulated clock to ISO first (simulated databases only)."
)
@pass_state
def group(state: CliState, now: str | None) -> None:
    from hanport.bootstrap import save_clock
    from hanport.entrypoints.tick import tick
    from hanport.service.roles import require_writer

    app = state.app(now=now)
    require_writer(state.actor())  # a tick changes cases: not for auditors
    report = tick(app)
    save_clock(app)
    human = (
        f"tick at {app.clock.now().isoformat()}: {report.timers_fired} timers fired"
        f" ({report.timers_skipped} skipped), {report.hes_dispatched} HES commands sent,"
        f" {report.hes_acknowledged} acknowledged, {report.hes_failed} failed;"
        f" mail: {report.mail_sent} sent, {report.mail_retrying} to retry, {report.mail_dead} dead"
    )
    if report.details:
        human += "\n" + "\n".join(f"  {d}" for d in report.details)
    state.emit(report.as_dict(), human)

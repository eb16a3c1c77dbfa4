"""``hanport mail``: the outbox."""

from __future__ import annotations

from datetime import datetime

import click

from hanport.entrypoints.cli.context import CliState, pass_state, personal_options, table

STATUSES = click.Choice(["pending", "sending", "sent", "dead", "no_address"])


@click.group("mail", help="The mail outbox: list, show, send now, retry a dead mail.")
def group() -> None:
    pass


@group.command("list", help="List notices in the outbox, oldest first.")
@click.option("--status", type=STATUSES, help="Only mail with this status.")
@pass_state
def list_(state: CliState, status: str | None) -> None:
    from hanport.service.reads import list_mail

    reader = state.actor()
    rows = list_mail(state.app(), reader, status)
    state.emit(
        rows,
        table(rows, ["id", "case", "template", "language", "status", "attempts", "created_at"]),
    )


@group.command("show", help="Show mail ID as rendered: headers, subject, text, status and errors.")
@click.argument("mail_id", metavar="ID", type=int)
@personal_options
@pass_state
def show(state: CliState, mail_id: int, personal: bool, purpose: str | None) -> None:
    from hanport.service.reads import show_mail

    reader = state.actor()
    m = show_mail(state.app(), reader, mail_id, personal=personal, purpose=purpose)
    head = [
        f"Mail {m['id']}  case {m['case']}  {m['template']} ({m['language']})  {m['status']}",
        f"Message-ID: {m['message_id']}",
        f"Subject: {m['subject']}",
    ]
    when = f"Attempts: {m['attempts']}  next: {m['next_attempt_at']}  sent: {m['sent_at'] or '-'}"
    if not m["personal"]:
        body = [when, "To and text withheld: --personal shows them (the read is logged)"]
    else:
        body = [
            f"To: {m['recipient'] or '(no address)'}",
            when,
            *([f"Last error: {m['last_error']}"] if m["last_error"] else []),
            "",
            m["text"] or "",
        ]
    state.emit(m, "\n".join(head + body))


@group.command("send", help="Deliver every due mail now (SMTP if configured, else the Maildir).")
@pass_state
def send(state: CliState) -> None:
    from hanport.service import run
    from hanport.service.commands import DeliverMail
    from hanport.service.mail import maildir
    from hanport.service.roles import require_writer

    app, actor = state.app(), state.actor()
    require_writer(actor)
    report = run(app, actor, DeliverMail())
    where = (
        f"SMTP {app.settings.smtp.host}" if app.settings.smtp.host else f"Maildir {maildir(app)}"
    )
    human = f"{report.sent} sent, {report.retrying} to retry, {report.dead} dead ({where})"
    if report.details:
        human += "\n" + "\n".join(f"  {d}" for d in report.details)
    state.emit(report.as_dict(), human)


@group.command(
    "retry",
    help="Put mail ID (dead or waiting) back in line for the next delivery; with --all, every "
    "mail waiting out a backoff and every dead one (after an SMTP outage), then `mail send`.",
)
@click.argument("mail_id", metavar="ID", type=int, required=False)
@click.option("--all", "all_", is_flag=True, help="Every waiting or dead mail, not one ID.")
@click.option(
    "--status",
    type=click.Choice(["pending", "dead"]),
    help="With --all: only waiting (pending) or only dead mail.",
)
@click.option(
    "--since",
    metavar="T",
    help="With --all: only mail created at or after T (ISO 8601, e.g. 2026-03-02T08:00).",
)
@pass_state
def retry(
    state: CliState, mail_id: int | None, all_: bool, status: str | None, since: str | None
) -> None:
    from hanport.service import run
    from hanport.service.commands import RetryMail, RetryWaitingMail

    if (mail_id is None) == (not all_ and status is None and since is None):
        raise click.UsageError("give either one mail ID or --all (with --status/--since)")
    if mail_id is not None:
        r = run(state.app(), state.actor(), RetryMail(mail_id))
        state.emit(r, f"mail {mail_id}: pending")
        return
    when = _instant("--since", since) if since else None
    r = run(state.app(), state.actor(), RetryWaitingMail(status, when))
    state.emit(r, f"{r['retried']} mail due now; `hanport mail send` delivers them")


def _instant(option: str, value: str) -> datetime:
    from hanport.calendar import InvalidInstant, parse_instant
    from hanport.errors import Refused

    try:
        return parse_instant(value)
    except InvalidInstant as exc:
        raise Refused(f"{option}: {exc}", field=option.lstrip("-")) from None

"""``hanport report``: the regulator's three working days and the managers' view, from the
case histories."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hanport.entrypoints.cli.context import CliState, check_out, pass_state, table, write_out

if TYPE_CHECKING:
    from hanport.queries.reports.build import Report

SLA_COLUMNS = [
    "area",
    "month",
    "requests",
    "ports_opened",
    "notices",
    "median_working_days",
    "p90_working_days",
    "within_3",
    "share_within_3",
    "late",
    "overdue",
    "waiting",
    "ended_unopened",
    "breaches_ours",
    "breaches_customer",
    "breach_cases",
]
BREACH_COLUMNS = [
    "case",
    "area",
    "notice_at",
    "deadline",
    "opened_at",
    "working_days",
    "status",
    "whose",
    "grid_hours",
    "customer_hours_after_notice",
]
QUEUE_COLUMNS = [
    "area",
    "waiting",
    "median_wait_days",
    "oldest_wait_days",
    "installed_in_period",
    "installed_per_week_recent",
    "estimated_wait_weeks",
]
CLOSE_COLUMNS = [
    "area",
    "kind",
    "cases",
    "closed",
    "rejected",
    "cancelled",
    "in_progress",
    "hours_to_close_median",
    "hours_to_close_max",
    "hours_to_mail_median",
    "hours_effective_to_closed_median",
]
UNCONSENTED_COLUMNS = ["area", "case", "opened_by", "since", "until", "hours", "still_open"]


@click.group("report", help="Reports from the case histories: the three-working-day SLA.")
def group() -> None:
    pass


def day(value: str, option: str) -> date:
    """A ``--from``/``--to`` date (YYYY-MM-DD, an Oslo calendar date)."""
    from hanport.errors import Refused

    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(
            f"{option} {value!r}: not a date (expected YYYY-MM-DD, e.g. 2026-03-01); nothing read",
            field=option.lstrip("-"),
        ) from None


@group.command(
    "sla",
    help="The regulator's three working days per area and month — requests, ports opened, "
    "median and 90th percentile working days from the customer's notice to the open port, the "
    "share within 3 working days, breaches with their cases and whose clock ran out — with the "
    "swap queue, closes, ports open without a live consent and operations; computed from the "
    "case histories as they stood at --as-of (default now), with the definitions stated. For "
    "supervisors and auditors; no personal data. CSV holds the per-area-and-month table; JSON "
    "and HTML hold everything. Exit 4 for a bad date or period, 3 for an unknown area.",
)
@click.option("--from", "start", required=True, metavar="DATE", help="First day (Oslo date).")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day, inclusive.")
@click.option(
    "--area", metavar="AREA", help="Only this area (its name, or one of its municipality numbers)."
)
@click.option(
    "--as-of",
    "as_of",
    metavar="ISO",
    help="Leave out everything recorded after this moment (no offset: Oslo time).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--out",
    "--output",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of stdout.",
)
@pass_state
def sla(
    state: CliState,
    start: str,
    end: str,
    area: str | None,
    as_of: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    from hanport.entrypoints.cli.audit import instant
    from hanport.service.reads import sla_report

    period = day(start, "--from"), day(end, "--to")
    moment = instant(as_of)
    check_out(out)
    report = sla_report(state.app(), state.actor(), *period, area=area, as_of=moment)
    if state.json and fmt == "table":
        fmt = "json"
    text = render(report, fmt)
    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    write_out(out, text)
    click.echo(f"report {report.period_from}..{report.period_to} written to {out}", err=True)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        return sla_csv(report.sla)
    if fmt == "html":
        from hanport.queries.reports.html import to_html

        return to_html(report)
    return text(report)


def sla_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SLA_COLUMNS, delimiter=";", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "breach_cases": " ".join(r["breach_cases"])})
    return buf.getvalue()


def text(report: Report) -> str:
    """Every table of the report, one section after the other, then the definitions."""
    from hanport.queries.reports.operations import OPS

    head = (
        f"SLA report {report.period_from}..{report.period_to}"
        f" · area {report.area or 'all'} · as of {report.as_of.isoformat()}"
        f" · {report.cases} cases, {report.events} events read"
    )
    sla_rows = [{**r, "breach_cases": " ".join(r["breach_cases"])} for r in report.sla]
    sections = [
        ("Per area and month", table(sla_rows, SLA_COLUMNS)),
        ("Breaches", table(report.breaches, BREACH_COLUMNS)),
        ("Swap queue", table(report.queue, QUEUE_COLUMNS)),
        ("Closes", table(report.closes, CLOSE_COLUMNS)),
        ("Ports open without a live consent", table(report.unconsented, UNCONSENTED_COLUMNS)),
        ("Operations", table(report.operations, ["area", "vendor", *OPS])),
    ]
    parts = [head] + [f"\n{title}\n{body}" for title, body in sections]
    from hanport.queries.reports.definitions import DEFINITIONS

    parts.append("\nDefinitions\n" + "\n".join(f"- {k}: {v}" for k, v in DEFINITIONS))
    return "\n".join(parts)

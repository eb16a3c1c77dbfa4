"""The SLA report as one HTML page a manager opens (``templates/reports/sla.html.j2``): the
tables, the definitions, and the charts as inline SVG; inline CSS, no script, no external URL —
it opens offline and can be mailed as it is. Instants are shown in Europe/Oslo with their
offset."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from hanport.calendar import format_local_offset
from hanport.queries.reports import charts
from hanport.queries.reports.build import Report
from hanport.queries.reports.definitions import DEFINITIONS
from hanport.queries.reports.sla import ALL
from hanport.templates import environment


def oslo(value: str | datetime | None) -> str:
    if value is None or value == "":
        return "–"
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return format_local_offset(dt)


def share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def num(value: Any) -> str:
    """A figure in a cell: a dash for none, whole numbers without decimals."""
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() else f"{value:.1f}"
    return str(value)


@cache
def _env() -> Environment:
    env = environment("reports", autoescape=True)
    env.filters.update(oslo=oslo, share=share, num=num)
    return env


def _svg(text: str | None) -> Markup | None:
    return None if text is None else Markup(text)  # drawn by matplotlib from our figures


def _total(report: Report) -> dict[str, Any] | None:
    return next((r for r in report.sla if r["area"] == ALL and r["month"] == ALL), None)


def to_html(report: Report) -> str:
    """The whole report as one self-contained page."""
    return (
        _env()
        .get_template("sla.html.j2")
        .render(
            r=report,
            total=_total(report),
            months=[x for x in report.sla if x["month"] != ALL],
            areas=[x for x in report.sla if x["month"] == ALL],
            definitions=DEFINITIONS,
            weekly_svg=_svg(
                charts.weekly_share(report.weekly, report.period_from, report.period_to)
            ),
            distribution_svg=_svg(charts.distribution(report.distribution)),
            queue_svg=_svg(charts.queue_over_time(report.queue_over_time)),
        )
    )

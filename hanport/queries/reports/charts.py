"""The report's charts as inline SVG, drawn by matplotlib (its SVG backend, no display, no
pyplot state): the weekly share within three working days, the distribution of working days to
open, and the swap queue over time. Text is drawn as paths, so the page needs no font; ids are
prefixed per chart, so several charts can share one page; no date is written into the file, so
the same report gives the same bytes."""

from __future__ import annotations

import io
import re
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from math import nan
from typing import Any

from matplotlib.figure import Figure

from hanport.calendar import OSLO
from hanport.queries.reports.days import SLA_WORKING_DAYS

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
BLUE, GREEN, RED = "#1d4ed8", "#0b6e4f", "#b91c1c"
AREA_COLOURS = ("#1d4ed8", "#b45309", "#0b6e4f", "#7c3aed", "#be185d", "#0e7490")
_RC = {
    "svg.fonttype": "path",
    "svg.hashsalt": "hanport-report",
    "font.family": "DejaVu Sans",
    "font.size": 9,
}


def _style() -> AbstractContextManager[None]:
    """matplotlib's settings for the report's charts, for one drawing."""
    import matplotlib

    return matplotlib.rc_context(_RC)  # type: ignore[arg-type]  # its keys are typed literals


_ID = re.compile(r'(id="|url\(#|href="#)')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(7.2, 2.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(MUTED)
    ax.tick_params(colors=INK, labelsize=8)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element to put in a page: no XML prolog, ids prefixed."""
    buf = io.StringIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = _METADATA.sub("", text[text.index("<svg") :])
    return _ID.sub(lambda m: f"{m.group(1)}{name}-", text)


def iso_weeks(start: date, end: date) -> list[str]:
    """Every ISO week (``2026-W14``) that has a day in ``start``..``end``."""
    monday = start - timedelta(days=start.weekday())
    out = []
    while monday <= end:
        y, w, _ = monday.isocalendar()
        out.append(f"{y}-W{w:02d}")
        monday += timedelta(days=7)
    return out


def weekly_share(weeks: list[dict[str, Any]], start: date, end: date) -> str | None:
    """The share of decided cases open within three working days, per week of the notice;
    every week of the period has its place, a week without decided cases a gap."""
    if not weeks:
        return None
    by_week = {w["week"]: w for w in weeks}
    labels = iso_weeks(start, end)
    labels += sorted(set(by_week) - set(labels))  # none, unless the period's ends moved
    with _style():
        fig, ax = _figure()
        xs = range(len(labels))
        shares = [100 * by_week[w]["share_within_3"] if w in by_week else nan for w in labels]
        ax.plot(xs, shares, color=BLUE, marker="o", markersize=3.5, linewidth=1.6)
        for x, label, value in zip(xs, labels, shares, strict=True):
            if label in by_week:
                ax.annotate(
                    str(by_week[label]["decided"]),
                    (x, value),
                    textcoords="offset points",
                    xytext=(0, 5),
                    ha="center",
                    fontsize=6.5,
                    color=MUTED,
                )
        ax.set_ylim(0, 109)
        ax.set_yticks([0, 25, 50, 75, 100], ["0 %", "25 %", "50 %", "75 %", "100 %"])
        _week_ticks(ax, labels)
        ax.set_ylabel("within 3 working days", color=INK)
    return _svg(fig, "weekly")


def _week_ticks(ax: Any, labels: list[str]) -> None:
    """At most nine week labels, ``w14``; the year on the first and where it changes."""
    step = max(1, -(-len(labels) // 9))
    shown = list(range(0, len(labels), step))
    texts, year = [], ""
    for i in shown:
        y, w = labels[i].split("-W")
        texts.append(f"w{int(w)}" if y == year else f"{y} w{int(w)}")
        year = y
    ax.set_xticks(shown, texts, fontsize=7.5)
    ax.set_xlim(-0.5, len(labels) - 0.5)


def distribution(rows: list[dict[str, Any]]) -> str | None:
    """How many ports opened after 0, 1, 2, … working days; the bars past the limit in red."""
    if not rows:
        return None
    with _style():
        fig, ax = _figure()
        days = [r["working_days"] for r in rows]
        counts = [r["cases"] for r in rows]
        colours = [GREEN if d <= SLA_WORKING_DAYS else RED for d in days]
        ax.bar(days, counts, color=colours, width=0.7)
        ax.axvline(SLA_WORKING_DAYS + 0.5, color=MUTED, linestyle="--", linewidth=1)
        ax.annotate(
            "limit: 3 working days",
            (SLA_WORKING_DAYS + 0.5, max(counts)),
            xytext=(4, -2),
            textcoords="offset points",
            fontsize=7,
            color=MUTED,
            va="top",
        )
        ax.set_xticks(range(0, max(days) + 1))
        ax.set_xlim(-0.6, max(max(days), SLA_WORKING_DAYS + 1) + 0.6)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("working days from the notice to the open port", color=INK)
        ax.set_ylabel("ports opened", color=INK)
    return _svg(fig, "distribution")


def queue_over_time(points: list[dict[str, Any]]) -> str | None:
    """The number of meter-swap cases waiting, per area, at the end of each week."""
    if not points:
        return None
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    by_area: dict[str, list[tuple[datetime, int]]] = {}
    for p in points:
        at = datetime.fromisoformat(p["at"]).astimezone(OSLO).replace(tzinfo=None)
        by_area.setdefault(p["area"], []).append((at, p["waiting"]))
    with _style():
        fig, ax = _figure()
        for i, (area, series) in enumerate(sorted(by_area.items())):
            xs, ys = zip(*series, strict=True)
            colour = AREA_COLOURS[i % len(AREA_COLOURS)]
            ax.step(xs, ys, where="post", color=colour, linewidth=1.6, label=area)
        locator = AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        top = max(p["waiting"] for p in points)
        ax.set_ylim(0, top * 1.3 + 0.6)  # room above for the legend
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel("waiting for a swap", color=INK)
        ax.legend(frameon=False, fontsize=8, loc="upper left", ncols=len(by_area))
    return _svg(fig, "queue")

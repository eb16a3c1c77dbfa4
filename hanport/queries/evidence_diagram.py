"""The evidence's state diagram: the workflow's states on a grid, its transitions routed through
the gaps between the boxes (never across a box), the case's path drawn over the edges it really
took, each labelled with its events' numbers and triggers.

Layout: a state's row is its distance from the initial state (``cancel`` and ``clear_flag``,
which lead from everywhere, left out); within a row, states sit on whole columns near their
predecessors. An edge to the next row runs down, across the gap below its source and down
into its target; any other edge runs across the gap below its source, along the channel
between two columns to the gap above its target, and across into it. ``cancel`` and
``clear_flag`` edges are drawn only when the case took them; so are self-loops.
"""

from __future__ import annotations

import html
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hanport.workflows.definition import Workflow

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 150, 34, 64, 78, 28
LANE, LANES = 9, 6  # distance between parallel lines in a gap or channel; lanes per gap
FROM_EVERYWHERE = ("cancel", "clear_flag")
HOT, COLD = "#b45309", "#9aa5b1"


@dataclass
class Edge:
    source: str
    dest: str
    label: str
    taken: bool
    points: list[tuple[int, int]] = field(default_factory=list)
    label_at: tuple[int, int, str] = (0, 0, "start")


def _rows(wf: Workflow) -> dict[str, int]:
    """Each state's distance from the initial one; states reached only from everywhere go last."""
    nxt: dict[str, set[str]] = defaultdict(set)
    for t in wf.transitions:
        if t.dest and t.trigger not in FROM_EVERYWHERE:
            nxt.update({s: nxt[s] | {t.dest} for s in t.source if s != t.dest})
    row, queue = {wf.initial: 0}, [wf.initial]
    while queue:
        s = queue.pop(0)
        for d in sorted(nxt[s]):
            if d not in row:
                row[d] = row[s] + 1
                queue.append(d)
    last = max(row.values()) + 1
    return {st.name: row.get(st.name, last) for st in wf.states}


def _columns(wf: Workflow, rows: dict[str, int], width: int) -> dict[str, int]:
    """Each state's column: rows in order, each state near the mean column of its
    predecessors already placed, order kept, no two in one place."""
    preds: dict[str, set[str]] = defaultdict(set)
    for t in wf.transitions:
        for s in t.source:
            if t.dest and s != t.dest and t.trigger not in FROM_EVERYWHERE:
                preds[t.dest].add(s)
    col: dict[str, int] = {}
    order = [st.name for st in wf.states]
    for r in sorted(set(rows.values())):
        names = [n for n in order if rows[n] == r]
        placed = [col[p] for n in names for p in preds[n] if p in col]
        centre = (width - 1) / 2 if not placed else sum(placed) / len(placed)

        want = {}
        for n in names:
            ps = [col[p] for p in preds[n] if p in col]
            want[n] = sum(ps) / len(ps) if ps else centre
        names.sort(key=lambda n: (want[n], order.index(n)))
        cols: list[int] = []
        for i, n in enumerate(names):
            c = max(round(want[n] - 0.01), cols[-1] + 1 if cols else 0)
            cols.append(min(c, width - len(names) + i))
        for i in range(len(cols) - 2, -1, -1):
            cols[i] = min(cols[i], cols[i + 1] - 1)
        col.update(zip(names, (max(c, 0) for c in cols), strict=True))
    return col


def _edges(wf: Workflow, path: list[dict[str, Any]]) -> list[Edge]:
    """The edges to draw: the workflow's (from-everywhere ones and loops only when taken) and
    every step the case took, labelled with its events' numbers and triggers."""
    steps: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
    for p in path:
        steps[(p["from"], p["to"])].setdefault(p["trigger"], []).append(str(p["seq"]))
    taken = {
        pair: [f"{', '.join(seqs)} {trig}" for trig, seqs in by.items()]
        for pair, by in steps.items()
    }
    triggers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for t in wf.transitions:
        for s in t.source:
            pair = (s, t.dest or s)
            if (s == pair[1] or t.trigger in FROM_EVERYWHERE) and pair not in taken:
                continue
            if t.trigger not in triggers[pair]:
                triggers[pair].append(t.trigger)
    for pair in taken:
        triggers.setdefault(pair, [])
    return [
        Edge(
            s,
            d,
            ", ".join(taken[(s, d)]) if (s, d) in taken else " / ".join(trigs),
            (s, d) in taken,
        )
        for (s, d), trigs in triggers.items()
    ]


class _Grid:
    """Box positions and the lanes of the gaps and channels between them."""

    def __init__(self, rows: dict[str, int], cols: dict[str, int]) -> None:
        self.rows, self.cols = rows, cols
        self.used: dict[tuple[str, int], int] = defaultdict(int)

    def left(self, c: int) -> int:
        return MARGIN + c * (BOX_W + GAP_X)

    def top(self, r: int) -> int:
        return MARGIN + r * (BOX_H + GAP_Y)

    def gap(self, r: int) -> int:
        """A free lane in the gap below row ``r`` (row -1: above the first)."""
        k = self.used[("gap", r)] % LANES
        self.used[("gap", r)] += 1
        return self.top(r) + BOX_H + 14 + k * LANE

    def channel(self, c: int) -> int:
        """A free lane in the channel left of column ``c``."""
        k = self.used[("ch", c)] % LANES
        self.used[("ch", c)] += 1
        return self.left(c) - GAP_X + 8 + k * LANE


def _route(grid: _Grid, edges: list[Edge]) -> None:
    """Each edge's points: leaving its source's bottom, entering its target's top."""
    outs: dict[str, list[Edge]] = defaultdict(list)
    ins: dict[str, list[Edge]] = defaultdict(list)
    for e in edges:
        if e.source != e.dest:
            outs[e.source].append(e)
            ins[e.dest].append(e)
    port: dict[tuple[int, str], int] = {}
    for name, group in [*outs.items(), *ins.items()]:
        incoming = group is ins.get(name)
        far = (lambda e: grid.cols[e.source]) if incoming else (lambda e: grid.cols[e.dest])
        group.sort(key=lambda e: (far(e), e.label))
        for i, e in enumerate(group):
            port[(id(e), "in" if incoming else "out")] = grid.left(grid.cols[name]) + BOX_W * (
                i + 1
            ) // (len(group) + 1)
    for e in sorted(edges, key=lambda e: (e.taken, e.label)):
        e.points = _points(grid, e, port)


def _points(grid: _Grid, e: Edge, port: dict[tuple[int, str], int]) -> list[tuple[int, int]]:
    rs, cs, rd, cd = grid.rows[e.source], grid.cols[e.source], grid.rows[e.dest], grid.cols[e.dest]
    if e.source == e.dest:  # a loop on the box's right side
        x, y = grid.left(cs) + BOX_W, grid.top(rs)
        return [(x, y + 8), (x + 26, y + 8), (x + 26, y + BOX_H - 8), (x, y + BOX_H - 8)]
    sx, dx = port[(id(e), "out")], port[(id(e), "in")]
    sy, dy = grid.top(rs) + BOX_H, grid.top(rd)
    if rd == rs + 1:
        y = grid.gap(rs)
        return [(sx, sy), (sx, y), (dx, y), (dx, dy)]
    channel = cd if cd > cs else cd + 1
    y1, x, y2 = grid.gap(rs), grid.channel(channel), grid.gap(rd - 1)
    return [(sx, sy), (sx, y1), (x, y1), (x, y2), (dx, y2), (dx, dy)]


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _candidates(e: Edge, size: int) -> list[tuple[int, int, str, Box]]:
    """Places for the edge's label along its runs: above a horizontal run (middle, then
    either end), beside a vertical one (right, then left); each with the box it covers."""
    w = len(e.label) * size * 0.62
    out: list[tuple[int, int, str, Box]] = []
    for a, b in itertools.pairwise(e.points):
        if a[1] == b[1]:
            lo, hi = sorted((a[0], b[0]))
            for x in ((lo + hi) / 2, lo + w / 2 + 4, hi - w / 2 - 4):
                out.append(
                    (int(x), a[1] - 3, "middle", (x - w / 2, a[1] - size - 2, x + w / 2, a[1]))
                )
        else:
            y = (a[1] + b[1]) // 2 + size // 2 - 1
            out.append((a[0] + 5, y, "start", (a[0] + 3, y - size, a[0] + 7 + w, y + 3)))
            out.append((a[0] - 5, y, "end", (a[0] - 7 - w, y - size, a[0] - 3, y + 3)))
    return out


def _place_labels(grid: _Grid, edges: list[Edge]) -> None:
    """Each edge's label where it covers no box and no label placed before it; the path's
    labels first. An edge with no free place keeps its first one."""
    taken: list[Box] = [
        (
            grid.left(grid.cols[n]) - 2,
            grid.top(r) - 2,
            grid.left(grid.cols[n]) + BOX_W + 2,
            grid.top(r) + BOX_H + 2,
        )
        for n, r in grid.rows.items()
    ]
    for e in sorted(edges, key=lambda e: (not e.taken, len(e.points))):
        places = _candidates(e, 11 if e.taken else 9)
        free = [p for p in places if not any(_overlaps(p[3], t) for t in taken)]
        x, y, anchor, box = (free or places)[0]
        e.label_at = (x, y, anchor)
        taken.append(box)


def svg(wf: Workflow, path: list[dict[str, Any]]) -> str:
    """The diagram as inline SVG: states entered highlighted, the path's edges drawn over the
    others, in the colour of the path, each with its label."""
    rows = _rows(wf)
    width = max(sum(1 for r in rows.values() if r == row) for row in set(rows.values()))
    grid = _Grid(rows, _columns(wf, rows, width))
    edges = _edges(wf, path)
    _route(grid, edges)
    _place_labels(grid, edges)
    entered = {p["to"] for p in path} | {p["from"] for p in path}
    w = grid.left(width) + 40
    h = grid.top(max(rows.values()) + 1)
    parts = [
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'role="img" aria-label="state diagram" font-family="Arial, sans-serif">',
        "<defs>" + "".join(_marker(n, c) for n, c in (("a", COLD), ("t", HOT))) + "</defs>",
    ]
    on_top = sorted(edges, key=lambda e: e.taken)  # the path over the rest
    parts += [_edge(e) for e in on_top]
    parts += [_box(grid, st.name, st.final, st.name in entered) for st in wf.states]
    parts += [_label(e) for e in on_top]
    parts.append("</svg>")
    return "".join(parts)


def _marker(name: str, colour: str) -> str:
    return (
        f'<marker id="{name}" markerWidth="10" markerHeight="10" refX="9" refY="5" orient="auto" '
        f'markerUnits="userSpaceOnUse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _edge(e: Edge) -> str:
    d = "M" + " L".join(f"{x},{y}" for x, y in e.points)
    colour, width, marker = (HOT, 3, "t") if e.taken else (COLD, 1, "a")
    kind = "taken" if e.taken else "possible"
    return (
        f'<path class="edge {kind}" data-from="{e.source}" data-to="{e.dest}" d="{d}" '
        f'fill="none" stroke="{colour}" stroke-width="{width}" marker-end="url(#{marker})"/>'
    )


def _label(e: Edge) -> str:
    x, y, anchor = e.label_at
    style = ' font-size="11" font-weight="bold"' if e.taken else ' font-size="9"'
    kind = "taken" if e.taken else "possible"
    return (
        f'<text class="label {kind}" data-from="{e.source}" data-to="{e.dest}" x="{x}" y="{y}" '
        f'text-anchor="{anchor}"{style} fill="{HOT if e.taken else "#7b8794"}" stroke="#fff" '
        f'stroke-width="3" paint-order="stroke">{html.escape(e.label)}</text>'
    )


def _box(grid: _Grid, name: str, final: bool, on: bool) -> str:
    x, y = grid.left(grid.cols[name]), grid.top(grid.rows[name])
    fill = "#fde68a" if on else ("#e4e7eb" if final else "#eef2f6")
    stroke = HOT if on else COLD
    return (
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="{14 if final else 6}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if on else 1}"/>'
        f'<text x="{x + BOX_W // 2}" y="{y + 22}" text-anchor="middle" font-size="13">'
        f"{html.escape(name)}</text>"
    )

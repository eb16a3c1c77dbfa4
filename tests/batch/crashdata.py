"""Generated data for the crash test: a Nore registry of many points (about 30% of them open
under legacy consents) and a long terminations file mixing every kind of row.

Everything is drawn from a seeded ``random.Random``, so a failure is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from hanport.identifiers import gsrn_with_check_digit
from tests.batch.helpers import BRS, HEADER

CUSTOMERS_HEADER = "customer_id;name;email;phone;street;postal_code;city;language;energipilot"
POINTS_HEADER = (
    "metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port"
)
# Around the simulated clock's start (2026-03-02T09:00+01:00): due ones and scheduled ones,
# written with the offsets Oslo has on those days (across the DST change of 2026-03-29).
DUE = (
    "2026-02-27T00:00:00+01:00",
    "2026-03-01T23:00:00Z",
    "2026-03-02T08:59:59+01:00",
    "2026-03-02T09:00:00+01:00",
)
LATER = (
    "2026-03-05T00:00:00+01:00",
    "2026-03-15T12:00:00+01:00",
    "2026-03-29T01:30:00+01:00",
    "2026-03-29T03:30:00+02:00",
    "2026-04-01T00:00:00+02:00",
)


@dataclass
class Registry:
    customers_csv: str
    points_csv: str
    # gsrn -> customer_id of every point; the subset whose port is open.
    customer_of: dict[str, str] = field(default_factory=dict)
    open_points: list[str] = field(default_factory=list)
    closed_points: list[str] = field(default_factory=list)


def registry(n: int, open_share: float, rnd: random.Random) -> Registry:
    """``n`` Nore customers with one point each; ``open_share`` of the ports imported open."""
    cust = [CUSTOMERS_HEADER]
    pts = [POINTS_HEADER]
    reg = Registry("", "")
    for i in range(n):
        cid = str(500000 + i)
        gsrn = gsrn_with_check_digit(f"70705750{i:09d}")
        meter = f"73{i:014d}"
        port = "open" if rnd.random() < open_share else "closed"
        cust.append(f"{cid};Kunde {i};k{i}@example.no;;Bjørkeveien {i};3630;Rødberg;nb;no")
        pts.append(f"{gsrn};{cid};{meter};3338;Bjørkeveien {i};3630;Rødberg;{port}")
        reg.customer_of[gsrn] = cid
        (reg.open_points if port == "open" else reg.closed_points).append(gsrn)
    reg.customers_csv = "\n".join(cust) + "\n"
    reg.points_csv = "\n".join(pts) + "\n"
    return reg


def write_registry(reg: Registry, folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    c, p = folder / "customers.csv", folder / "points.csv"
    c.write_text(reg.customers_csv, encoding="utf-8")
    p.write_text(reg.points_csv, encoding="utf-8")
    return c, p


def _line(doc: str, gsrn: str, event: str, at: str, customer: str, of: str = "") -> str:
    return ";".join([doc, gsrn, event, BRS[event], at, customer, of])


def terminations(reg: Registry, n_rows: int, rnd: random.Random) -> list[str]:
    """``n_rows`` data lines (without the header): closes by the holder (move_out,
    end_of_supply), move_out by someone else, move_in by newcomers (often unknown to the
    registry), rows for closed ports, rollbacks of earlier rows, exact repeats, a document id
    reused for other content, and a few bad rows of each kind."""
    customers = list(reg.customer_of.values())
    lines: list[str] = []
    closing_docs: list[tuple[str, str]] = []  # (document_id, gsrn) of rows that may close
    other_docs: list[tuple[str, str]] = []
    seq = 0

    def doc_id() -> str:
        nonlocal seq
        seq += 1
        return f"doc-{seq:06d}-{rnd.randrange(16**8):08x}"

    def when() -> str:
        return rnd.choice(DUE if rnd.random() < 0.5 else LATER)

    while len(lines) < n_rows:
        r = rnd.random()
        if r < 0.30:  # the holder leaves
            g = rnd.choice(reg.open_points)
            d = doc_id()
            event = rnd.choice(("move_out", "end_of_supply"))
            lines.append(_line(d, g, event, when(), reg.customer_of[g]))
            closing_docs.append((d, g))
        elif r < 0.42:  # a newcomer moves in (unknown, or a registered customer)
            g = rnd.choice(reg.open_points)
            d = doc_id()
            newcomer = str(900000 + rnd.randrange(10**5)) if rnd.random() < 0.7 else ""
            newcomer = newcomer or rnd.choice(customers)
            lines.append(_line(d, g, "move_in", when(), newcomer))
            closing_docs.append((d, g))
        elif r < 0.55:  # someone else's move_out: no-op
            g = rnd.choice(reg.open_points)
            other = rnd.choice(customers)
            while other == reg.customer_of[g]:
                other = rnd.choice(customers)
            d = doc_id()
            lines.append(_line(d, g, "move_out", when(), other))
            other_docs.append((d, g))
        elif r < 0.70:  # a closed port: no-op
            g = rnd.choice(reg.closed_points)
            d = doc_id()
            event = rnd.choice(("move_out", "end_of_supply", "move_in"))
            lines.append(_line(d, g, event, when(), reg.customer_of[g]))
            other_docs.append((d, g))
        elif r < 0.82 and closing_docs:  # a rollback of an earlier row
            target, g = rnd.choice(closing_docs if rnd.random() < 0.85 else other_docs)
            lines.append(";".join([doc_id(), g, "rollback", BRS["rollback"], "", "", target]))
        elif r < 0.945 and lines:  # the same document again, unchanged
            lines.append(rnd.choice(lines))
        elif r < 0.975 and closing_docs:  # a document id reused for other content
            d, g = rnd.choice(closing_docs)
            lines.append(_line(d, g, "end_of_supply", "2026-05-01T00:00:00+02:00", "1"))
        else:
            lines.append(bad_row(reg, doc_id(), rnd))
    return lines[:n_rows]


def bad_row(reg: Registry, doc: str, rnd: random.Random) -> str:
    g = rnd.choice(reg.open_points)
    c = reg.customer_of[g]
    kind = rnd.randrange(6)
    if kind == 0:  # wrong check digit
        wrong = g[:-1] + str((int(g[-1]) + 1) % 10)
        return _line(doc, wrong, "move_out", DUE[0], c)
    if kind == 1:  # a valid GSRN nobody registered
        return _line(doc, gsrn_with_check_digit("70705759999999999"[:17]), "move_out", DUE[0], c)
    if kind == 2:  # unknown event
        return ";".join([doc, g, "moved_away", "BRS-NO-201", DUE[0], c, ""])
    if kind == 3:  # an instant without offset
        return _line(doc, g, "move_out", "2026-03-05T00:00:00", c)
    if kind == 4:  # a column missing
        return ";".join([doc, g, "move_out", "BRS-NO-201", DUE[0], c])
    return ";".join([doc, g, "rollback", BRS["rollback"], "", "", "never-seen-" + doc])


def write_terminations(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path

"""Cases: the one read a command starts with, and the case rows and events it writes.

``load`` reads, for a set of cases, everything a decision may need about them — the cases with
their points and customers (and whichever case holds each of those points), their timers, their
HES commands and the ones still out for their points, and the consents the cases and points
name — as four statements sent together (one round trip on PostgreSQL, in a pipeline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hanport.storage.repositories.case_statements import (
    CASE_COLS,
    CUSTOMER_COLS,
    CUSTOMER_RESTRICTIONS,
    NC,
    NO_POINT,
    NP,
    POINT_COLS,
    SUPPLY_ENDS,
    SWAP_WITH_EVENT,
    pg_keys_statement,
    pg_statements,
    sqlite_keys_statement,
    sqlite_statements,
)
from hanport.storage.rows import (
    CaseBundle,
    CaseRow,
    ConsentBrief,
    CustomerRow,
    HesBrief,
    Loaded,
    PointRow,
    TimerBrief,
)
from hanport.storage.sql import Driver

__all__ = ["CASE_COLS", "CUSTOMER_COLS", "NO_POINT", "POINT_COLS", "SUPPLY_ENDS", "Cases"]


class Cases:
    def __init__(self, db: Driver) -> None:
        self.db = db
        self._swap: Sequence[Any] | None = None
        # PostgreSQL: the automatic closes of the points loaded, (customer_pk, data) by point,
        # until a case is written.
        self._closes: dict[int, list[tuple[int, str]]] = {}

    def load(
        self,
        by: str,
        keys: Sequence[Any],
        *,
        customer: str | None = None,
        subject_keys: bool = False,
    ) -> Loaded:
        """The cases and points selected ``by`` ref, id or GSRN, with everything a decision may
        read about them (see the module's docstring); ``customer``: also the customer with
        this number (``Loaded.customer``), in the same round trip; ``subject_keys``: also the
        hashing keys of the cases' customers (``Loaded.subject_keys``), likewise."""
        if not keys:
            return Loaded([], [], [], [], [])
        logged = self.db.processing is not None
        if self.db.sqlite:
            statements = self._sqlite_load(by, keys, subject_keys)
        else:
            one = len(keys) == 1
            params = {"k": keys[0] if one else list(keys)}
            statements = [(t, params) for t in pg_statements(by, logged, one)]
            if subject_keys:
                statements.append((pg_keys_statement(by, one), params))
        first: CustomerRow | None = None
        if customer is not None and logged:  # read (and logged) first, through the functions
            from hanport.storage.repositories.registry import Customers

            first = Customers(self.db).by_id(customer)
        elif customer is not None:
            statements.append(
                (f"SELECT {CUSTOMER_COLS} FROM customers WHERE customer_id = :c", {"c": customer})
            )
        if customer is not None:
            statements.append((CUSTOMER_RESTRICTIONS, {"c": customer}))
        results = self.db.pipelined(statements)
        key_rows = results.pop(3) if subject_keys else []  # after the load's own three
        cases_rows, fact_rows, point_rows, *more = results
        point_list = [self._point(r) for r in point_rows]
        bundles = [self._bundle(r) for r in cases_rows]
        if logged:  # the cases' points with their addresses, from the points' statement
            by_id = {p.id: p for p in point_list}
            bundles = [b._replace(point=by_id.get(b.point.id, b.point)) for b in bundles]
        if not self.db.sqlite:
            self._closes.update((p.id, []) for p in point_list)
        restricted: dict[int, str] = {}
        facts = self._facts([*fact_rows, *(more[-1] if more else ())], self._closes, restricted)
        loaded = Loaded(
            bundles,
            point_list,
            *facts,
            restricted=restricted,
            subject_keys={r[0]: r[1] for r in key_rows} if subject_keys else None,
        )
        if len(more) == 2 and more[0]:
            u, ts = more[0][0], self.db.read_ts
            first = CustomerRow._make((*u[:9], bool(u[9]), u[10], ts(u[11]), ts(u[12])))
        return loaded if first is None else loaded._replace(customer=first)

    def _sqlite_load(
        self, by: str, keys: Sequence[Any], subject_keys: bool
    ) -> list[tuple[str, Any]]:
        """SQLite: the ids the load starts from read first (two small statements), then the
        load's statements over them: the seeds as sub-selects made SQLite build a temporary
        table for each of their uses (a load by reference cost twice as much)."""
        db = self.db
        marks = ", ".join("?" * len(keys))
        if by == "gsrn":
            points = [
                r[0]
                for r in db.all(f"SELECT id FROM metering_points WHERE gsrn IN ({marks})", keys)
            ]
            rows = db.all(
                f"SELECT id FROM cases WHERE active AND point_id IN ({', '.join('?' * len(points))})",
                points,
            )
            cases = sorted(r[0] for r in rows)
        else:
            rows = db.all(f"SELECT id, point_id FROM cases WHERE {by} IN ({marks})", keys)
            points = sorted({r[1] for r in rows if r[1] is not None})
            holders = db.all(
                "SELECT id FROM cases WHERE holds_port AND point_id IN "
                f"({', '.join('?' * len(points))})",
                points,
            )
            cases = sorted({r[0] for r in rows} | {r[0] for r in holders})
        params = {
            **{f"c{i}": v for i, v in enumerate(cases)},
            **{f"p{i}": v for i, v in enumerate(points)},
        }
        statements = [(t, params) for t in sqlite_statements(len(cases), len(points))]
        if subject_keys:
            statements.append((sqlite_keys_statement(len(cases)), params))
        return statements

    @staticmethod
    def _facts(
        rows: list[Any], closes: dict[int, list[tuple[int, str]]], restricted: dict[int, str]
    ) -> tuple[list[TimerBrief], list[HesBrief], list[ConsentBrief]]:
        timers: list[TimerBrief] = []
        hes: dict[int, HesBrief] = {}
        consents: dict[int, ConsentBrief] = {}
        for r in rows:
            if r[0] == "t":
                timers.append(TimerBrief(r[1], r[2], r[3], r[5]))
            elif r[0] == "h":
                hes.setdefault(r[1], HesBrief(r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])))
            elif r[0] == "c":
                consents.setdefault(r[1], ConsentBrief(r[1], r[2], r[4], bool(r[7])))
            elif r[0] == "r":
                restricted.setdefault(r[1], r[3])
            else:
                closes.setdefault(r[1], []).append((r[2], r[3]))
        timers.sort(key=lambda t: (t.case_id, t.id))
        return timers, [hes[k] for k in sorted(hes)], [consents[k] for k in sorted(consents)]

    def _point(self, p: Sequence[Any]) -> PointRow:
        ts = self.db.read_ts
        return PointRow._make((*p[:9], ts(p[9]), p[10], ts(p[11])))

    def _bundle(self, r: Sequence[Any]) -> CaseBundle:
        ts, b = self.db.read_ts, bool
        c, p, u = r[:NC], r[NC : NC + NP], r[NC + NP :]
        case = CaseRow._make((*c[:8], b(c[8]), b(c[9]), *c[10:13], ts(c[13]), ts(c[14])))
        point = self._point(p) if p[0] is not None else NO_POINT
        customer = CustomerRow._make((*u[:9], b(u[9]), u[10], ts(u[11]), ts(u[12])))
        return CaseBundle(case, point, customer)

    def id_of(self, ref: str) -> int | None:
        row = self.db.one("SELECT id FROM cases WHERE ref = ?", (ref,))
        return None if row is None else int(row[0])

    def customer_pk_of(self, ref: str) -> int | None:
        row = self.db.one("SELECT customer_pk FROM cases WHERE ref = ?", (ref,))
        return None if row is None else int(row[0])

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """New cases, with the ids allocated for them (columns as ``CASE_COLS``)."""
        self._closes.clear()
        self.db.executemany(
            f"INSERT INTO cases ({CASE_COLS}) VALUES ({self.db.placeholders(NC)})",
            [self._bind(r) for r in rows],
        )

    def _bind(self, r: Sequence[Any]) -> list[Any]:
        out = list(r)
        out[13], out[14] = self.db.ts(out[13]), self.db.ts(out[14])
        return out

    def compare_and_swap(self, rows: Sequence[Sequence[Any]]) -> Callable[[], int]:
        """Update cases still at the version they were loaded at; returns how to read how many
        were (``Driver.executemany_count``).

        Each row: state, version, holds_port, active, flags, data, last_hash, updated_at,
        workflow_version, id, the version expected."""
        self._closes.clear()
        if not rows:
            return lambda: 0
        db = self.db
        bound = [(*r[:7], db.ts(r[7]), *r[8:]) for r in rows]
        return db.executemany_count(
            "UPDATE cases SET state = ?, version = ?, holds_port = ?, active = ?, flags = ?, "
            "data = ?, last_hash = ?, updated_at = ?, workflow_version = ? "
            "WHERE id = ? AND version = ?",
            bound,
        )

    def swap_with_next_event(self, row: Sequence[Any]) -> None:
        """PostgreSQL: the ``compare_and_swap`` row of the case of the first event that
        ``insert_events`` appends next, made one statement with that event's insert, the
        event's case id taken from the updated row: when the case is no longer at the version
        it was loaded at, that id is NULL and the statement fails (a conflict, by
        ``storage.errors``), so nothing is read back before the commit."""
        self._swap = row

    def insert_events(self, rows: Sequence[Sequence[Any]]) -> None:
        """Sealed events: case_id, seq, occurred_at, actor, actor_kind, trigger, from_state,
        to_state, workflow_version, data, prev_hash, hash."""
        db = self.db
        self._closes.clear()
        swap, self._swap = self._swap, None
        if swap is not None and rows:
            db.executemany(SWAP_WITH_EVENT, [(*swap, *rows[0][1:])])
            rows = rows[1:]
        db.executemany(
            "INSERT INTO case_events (case_id, seq, occurred_at, actor, actor_kind, trigger, "
            "from_state, to_state, workflow_version, data, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], db.ts(r[2]), *r[3:]) for r in rows],
        )

    def insert_notes(self, rows: Sequence[Sequence[Any]]) -> None:
        """case_id, seq, kind, author, body, created_at."""
        db = self.db
        db.executemany(
            "INSERT INTO case_notes (case_id, seq, kind, author, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(*r[:5], db.ts(r[5])) for r in rows],
        )

    def on_version(
        self, workflow: str, version: int, refs: Sequence[str] | None = None
    ) -> list[tuple[str, str, int, str, bool]]:
        """(ref, workflow, version, state, active) of the live cases of ``workflow`` at
        ``version`` in id order, or of the cases ``refs`` whatever they are (a workflow
        migration's candidates)."""
        cols = "SELECT ref, workflow, workflow_version, state, active FROM cases "
        if refs is not None:
            test, params = self.db.member(list(refs))
            rows = self.db.all(cols + f"WHERE ref {test} ORDER BY id", params)
        else:
            rows = self.db.all(
                cols + "WHERE workflow = ? AND workflow_version = ? AND active ORDER BY id",
                (workflow, version),
            )
        return [(r[0], r[1], int(r[2]), r[3], bool(r[4])) for r in rows]

    def history(self, case_id: int) -> list[tuple[str, str | None, str, datetime]]:
        """A case's events as (trigger, from_state, to_state, occurred_at), in order."""
        rows = self.db.all(
            "SELECT trigger, from_state, to_state, occurred_at FROM case_events "
            "WHERE case_id = ? ORDER BY seq",
            (case_id,),
        )
        out = []
        for trigger, src, dst, at in rows:
            when = self.db.read_ts(at)
            assert when is not None  # occurred_at is NOT NULL
            out.append((trigger, src, dst, when))
        return out

    def swap_queue(self, since: datetime) -> tuple[int, int]:
        """Meter swaps waiting now, and meters installed since ``since``."""
        db = self.db
        queue = db.one(
            "SELECT count(*) FROM cases WHERE workflow = 'meter_swap' "
            "AND state IN ('queued', 'visit_scheduled')"
        )[0]
        installed = db.one(
            "SELECT count(*) FROM case_events WHERE trigger = 'record_installation' "
            "AND occurred_at >= ?",
            (db.ts(since),),
        )[0]
        return int(queue), int(installed)

    def supply_ended(self, point_id: int, other_than: int) -> datetime | None:
        """The latest effective time of an automatic close of the point for a move or a contract
        end (``SUPPLY_ENDS``) of a customer other than ``other_than``, not rolled back or
        cancelled: if ``other_than`` holds the point now, not before then. None when none."""
        if point_id in self._closes:  # loaded with the point (PostgreSQL), none written since
            texts = [t for pk, t in self._closes[point_id] if pk != other_than]
        else:
            texts = [
                r[0]
                for r in self.db.all(
                    "SELECT data FROM cases WHERE point_id = ? AND workflow = 'close_port' "
                    "AND customer_pk <> ? AND state <> 'cancelled'",
                    (point_id, other_than),
                )
            ]
        ends = []
        for text in texts:
            data = json.loads(text)
            if data.get("close_reason") in SUPPLY_ENDS and data.get("effective_at"):
                ends.append(datetime.fromisoformat(data["effective_at"]))
        return max(ends, default=None)

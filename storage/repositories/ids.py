"""Ids for the rows a command is about to insert, allocated before anything is written: the
events a decision seals name the consents, timers and HES commands it creates, and a new case's
reference is made from its id."""

from __future__ import annotations

from collections.abc import Mapping

from hanport.storage.sql import Driver

# Tables whose ids a decision may need before the row exists.
TABLES = ("cases", "consents", "timers", "hes_commands")


class Ids:
    def __init__(self, db: Driver) -> None:
        self.db = db
        self._last_case: int | None = None
        self._case_ids: list[int] = []  # PostgreSQL: taken from the sequence, not yet handed out
        self._take = 1

    def settled(self) -> None:
        """The cases handed out so far are written: the next id is read afresh."""
        self._last_case = None

    def next_case_id(self) -> int:
        """The id of the next case this transaction inserts (see ``allocate``).

        On PostgreSQL a transaction that opens many cases (the nightly batch) takes their ids
        from the sequence in growing blocks — 1, 2, 4, … up to 256 — rather than one round
        trip per case; what a transaction took and did not use is a gap, as after a rollback.
        """
        if self.db.sqlite:
            if self._last_case is not None:
                self._last_case += 1
            else:
                self._last_case = self.allocate({"cases": 1})["cases"][0]
            return self._last_case
        if not self._case_ids:
            self._case_ids = self.allocate({"cases": self._take})["cases"]
            self._take = min(self._take * 2, 256)
        self._last_case = self._case_ids.pop(0)
        return self._last_case

    def allocate(self, counts: Mapping[str, int]) -> dict[str, list[int]]:
        """``counts[table]`` new ids per table, in increasing order.

        PostgreSQL takes them from the tables' sequences (one round trip for all tables; an id
        taken by a transaction that rolls back is never reused). SQLite continues after the
        largest id: the unit of work's transaction then writes them, and a writer that wrote in
        between makes its first write fail as busy (a conflict, retried) — never a duplicate."""
        wanted = {t: n for t, n in counts.items() if n > 0}
        for t in wanted:
            if t not in TABLES:
                raise ValueError(f"ids are not allocated for {t}")
        if not wanted:
            return {}
        if self.db.sqlite:
            tables = list(wanted)
            tops = self.db.one(
                "SELECT " + ", ".join(f"(SELECT coalesce(max(id), 0) FROM {t})" for t in tables)
            )
            return {
                t: list(range(top + 1, top + 1 + wanted[t]))
                for t, top in zip(tables, tops, strict=True)
            }
        parts = [
            f"SELECT '{t}', nextval(pg_get_serial_sequence('{t}', 'id')) "
            f"FROM generate_series(1, {int(n)})"
            for t, n in wanted.items()
        ]
        rows = self.db.all(" UNION ALL ".join(parts))
        got: dict[str, list[int]] = {t: [] for t in wanted}
        for table, value in rows:
            got[table].append(int(value))
        return {t: sorted(v) for t, v in got.items()}

"""Erasure's writes: a scope of :mod:`hanport.storage.erasure` applied to a subject, retention's
clearing of what passed its period, and the erasure ledger (``erasures``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hanport.storage.erasure import ACCESS_LOG_RETAIN, ERASE, RETAIN
from hanport.storage.sql import Driver
from hanport.storage.views.erasures import ConsentFacts, ErasureReads, SubjectFacts

LEDGER_COLUMNS = (
    "erasure_id",
    "subject_kind",
    "subject",
    "scope",
    "at",
    "actor",
    "role",
    "reason",
    "erased",
    "reapplied_at",
)


class Erasures:
    def __init__(self, db: Driver) -> None:
        self.db = db
        self.reads = ErasureReads(db.sa)

    def customer(self, customer_id: str) -> tuple[int, datetime | None] | None:
        """The customer's id and when they were erased (None: no such customer)."""
        row = self.db.one(
            "SELECT id, erased_at FROM customers WHERE customer_id = ?", (customer_id,)
        )
        return None if row is None else (int(row[0]), self.db.read_ts(row[1]))

    def message_ids_of(self, customer_pk: int) -> list[str]:
        return self.reads.message_ids_of(customer_pk)

    def facts(self, customer_pk: int) -> SubjectFacts:
        return self.reads.facts(customer_pk)

    def consent(self, consent_id: int) -> ConsentFacts | None:
        return self.reads.consent(consent_id)

    def erase(self, scope: str, key: int, at: datetime) -> dict[str, int]:
        """Apply ``scope`` to ``key`` (a customer's or a consent's id): the rows changed per
        table."""
        db = self.db
        out: dict[str, int] = {}
        if db.sqlite:
            params = {"key": key, "at": db.ts(at)}
            for w in ERASE[scope]:
                out[w.label] = out.get(w.label, 0) + db.rowcount(w.sqlite, params)  # type: ignore[arg-type]
            return out
        for what, rows in db.all(
            f"SELECT erased_what, erased_rows FROM erase_{scope}(?, ?)", (key, at)
        ):
            out[what] = out.get(what, 0) + int(rows)
        return out

    def retain(self, kind: str, before: datetime, at: datetime) -> int:
        """Clear every row of ``kind`` whose period ended before ``before``: how many."""
        db = self.db
        if kind == "access_log":
            return self._retain_access_log(before)
        return int(db.execute(RETAIN[kind], {"before": db.ts(before), "at": db.ts(at)}).rowcount)

    def _retain_access_log(self, before: datetime) -> int:
        """Delete the access log's rows read before ``before`` (the mark first: the log's
        trigger lets through only what it covers); on PostgreSQL through the owner's
        ``retain_access_log``, as no other login may delete from the log."""
        db = self.db
        if not db.sqlite:
            return int(db.one("SELECT retain_access_log(?)", (before,))[0])
        mark, delete = (w.sqlite for w in ACCESS_LOG_RETAIN)
        db.execute(mark, {"before": db.ts(before)})
        return int(db.execute(delete, {"before": db.ts(before)}).rowcount)

    def record(self, entry: Mapping[str, Any]) -> bool:
        """Add a ledger entry unless its ``erasure_id`` is there: whether it was added."""
        db = self.db
        values = [
            db.ts_or_none(entry.get(c))
            if c in ("at", "reapplied_at")
            else json.dumps(entry[c], sort_keys=True)
            if c == "erased"
            else entry.get(c)
            for c in LEDGER_COLUMNS
        ]
        cur = db.execute(
            f"INSERT INTO erasures ({', '.join(LEDGER_COLUMNS)}) "
            f"VALUES ({db.placeholders(len(LEDGER_COLUMNS))}) ON CONFLICT (erasure_id) DO NOTHING",
            values,
        )
        return int(cur.rowcount) == 1

    def scopes(self, customer_id: str) -> set[str]:
        """What the ledger says was erased of this customer (``contact``, ``subject``)."""
        rows = self.db.all(
            "SELECT DISTINCT scope FROM erasures WHERE subject_kind = 'customer' AND subject = ?",
            (customer_id,),
        )
        return {str(r[0]) for r in rows}

    def known(self) -> set[str]:
        """The erasure ids the ledger holds."""
        return {str(r[0]) for r in self.db.all("SELECT erasure_id FROM erasures")}

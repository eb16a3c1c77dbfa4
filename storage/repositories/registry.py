"""The registry as commands read it (customers), and the idempotency ledger of commands."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, insert, select, update

from hanport.storage.hashing import canonical_json
from hanport.storage.repositories.cases import CUSTOMER_COLS
from hanport.storage.rows import CustomerRow
from hanport.storage.sql import Driver
from hanport.storage.tables import CASES, CONSENTS, CUSTOMER_HISTORY, CUSTOMERS, MAIL, POINTS


class Customers:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def _row(self, r: Any) -> CustomerRow | None:
        if r is None:
            return None
        ts = self.db.read_ts
        return CustomerRow._make((*r[:9], bool(r[9]), r[10], ts(r[11]), ts(r[12])))

    def by_id(self, customer_id: str) -> CustomerRow | None:
        if self.db.processing is not None:
            return next(iter(self._logged(None, [customer_id])), None)
        return self._row(
            self.db.one(
                f"SELECT {CUSTOMER_COLS} FROM customers WHERE customer_id = ?", (customer_id,)
            )
        )

    def by_ids(self, customer_ids: list[str]) -> dict[str, CustomerRow]:
        if not customer_ids:
            return {}
        if self.db.processing is not None:
            return {c.customer_id: c for c in self._logged(None, customer_ids)}
        test, params = self.db.member(customer_ids)
        rows = self.db.all(
            f"SELECT {CUSTOMER_COLS} FROM customers WHERE customer_id {test}", params
        )
        return {r[1]: self._row(r) for r in rows}  # type: ignore[misc]

    def by_pks(self, pks: Sequence[int]) -> dict[int, CustomerRow]:
        if not pks:
            return {}
        if self.db.processing is not None:
            return {c.id: c for c in self._logged(list(pks), None)}
        test, params = self.db.member(pks)
        rows = self.db.all(f"SELECT {CUSTOMER_COLS} FROM customers WHERE id {test}", params)
        return {r[0]: self._row(r) for r in rows}  # type: ignore[misc]

    def by_pk(self, pk: int) -> CustomerRow | None:
        return self.by_pks([pk]).get(pk)

    def _logged(self, pks: list[int] | None, numbers: list[str] | None) -> list[CustomerRow]:
        """The customers, through the function that logs each read (a login without SELECT on
        the personal columns: ``hanport.storage.personal``)."""
        rows = self.db.all(
            f"SELECT {CUSTOMER_COLS} FROM processing_customers("
            "CAST(? AS integer[]), CAST(? AS text[])) ORDER BY id",
            (pks, numbers),
        )
        return [self._row(r) for r in rows]  # type: ignore[misc]


class KeyRow(NamedTuple):
    request_hash: str
    case_id: int | None
    result: dict[str, Any]


class Idempotency:
    """A command's key, scoped per kind: a repeat returns the first result."""

    def __init__(self, db: Driver) -> None:
        self.db = db

    def get(self, kind: str, key: str) -> KeyRow | None:
        r = self.db.one(
            "SELECT request_hash, case_id, result FROM idempotency_keys WHERE kind = ? AND key = ?",
            (kind, key),
        )
        return None if r is None else KeyRow(r[0], r[1], json.loads(r[2]))

    def put(
        self,
        kind: str,
        key: str,
        request_hash: str,
        case_id: int | None,
        result: Mapping[str, Any],
        when: datetime,
    ) -> None:
        self.db.execute(
            "INSERT INTO idempotency_keys (kind, key, request_hash, case_id, result, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, key, request_hash, case_id, canonical_json(dict(result)), self.db.ts(when)),
        )

    def bare(self) -> list[tuple[str, str, str]]:
        """(kind, key, digest) of the rows whose digest is not yet keyed."""
        rows = self.db.all(
            "SELECT kind, key, request_hash FROM idempotency_keys WHERE request_hash NOT LIKE 'k:%'"
        )
        return [(str(k), str(key), str(h)) for k, key, h in rows]

    def rekey(self, rows: list[tuple[str, str, str]]) -> None:
        """Set each (kind, key)'s digest to its keyed one: rows of (keyed, kind, key)."""
        self.db.executemany(
            "UPDATE idempotency_keys SET request_hash = ? WHERE kind = ? AND key = ?", rows
        )


class Registry:
    """The customer and metering-point registry as imports and updates write it (SQLAlchemy
    Core: not on a command's hot path)."""

    def __init__(self, db: Driver) -> None:
        self.db = db
        self.conn = db.sa

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        if self.db.processing is not None:
            return self._logged("customers", "NULL, CAST(? AS text[])", customer_id)
        row = self.conn.execute(select(CUSTOMERS).where(CUSTOMERS.c.customer_id == customer_id))
        found = row.mappings().first()
        return dict(found) if found is not None else None

    def _logged(self, what: str, keys: str, key: str) -> dict[str, Any] | None:
        """One row through the function that logs the read (``hanport.storage.personal``)."""
        cur = self.db.execute(f"SELECT * FROM processing_{what}({keys})", ([key],))
        found = cur.fetchone()
        return (
            None
            if found is None
            else dict(zip([d.name for d in cur.description], found, strict=True))
        )

    def insert_customer(self, values: Mapping[str, Any]) -> int:
        return _pk(self.conn.execute(insert(CUSTOMERS).values(**values)))

    def update_customer(self, pk: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(update(CUSTOMERS).where(CUSTOMERS.c.id == pk).values(**values))

    def add_customer_history(self, values: Mapping[str, Any]) -> None:
        self.conn.execute(insert(CUSTOMER_HISTORY).values(**values))

    def follow_address(self, customer_pk: int, email: str | None, note: str) -> list[int]:
        """Unsent mail follows a changed address, recorded on the mail row: waiting mail goes
        to the new address (or waits as ``no_address``); dead mail takes it for its next retry.
        Returns the cases whose waiting mail it was."""
        M, C = MAIL, CASES
        ids = select(C.c.id).where(C.c.customer_pk == customer_pk)
        waiting = and_(M.c.case_id.in_(ids), M.c.status.in_(("pending", "no_address")))
        affected = [r[0] for r in self.conn.execute(select(M.c.case_id).where(waiting).distinct())]
        self.conn.execute(
            update(M)
            .where(waiting)
            .values(recipient=email, status="pending" if email else "no_address", last_error=note)
        )
        self.conn.execute(
            update(M)
            .where(and_(M.c.case_id.in_(ids), M.c.status == "dead"))
            .values(recipient=email, last_error=note)
        )
        return affected

    def point(self, gsrn: str) -> dict[str, Any] | None:
        if self.db.processing is not None:
            return self._logged("points", "NULL, CAST(? AS text[])", gsrn)
        found = self.conn.execute(select(POINTS).where(POINTS.c.gsrn == gsrn)).mappings().first()
        return dict(found) if found is not None else None

    def insert_point(self, values: Mapping[str, Any]) -> int:
        return _pk(self.conn.execute(insert(POINTS).values(**values)))

    def update_point(self, pk: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(update(POINTS).where(POINTS.c.id == pk).values(**values))

    def insert_legacy_consent(self, values: Mapping[str, Any]) -> int:
        return _pk(self.conn.execute(insert(CONSENTS).values(**values)))


def _pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])

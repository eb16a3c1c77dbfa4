"""The customers' own hashing keys (``subject_keys``): made with the customer, read by the
decisions that hash their values, destroyed when they are erased."""

from __future__ import annotations

import secrets
from datetime import datetime

from hanport.storage.sql import Driver


class SubjectKeys:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def create(self, customer_pk: int, now: datetime) -> None:
        """A new key for the customer (none made twice)."""
        self.db.execute(
            "INSERT INTO subject_keys (customer_pk, key, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (customer_pk) DO NOTHING",
            (customer_pk, secrets.token_hex(32), self.db.ts(now)),
        )

    def get(self, customer_pk: int) -> tuple[bool, str | None]:
        """(whether the customer has a key row, its key — None once destroyed)."""
        row = self.db.one("SELECT key FROM subject_keys WHERE customer_pk = ?", (customer_pk,))
        return (False, None) if row is None else (True, row[0])

"""Consents: recorded, validated, opened under and ended by decisions (each given and each end
also a row of the append-only consent timeline)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from hanport.storage.consent_timeline import ConsentEventRow
from hanport.storage.sql import Driver

COLUMNS = (
    "case_id",
    "customer_pk",
    "point_id",
    "meter_number",
    "source",
    "signer_name",
    "signer_role",
    "address_written",
    "postal_code_written",
    "address_match",
    "security",
    "channel",
    "from_email",
    "declaration_version",
    "received_at",
    "recorded_at",
    "recorded_by",
    "validated_by",
    "opened_at",
)
INSTANTS = {"received_at", "recorded_at", "opened_at", "ended_at"}


class Consents:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def _value(self, name: str, value: Any) -> Any:
        return self.db.ts_or_none(value) if name in INSTANTS else value

    def insert(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """(id, values by column name) per consent."""
        cols = ", ".join(COLUMNS)
        self.db.executemany(
            f"INSERT INTO consents (id, {cols}) VALUES ({self.db.placeholders(len(COLUMNS) + 1)})",
            [(cid, *(self._value(c, v.get(c)) for c in COLUMNS)) for cid, v in rows],
        )

    def change(self, consent_id: int, values: Mapping[str, Any]) -> None:
        """Set ``validated_by`` or ``opened_at``."""
        for name in values:
            if name not in ("validated_by", "opened_at"):
                raise ValueError(f"consents.{name} is not changed this way")
        sets = ", ".join(f"{k} = ?" for k in values)
        self.db.execute(
            f"UPDATE consents SET {sets} WHERE id = ?",
            [*(self._value(k, v) for k, v in values.items()), consent_id],
        )

    def end(self, rows: Sequence[tuple[int, datetime, str]]) -> None:
        """(id, when, reason): end each consent that is still live."""
        db = self.db
        db.executemany(
            "UPDATE consents SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            [(db.ts(at), reason, cid) for cid, at, reason in rows],
        )

    def timeline(self, rows: Sequence[ConsentEventRow]) -> None:
        """Append the consent timeline's rows (``hanport.storage.consent_timeline``)."""
        db = self.db
        db.executemany(
            f"INSERT INTO consent_events ({', '.join(ConsentEventRow._fields)}) "
            f"VALUES ({db.placeholders(len(ConsentEventRow._fields))})",
            [(r.consent_id, r.kind, db.ts(r.at), *r[3:]) for r in rows],
        )

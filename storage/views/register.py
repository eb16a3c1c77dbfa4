"""The consent register's history: the facts that give, open and end consents, streamed from
the append-only case events and port timeline (never from the consents' current rows, so any
past moment can be answered). No personal data: references, channels, versions, instants."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from hanport.storage.sql import Driver


class ConsentFact(NamedTuple):
    """One fact of the history, in time order. ``kind``: ``given`` (a case recorded
    ``consent_id``), ``ended`` (``ended_ids`` with ``reason``), ``opened`` (the port opened
    under ``consent_id``; ``legacy`` for an import's open port)."""

    kind: str
    at: datetime
    consent_id: int | None
    ended_ids: str | None  # JSON list text
    reason: str | None
    case_id: int | None
    case_ref: str | None
    gsrn: str
    customer: str | None
    language: str | None
    channel: str | None
    declaration_version: str | None
    security: str | None
    signer_role: str | None
    received_at: str | None
    address_match: str | None


class RegisterReads:
    def __init__(self, conn: Connection) -> None:
        self.db = Driver(conn)

    def _json(self, path: str) -> str:
        if self.db.sqlite:
            return f"json_extract(e.data, '$.{path}')"
        return f"(CAST(e.data AS jsonb) #>> '{{{path.replace('.', ',')}}}')"

    def facts(
        self, until: datetime | None = None, gsrn: str | None = None
    ) -> Iterator[ConsentFact]:
        """Every consent fact up to ``until`` (of the point ``gsrn``), given/ended from the
        events, opened from the port timeline, each stream in time order."""
        yield from self._events(until, gsrn)
        yield from self._opened(until, gsrn)

    def _events(self, until: datetime | None, gsrn: str | None) -> Iterator[ConsentFact]:
        """The given facts, then the ended ones (the fold orders nothing by stream): two narrow
        scans, the ends without the joins their facts do not need."""
        yield from self._given(until, gsrn)
        yield from self._ended(until, gsrn)

    def _where(self, like: str, until: datetime | None, gsrn: str | None) -> tuple[str, list[Any]]:
        where, params = [f"e.data LIKE '%\"{like}\"%'"], []
        if until is not None:
            where.append("e.occurred_at <= ?")
            params.append(self.db.ts(until))
        if gsrn is not None:
            where.append("e.case_id IN (SELECT c.id FROM cases c JOIN metering_points p "
                         "ON p.id = c.point_id WHERE p.gsrn = ?)")  # fmt: skip
            params.append(gsrn)
        return " AND ".join(where), params

    def _given(self, until: datetime | None, gsrn: str | None) -> Iterator[ConsentFact]:
        j = self._json
        where, params = self._where("consent_id", until, gsrn)
        sql = (
            f"SELECT e.occurred_at, {j('effects.consent_id')}, e.case_id, c.ref, p.gsrn, "
            f"u.customer_id, u.language, {j('fields.channel')}, {j('fields.declaration_version')}, "
            f"{j('fields.security')}, {j('fields.signer_role')}, {j('fields.received_at')}, "
            f"{j('effects.address_match')} FROM case_events e "
            "JOIN cases c ON c.id = e.case_id JOIN metering_points p ON p.id = c.point_id "
            f"JOIN customers u ON u.id = c.customer_pk WHERE {where} ORDER BY e.id"
        )
        read_ts = self.db.read_ts
        for r in self._stream(sql, params):
            if r[1] is None:
                continue
            at = read_ts(r[0])
            assert at is not None  # case_events.occurred_at is NOT NULL
            yield ConsentFact("given", at, int(r[1]), None, None, *r[2:])

    def _ended(self, until: datetime | None, gsrn: str | None) -> Iterator[ConsentFact]:
        j = self._json
        where, params = self._where("consent_ended", until, gsrn)
        sql = (
            f"SELECT e.occurred_at, {j('effects.consent_ended.ids')}, "
            f"{j('effects.consent_ended.reason')}, e.case_id FROM case_events e "
            f"WHERE {where} ORDER BY e.id"
        )
        read_ts = self.db.read_ts
        for raw_at, ids, reason, case_id in self._stream(sql, params):
            if ids is None:
                continue
            at = read_ts(raw_at)
            assert at is not None  # case_events.occurred_at is NOT NULL
            text = ids if isinstance(ids, str) else str(ids)
            yield ConsentFact(
                "ended", at, None, text, reason, case_id, None, "", None, None, *(None,) * 6
            )

    def _opened(self, until: datetime | None, gsrn: str | None) -> Iterator[ConsentFact]:
        where, params = ["pe.state = 'open'", "pe.consent_id IS NOT NULL"], []
        if until is not None:
            where.append("pe.at <= ?")
            params.append(self.db.ts(until))
        if gsrn is not None:
            where.append("p.gsrn = ?")
            params.append(gsrn)
        sql = (
            "SELECT pe.at, pe.consent_id, pe.case_id, c.ref, p.gsrn, u.customer_id, u.language, "
            "k.source FROM port_events pe JOIN metering_points p ON p.id = pe.point_id "
            "LEFT JOIN cases c ON c.id = pe.case_id LEFT JOIN consents k ON k.id = pe.consent_id "
            "LEFT JOIN customers u ON u.id = k.customer_pk "
            f"WHERE {' AND '.join(where)} ORDER BY pe.id"
        )
        read_ts = self.db.read_ts
        for raw_at, cid, case_id, ref, point, cust, lang, source in self._stream(sql, params):
            kind = "legacy" if source == "legacy_import" else "opened"
            at = read_ts(raw_at)
            assert at is not None  # port_events.at is NOT NULL
            yield ConsentFact(
                kind, at, int(cid), None, None, case_id, ref, point, cust, lang,
                *(None,) * 6,
            )  # fmt: skip

    def _stream(self, sql: str, params: list[Any]) -> Iterator[Any]:
        cur = self.db.raw.cursor()
        cur.execute(self.db.sql(sql), params)
        while rows := cur.fetchmany(10_000):
            yield from rows

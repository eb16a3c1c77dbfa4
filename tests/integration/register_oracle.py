"""The consent register as it was computed before the consent timeline (migration 0008): by
folding the consent facts read from the case events and the port timeline in Python. Kept
here, unchanged, as the oracle the timeline-based register must agree with."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection, Engine

from hanport.calendar import isoformat_utc
from hanport.declarations import digest
from hanport.storage.sql import Driver


def old_register(
    engine: Engine,
    at: datetime | None = None,
    *,
    point: str | None = None,
    customer: str | None = None,
    live: bool | None = None,
) -> list[dict[str, Any]]:
    """``consent_register``'s rows, the old way."""
    with engine.connect() as conn:
        facts = RegisterReads(conn).facts(at, point)
        return [as_dict(e) for e in select(fold(facts), live=live, customer=customer)]


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


@dataclass
class Entry:
    id: int
    gsrn: str
    customer: str | None
    case: str | None
    source: str  # case | legacy_import
    channel: str | None = None
    declaration_version: str | None = None
    text_sha256: str | None = None
    security: str | None = None
    signer_role: str | None = None
    address_match: str | None = None
    received_at: str | None = None
    given_at: datetime | None = None
    opened_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None


def fold(facts: Iterable[ConsentFact]) -> dict[int, Entry]:
    """Every consent the facts name, as they tell it (a fact's instant orders nothing here:
    the first opening and the first end win, as the history can have no other)."""
    out: dict[int, Entry] = {}
    latest: dict[int, int] = {}  # case -> its consent, which a newer record_consent cancels
    later: list[ConsentFact] = []  # opened/ended facts, applied once every consent is known
    for f in facts:
        if f.kind == "given":
            _given(out, latest, f)
        elif f.kind == "legacy" and f.consent_id not in out:
            out[f.consent_id or 0] = Entry(
                f.consent_id or 0, f.gsrn, f.customer, None, "legacy_import", given_at=f.at
            )
            later.append(f)
        else:
            later.append(f)
    for f in later:
        if f.kind == "ended":
            for cid in json.loads(f.ended_ids or "[]"):
                _end(out.get(int(cid)), f.at, f.reason)
        else:
            e = out.get(f.consent_id or 0)
            if e is not None and e.opened_at is None:
                e.opened_at = f.at
    return out


def _given(out: dict[int, Entry], latest: dict[int, int], f: ConsentFact) -> None:
    cid = f.consent_id or 0
    if f.case_id is not None:
        previous = latest.get(f.case_id)
        if previous is not None and previous != cid:
            _end(out.get(previous), f.at, "cancelled")  # a new consent on the case replaces it
        latest[f.case_id] = cid
    out[cid] = Entry(
        cid, f.gsrn, f.customer, f.case_ref, "case", f.channel, f.declaration_version,
        digest(f.declaration_version, f.language), f.security, f.signer_role, f.address_match,
        f.received_at, f.at,
    )  # fmt: skip


def _end(e: Entry | None, at: datetime, reason: str | None) -> None:
    if e is not None and e.ended_at is None:
        e.ended_at, e.end_reason = at, reason


def select(
    entries: dict[int, Entry], *, live: bool | None = None, customer: str | None = None
) -> list[Entry]:
    """The entries, by id: only live (``live``) or only ended (``live=False``) ones, only the
    ``customer``'s."""
    return [
        e
        for _, e in sorted(entries.items())
        if (customer is None or e.customer == customer)
        and (live is None or (e.ended_at is None) is live)
    ]


def as_dict(e: Entry) -> dict[str, Any]:
    def t(d: datetime | None) -> str | None:
        return isoformat_utc(d) if d else None

    return {
        "consent": e.id,
        "metering_point": e.gsrn,
        "customer": e.customer,
        "case": e.case,
        "source": e.source,
        "channel": e.channel,
        "declaration_version": e.declaration_version,
        "declaration_sha256": e.text_sha256,
        "security": e.security,
        "signer_role": e.signer_role,
        "address_match": e.address_match,
        "received_at": e.received_at,
        "given_at": t(e.given_at),
        "opened_at": t(e.opened_at),
        "ended_at": t(e.ended_at),
        "end_reason": e.end_reason,
        "live": e.ended_at is None,
    }

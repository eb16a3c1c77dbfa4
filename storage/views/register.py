"""The consent register's reads: every consent as the history stood at a moment, from the
append-only consent timeline (given, ended) and port timeline (opened) — never from the
consents' current rows, so any past moment can be answered — with the filters done by the
database. And the two sides ``audit verify`` compares: the timeline's rows and the events they
come from. No personal data: references, channels, versions, instants."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from hanport.storage.consent_timeline import ConsentEventRow
from hanport.storage.sql import Driver


class RegisterRow(NamedTuple):
    """One consent as the history stood at the moment asked: ``source`` ``case`` (given by a
    case's event) or ``legacy_import`` (an imported open port's consent, given when the port
    timeline first shows it open)."""

    id: int
    gsrn: str
    customer: str | None
    language: str | None
    case: str | None
    source: str
    channel: str | None
    declaration_version: str | None
    security: str | None
    signer_role: str | None
    address_match: str | None
    received_at: str | None
    given_at: datetime
    opened_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


# The first end of consent ``{k}`` up to the moment, and its first opening of the port.
_ENDED = (
    "LEFT JOIN consent_events x ON x.id = (SELECT min(y.id) FROM consent_events y "
    "WHERE y.consent_id = {k} AND y.kind = 'ended'{until_y})"
)
_OPENED = (
    "(SELECT min(o.id) FROM port_events o WHERE o.consent_id = {k} AND o.state = 'open'{until_o})"
)
_GIVEN = (
    "SELECT g.consent_id, p.gsrn, u.customer_id, u.language, c.ref, 'case', g.channel, "
    "g.declaration_version, g.security, g.signer_role, g.address_match, g.received_at, g.at, "
    "(SELECT o2.at FROM port_events o2 WHERE o2.id = {opened}), x.at, x.reason "
    "FROM consent_events g JOIN cases c ON c.id = g.case_id "
    "JOIN metering_points p ON p.id = c.point_id JOIN customers u ON u.id = c.customer_pk "
    "{ended} WHERE g.kind = 'given'{until_g}{filters}"
)
_LEGACY = (
    "SELECT k.id, p.gsrn, u.customer_id, u.language, NULL, 'legacy_import', NULL, NULL, NULL, "
    "NULL, NULL, NULL, o.at, o.at, x.at, x.reason "
    "FROM consents k JOIN port_events o ON o.id = {opened} "
    "JOIN metering_points p ON p.id = o.point_id LEFT JOIN customers u ON u.id = k.customer_pk "
    "{ended} WHERE k.source = 'legacy_import'{filters}"
)


class RegisterReads:
    def __init__(self, conn: Connection) -> None:
        self.db = Driver(conn)

    def consents(
        self,
        at: datetime | None = None,
        *,
        gsrn: str | None = None,
        customer: str | None = None,
        live: bool | None = None,
    ) -> Iterator[RegisterRow]:
        """Every consent given up to ``at`` (of the point ``gsrn``, of the ``customer``; only
        those live then, or only those ended by then), by id, streamed."""
        params: dict[str, Any] = {}
        filters = ""
        if gsrn is not None:
            filters += " AND p.gsrn = :gsrn"
            params["gsrn"] = gsrn
        if customer is not None:
            filters += " AND u.customer_id = :customer"
            params["customer"] = customer
        if live is not None:
            filters += " AND x.id IS NULL" if live else " AND x.id IS NOT NULL"
        until = ""
        if at is not None:
            until = " AND {}.at <= :at"
            params["at"] = self.db.ts(at)

        def parts(k: str) -> dict[str, str]:
            return {
                "ended": _ENDED.format(k=k, until_y=until.format("y")),
                "opened": _OPENED.format(k=k, until_o=until.format("o")),
            }

        sql = (
            _GIVEN.format(**parts("g.consent_id"), until_g=until.format("g"), filters=filters)
            + " UNION ALL "
            + _LEGACY.format(**parts("k.id"), filters=filters)
            + " ORDER BY 1"
        )
        ts = self.db.read_ts
        for r in self._stream(sql, params):
            yield RegisterRow._make((*r[:12], ts(r[12]), ts(r[13]), ts(r[14]), r[15]))

    def timeline(self) -> Iterator[ConsentEventRow]:
        """The consent timeline's rows, in the order they were written."""
        cols = ", ".join(ConsentEventRow._fields)
        ts = self.db.read_ts
        for r in self._stream(f"SELECT {cols} FROM consent_events ORDER BY id", {}):
            yield ConsentEventRow(r[0], r[1], ts(r[2]), *r[3:])

    def consent_events(self) -> Iterator[tuple[int, datetime, str]]:
        """(case, instant, data) of every case event that may give or end a consent, in the
        order they were written."""
        sql = (
            "SELECT case_id, occurred_at, data FROM case_events "
            "WHERE data LIKE '%\"consent_%' ORDER BY id"
        )
        ts = self.db.read_ts
        for case_id, at, data in self._stream(sql, {}):
            yield case_id, ts(at), data  # type: ignore[misc]

    def _stream(self, sql: str, params: dict[str, Any]) -> Iterator[Any]:
        cur = self.db.raw.cursor()
        cur.execute(self.db.sql(sql), params)
        while rows := cur.fetchmany(10_000):
            yield from rows

"""The consent register's reads: every consent as the history stood at a moment, from the
append-only consent timeline (given, ended) and port timeline (opened) — never from the
consents' current rows, so any past moment can be answered — with the filters done by the
database. And the two sides ``audit verify`` compares: the timeline's rows and the events they
come from. No personal data: references, channels, versions, instants."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    given_at: str  # instants as ISO 8601 text in UTC
    opened_at: str | None
    ended_at: str | None
    end_reason: str | None


# The register's query: one branch for the consents the cases gave, one for the legacy ones
# (an imported open port's), each its column expressions in RegisterRow's order and its FROM.
# ``{opened}``: when the consent first opened the port; ``{end}``: its first end (NULL when
# only live ones are asked, which are kept before anything is joined).
_CASE = (
    "g.consent_id", "p.gsrn", "u.customer_id", "u.language", "c.ref", "'case'", "g.channel",
    "g.declaration_version", "g.security", "g.signer_role", "g.address_match", "g.received_at",
    "g.at", "{opened}", "x.at", "x.reason",
)  # fmt: skip
_CASE_FROM = (
    "FROM consent_events g JOIN cases c ON c.id = g.case_id "
    "JOIN metering_points p ON p.id = c.point_id JOIN customers u ON u.id = c.customer_pk"
    "{end} WHERE g.kind = 'given'{until}{filters}"
)
_LEGACY = (
    "k.id", "p.gsrn", "u.customer_id", "u.language", "NULL", "'legacy_import'", "NULL", "NULL",
    "NULL", "NULL", "NULL", "NULL", "o.at", "o.at", "x.at", "x.reason",
)  # fmt: skip
_LEGACY_FROM = (
    "FROM consents k JOIN port_events o ON o.id = (SELECT min(q.id) FROM port_events q "
    "WHERE q.consent_id = k.id AND q.state = 'open'{until}) "
    "JOIN metering_points p ON p.id = o.point_id LEFT JOIN customers u ON u.id = k.customer_pk"
    "{end} WHERE k.source = 'legacy_import'{filters}"
)
_HAS_END = (
    "EXISTS (SELECT 1 FROM consent_events y WHERE y.consent_id = {k} AND y.kind = 'ended'{until})"
)
_END = (
    " LEFT JOIN consent_events x ON x.id = (SELECT min(y.id) FROM consent_events y "
    "WHERE y.consent_id = {k} AND y.kind = 'ended'{until})"
)
_OPENED = (
    "(SELECT min(o.at) FROM port_events o WHERE o.consent_id = {k} AND o.state = 'open'{until})"
)
# The JSON object of a row (``hanport.queries.register.as_dict``'s keys), by RegisterRow field;
# ``declaration_sha256`` and ``live`` are derived.
_JSON_KEYS = (
    ("consent", "id"), ("metering_point", "gsrn"), ("customer", "customer"), ("case", "case"),
    ("source", "source"), ("channel", "channel"), ("declaration_version", "declaration_version"),
    ("declaration_sha256", None), ("security", "security"), ("signer_role", "signer_role"),
    ("address_match", "address_match"), ("received_at", "received_at"),
    ("given_at", "given_at"), ("opened_at", "opened_at"), ("ended_at", "ended_at"),
    ("end_reason", "end_reason"), ("live", None),
)  # fmt: skip
_INSTANTS = {"given_at", "opened_at", "ended_at"}


class _Query(NamedTuple):
    until: str  # `` AND {alias}.at <= :at`` or nothing
    filters: str
    live: bool | None

    def branch(self, columns: tuple[str, ...], source: str, k: str, alias: str) -> list[str]:
        """The branch's expressions, and its FROM … WHERE as the last item."""
        at, filters = self.until.format, self.filters
        has_end = _HAS_END.format(k=k, until=at("y"))
        end = _END.format(k=k, until=at("y"))
        exprs = [c.format(opened=_OPENED.format(k=k, until=at("o"))) for c in columns]
        if self.live:
            end, exprs[-2:], filters = "", ["NULL", "NULL"], f" AND NOT {has_end}{filters}"
        elif self.live is not None:
            filters = f" AND {has_end}{filters}"
        return [*exprs, source.format(end=end, until=at(alias), filters=filters)]


class RegisterReads:
    def __init__(self, conn: Connection) -> None:
        self.db = Driver(conn)

    def _query(
        self, at: datetime | None, gsrn: str | None, customer: str | None, live: bool | None
    ) -> tuple[list[list[str]], dict[str, Any]]:
        params: dict[str, Any] = {}
        filters = ""
        if gsrn is not None:
            filters += " AND p.gsrn = :gsrn"
            params["gsrn"] = gsrn
        if customer is not None:
            filters += " AND u.customer_id = :customer"
            params["customer"] = customer
        until = ""
        if at is not None:
            until = " AND {}.at <= :at"
            params["at"] = self.db.ts(at)
        q = _Query(until, filters, live)
        branches = [
            q.branch(_CASE, _CASE_FROM, "g.consent_id", "g"),
            q.branch(_LEGACY, _LEGACY_FROM, "k.id", "q"),
        ]
        return branches, params

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
        branches, params = self._query(at, gsrn, customer, live)
        sql = (
            " UNION ALL ".join(f"SELECT {', '.join(b[:-1])} {b[-1]}" for b in branches)
            + " ORDER BY 1"
        )
        iso = self.db.read_iso
        for r in self._stream(sql, params):
            yield RegisterRow._make((*r[:12], iso(r[12]), iso(r[13]), iso(r[14]), r[15]))

    def consents_json(
        self,
        texts: Iterable[tuple[str, str, str]],
        at: datetime | None = None,
        *,
        gsrn: str | None = None,
        customer: str | None = None,
        live: bool | None = None,
    ) -> Iterator[str]:
        """:meth:`consents` as the text of each row's JSON object, built by the database (a
        register of a million events is mostly rows to print); ``texts``: the declaration
        texts' (version, language, SHA-256)."""
        branches, params = self._query(at, gsrn, customer, live)
        texts = list(texts)
        values = ", ".join(f"(:tv{i}, :tl{i}, :ts{i})" for i in range(len(texts)))
        values = values or "(NULL, NULL, NULL)"
        for i, (version, language, sha) in enumerate(texts):
            params.update({f"tv{i}": version, f"tl{i}": language, f"ts{i}": sha})
        sql = (
            f"WITH texts (version, language, sha) AS (VALUES {values}) "
            + " UNION ALL ".join(f"SELECT {b[0]}, {self._json_object(b)} {b[-1]}" for b in branches)
            + " ORDER BY 1"
        )
        for _, text in self._stream(sql, params):
            yield text

    def _json_object(self, branch: list[str]) -> str:
        col = dict(zip(RegisterRow._fields, branch, strict=False))
        v = col["declaration_version"]
        digest = "NULL"
        if v != "NULL":  # the text in the customer's language, else in bokmål
            sha = "(SELECT t.sha FROM texts t WHERE t.version = {v} AND t.language = {lang})"
            nb = sha.format(v=v, lang="'nb'")
            digest = f"coalesce({sha.format(v=v, lang=col['language'])}, {nb})"
        pairs = []
        for key, field in _JSON_KEYS:
            if field is None:
                expr = digest if key == "declaration_sha256" else self._json_bool(col["ended_at"])
            elif field in _INSTANTS:
                expr = self.db.iso_utc(col[field])
            else:
                expr = col[field]
            pairs.append(f"'{key}', {expr}")
        build = "json_object" if self.db.sqlite else "json_build_object"
        return f"{build}({', '.join(pairs)})" + ("" if self.db.sqlite else "::text")

    def _json_bool(self, ended: str) -> str:
        if self.db.sqlite:
            return f"json(CASE WHEN {ended} IS NULL THEN 'true' ELSE 'false' END)"
        return f"({ended} IS NULL)"

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
        for case_id, raw, data in self._stream(sql, {}):
            at = ts(raw)
            assert at is not None  # case_events.occurred_at is NOT NULL
            yield case_id, at, data

    def case_refs(self, ids: Iterable[int]) -> dict[int, str]:
        """The references of the cases ``ids``."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        test, params = self.db.member(wanted)
        rows = self.db.all(f"SELECT id, ref FROM cases WHERE id {test}", params)
        return {int(r[0]): str(r[1]) for r in rows}

    def _stream(self, sql: str, params: dict[str, Any]) -> Iterator[Any]:
        cur = self.db.raw.cursor()
        cur.execute(self.db.sql(sql), params)
        while rows := cur.fetchmany(10_000):
            yield from rows

"""What the reports read: every case's history streamed in (case, seq) order, the port
timelines with the consent behind each change, and when the notices were sent — each as it
stood at a given moment (``as_of``: later rows are left out), so a report is reproducible."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import String, case, select, type_coerce
from sqlalchemy.engine import Connection

from hanport.storage.tables import CASES, CONSENTS, EVENTS, MAIL, POINTS, PORT_EVENTS

# The triggers whose event data a report reads; the others are read without it (most of a
# long history: timers, HES answers), which keeps the stream light.
DATA_TRIGGERS = ("open", "record_consent", "schedule")
_CHUNK = 500  # case ids per IN (…) list


class ReportEvent(NamedTuple):
    """One event as the reports fold it (a tuple: there may be millions). ``municipality`` is
    the point's as registered now (for events from before the open event named its area);
    ``data`` is None except for the triggers in ``DATA_TRIGGERS``."""

    case_id: int
    ref: str
    workflow: str
    municipality: str
    seq: int
    at: datetime
    actor_kind: str
    trigger: str
    from_state: str | None
    to_state: str
    data: str | None


class PortRow(NamedTuple):
    """A change of a point's port, with when the consent it names ended (None: live then)."""

    point_id: int
    municipality: str
    at: datetime
    state: str
    consent_id: int | None
    consent_ended_at: datetime | None
    case_ref: str | None


def _stamp(raw: Any) -> datetime:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=UTC)
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)  # SQLite's naive UTC text


class ReportReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def _instant(self, column: Any) -> Any:
        # SQLite: the stored text, parsed here in one call rather than through the column type.
        return type_coerce(column, String) if self.sqlite else column

    def histories(self, as_of: datetime, before: datetime | None = None) -> Iterator[ReportEvent]:
        """Every event recorded at or before ``as_of``, in (case, seq) order, streamed; only
        cases opened before ``before`` (when given)."""
        E, C, P = EVENTS, CASES, POINTS
        data = case((E.c.trigger.in_(DATA_TRIGGERS), E.c.data), else_=None)
        stmt = (
            select(
                E.c.case_id,
                C.c.ref,
                C.c.workflow,
                P.c.municipality,
                E.c.seq,
                self._instant(E.c.occurred_at),
                E.c.actor_kind,
                E.c.trigger,
                E.c.from_state,
                E.c.to_state,
                data,
            )
            .join_from(E, C, C.c.id == E.c.case_id)
            .join(P, P.c.id == C.c.point_id)
            .where(E.c.occurred_at <= as_of)
            .order_by(E.c.case_id, E.c.seq)
        )
        if before is not None:
            stmt = stmt.where(C.c.created_at < before)
        rows = self.conn.execution_options(stream_results=True, yield_per=20_000).execute(stmt)
        make = ReportEvent._make
        for r in rows:
            yield make((*r[:5], _stamp(r[5]), *r[6:]))

    def port_changes(self, as_of: datetime) -> Iterator[PortRow]:
        """Every port change recorded at or before ``as_of``, per point in order, streamed,
        with the end of the consent it names if that ended by ``as_of``."""
        PE, K, P, C = PORT_EVENTS, CONSENTS, POINTS, CASES
        ended = case((K.c.ended_at <= as_of, self._instant(K.c.ended_at)), else_=None)
        stmt = (
            select(
                PE.c.point_id,
                P.c.municipality,
                self._instant(PE.c.at),
                PE.c.state,
                PE.c.consent_id,
                ended,
                C.c.ref,
            )
            .join_from(PE, P, P.c.id == PE.c.point_id)
            .outerjoin(K, K.c.id == PE.c.consent_id)
            .outerjoin(C, C.c.id == PE.c.case_id)
            .where(PE.c.at <= as_of)
            .order_by(PE.c.point_id, PE.c.id)
        )
        rows = self.conn.execution_options(stream_results=True, yield_per=20_000).execute(stmt)
        for r in rows:
            yield PortRow(
                r[0], r[1], _stamp(r[2]), r[3], r[4], None if r[5] is None else _stamp(r[5]), r[6]
            )

    def mail_sent(
        self, case_ids: Sequence[int], templates: Sequence[str], as_of: datetime
    ) -> dict[int, datetime]:
        """The first sending, by ``as_of``, of one of ``templates`` for each of the cases."""
        M = MAIL
        sent: dict[int, datetime] = {}
        ids = sorted(set(case_ids))
        for i in range(0, len(ids), _CHUNK):
            stmt = select(M.c.case_id, self._instant(M.c.sent_at)).where(
                M.c.case_id.in_(ids[i : i + _CHUNK]),
                M.c.template.in_(list(templates)),
                M.c.sent_at <= as_of,
            )
            for case_id, at in self.conn.execute(stmt):
                stamp = _stamp(at)
                if case_id not in sent or stamp < sent[case_id]:
                    sent[case_id] = stamp
        return sent

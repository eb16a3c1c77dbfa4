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
    return datetime.fromisoformat(raw + "+00:00")  # SQLite's naive UTC text (5x a .replace)


class ReportReads:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"

    def _instant(self, column: Any) -> Any:
        # SQLite: the stored text, parsed here in one call rather than through the column type.
        return type_coerce(column, String) if self.sqlite else column

    def histories(self, as_of: datetime, before: datetime | None = None) -> Iterator[ReportEvent]:
        """Every event recorded at or before ``as_of``, in (case, seq) order, streamed; only
        cases opened before ``before`` (when given). The events are read alone, in the order of
        their (case, seq) key, and each case's reference, workflow and municipality merged in
        from a second stream of the cases in id order: a join would look them up per event."""
        E = EVENTS
        data = case((E.c.trigger.in_(DATA_TRIGGERS), E.c.data), else_=None)
        stmt = (
            select(
                E.c.case_id,
                E.c.seq,
                self._instant(E.c.occurred_at),
                E.c.actor_kind,
                E.c.trigger,
                E.c.from_state,
                E.c.to_state,
                data,
            )
            .where(E.c.occurred_at <= as_of)
            .order_by(E.c.case_id, E.c.seq)
        )
        cases = self._cases(before)
        make, stamp = ReportEvent._make, _stamp
        current: tuple[int, str, str, str] = (0, "", "", "")
        for r in self._stream(stmt):
            case_id = r[0]
            if case_id != current[0]:
                current = next((c for c in cases if c[0] >= case_id), (0, "", "", ""))
                if current[0] != case_id:
                    continue  # a case opened on or after ``before``
            yield make((case_id, current[1], current[2], current[3], r[1], stamp(r[2]), *r[3:]))

    def _cases(self, before: datetime | None) -> Iterator[tuple[int, str, str, str]]:
        C, P = CASES, POINTS
        stmt = (
            select(C.c.id, C.c.ref, C.c.workflow, P.c.municipality)
            .join_from(C, P, P.c.id == C.c.point_id)
            .order_by(C.c.id)
        )
        if before is not None:
            stmt = stmt.where(C.c.created_at < before)
        for r in self._stream(stmt):
            yield (r[0], r[1], r[2], r[3])

    def _stream(self, stmt: Any) -> Any:
        return self.conn.execution_options(stream_results=True, yield_per=20_000).execute(stmt)

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

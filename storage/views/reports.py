"""What the reports read: every case's history streamed in (case, seq) order, the port
timelines with the consent behind each change, and when the notices were sent — each as it
stood at a given moment (``as_of``: later rows are left out), so a report is reproducible."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import JSON, String, case, cast, func, or_, select, type_coerce, union
from sqlalchemy.engine import Connection

from hanport.calendar import isoformat_utc
from hanport.storage.tables import CASES, CONSENTS, EVENTS, MAIL, POINTS, PORT_EVENTS

_CHUNK = 500  # case ids per IN (…) list
# How far a case's ``updated_at`` may trail its last event (a clock stepped back); the window
# reads a case updated up to this long before it becomes relevant.
CLOCK_MARGIN = timedelta(days=1)


class Window(NamedTuple):
    """The cases a report over a period needs, chosen in SQL so that a month's report does not
    fold the whole history. A case is read when it was opened before ``opened_before`` (the
    period's end) and is live or has changed since ``active_since`` (the earliest moment the
    report looks at); or when it was opened later but a consent recorded on it says it was
    received before ``opened_before`` (a notice registered late). The rest can add nothing: an
    event of theirs in the period would have moved ``updated_at`` (which the writer sets with
    every change; ``created_at`` is the open event's moment, ``state`` the last event's).
    ``ended`` are the states after which a case takes no part in a report."""

    opened_before: datetime
    active_since: datetime
    ended: tuple[str, ...]


class ReportEvent(NamedTuple):
    """One event as the reports fold it (a tuple: there may be millions). ``detail`` is what
    the reports read of its data: for ``record_consent`` the consent's ``received_at`` (""
    when it names none), for ``schedule`` the whole data (the timers it started); else None."""

    at: datetime
    actor_kind: str
    trigger: str
    to_state: str
    detail: str | None


class CaseHistory(NamedTuple):
    """One case's events in order, with what its open event's data says: the area recorded
    (None for a history from before the open event named one: then ``municipality``, the
    point's as registered now, is all there is), whether its fields name a document (an
    automatic close) and the reason they give."""

    case_id: int
    ref: str
    workflow: str
    municipality: str
    area: str | None
    vendor: str | None
    names_document: bool
    reason: str | None
    events: list[ReportEvent]


class PortRow(NamedTuple):
    """A change of a point's port, with when the consent it names ended (None: live then)."""

    point_id: int
    municipality: str
    at: datetime
    state: str
    consent_id: int | None
    consent_ended_at: datetime | None
    case_ref: str | None


def _history(r: Any, events: list[ReportEvent]) -> CaseHistory:
    return CaseHistory(r[0], r[1], r[2], r[3], r[9], r[10], bool(r[11]), r[12], events)


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

    def histories(self, as_of: datetime, window: Window | None = None) -> Iterator[CaseHistory]:
        """Every case's events recorded at or before ``as_of``, one case at a time in id order,
        streamed; only the cases ``window`` selects (when given). One statement, with the
        cases in the outer loop: each case's reference, workflow and municipality are looked
        up once, its events read in the order of their (case, seq) key. Of the event data only
        the few values the reports use are read, extracted in SQL (most of a history's bytes
        are data no report needs)."""
        C, P, E = CASES, POINTS, EVENTS
        stmt = (
            select(
                C.c.id,
                C.c.ref,
                C.c.workflow,
                P.c.municipality,
                self._instant(E.c.occurred_at),
                E.c.actor_kind,
                E.c.trigger,
                E.c.to_state,
                *self._details(),
            )
            .join_from(C, P, P.c.id == C.c.point_id)
            .join(E, E.c.case_id == C.c.id)
            .where(E.c.occurred_at <= as_of)
            .order_by(C.c.id, E.c.seq)
        )
        if window is not None:
            stmt = stmt.where(C.c.id.in_(self._chosen(window, as_of)))
        stamp, event = self._stamper(), ReportEvent
        head: Any = None
        events: list[ReportEvent] = []
        for r in self._stream(stmt):
            if head is None or r[0] != head[0]:
                if head is not None:
                    yield _history(head, events)
                head, events = r, []
            events.append(event(stamp(r[4]), r[5], r[6], r[7], r[8]))
        if head is not None:
            yield _history(head, events)

    def _details(self) -> tuple[Any, ...]:
        """An event's ``detail``, then the open event's area, vendor, whether its fields name
        a document, and its reason (NULL for the other events)."""
        E = EVENTS
        is_open = E.c.trigger == "open"
        received = func.coalesce(self._json("fields", "received_at"), "")
        return (
            case(
                (E.c.trigger == "record_consent", received),
                (E.c.trigger == "schedule", E.c.data),
                else_=None,
            ),
            case((is_open, self._json("area", "name")), else_=None),
            case((is_open, self._json("area", "vendor")), else_=None),
            case((is_open, self._json_has("fields", "document_id")), else_=None),
            case((is_open, self._json("fields", "reason")), else_=None),
        )

    def _json(self, *path: str) -> Any:
        """The text at ``path`` in an event's data (NULL when absent)."""
        if self.sqlite:
            return func.json_extract(EVENTS.c.data, "$." + ".".join(path))
        return func.json_extract_path_text(cast(EVENTS.c.data, JSON), *path)

    def _json_has(self, *path: str) -> Any:
        """Whether an event's data has a value (JSON null included) at ``path``."""
        if self.sqlite:
            return func.json_type(EVENTS.c.data, "$." + ".".join(path)).is_not(None)
        return func.json_extract_path(cast(EVENTS.c.data, JSON), *path).is_not(None)

    def _stamper(self) -> Callable[[Any], datetime]:
        if self.sqlite:
            parse = datetime.fromisoformat
            return lambda raw: parse(raw + "+00:00")  # naive UTC text (5x a .replace)
        return _stamp

    def _chosen(self, w: Window, as_of: datetime) -> Any:
        """The ids of the cases ``w`` selects, as a sub-select (see ``Window``)."""
        C, E = CASES, EVENTS
        opened = select(C.c.id).where(
            C.c.created_at < w.opened_before,
            C.c.created_at <= as_of,
            or_(C.c.updated_at >= w.active_since - CLOCK_MARGIN, C.c.state.not_in(w.ended)),
        )
        later = select(C.c.id).where(C.c.created_at >= w.opened_before, C.c.created_at <= as_of)
        bound = isoformat_utc(w.opened_before + CLOCK_MARGIN)
        late = select(E.c.case_id).where(
            E.c.case_id.in_(later),
            E.c.trigger == "record_consent",
            E.c.occurred_at <= as_of,
            # UTC ISO 8601 text, as the fields are cleaned: compared as text, with a day's
            # margin for any other offset.
            self._json("fields", "received_at") < bound,
        )
        return union(opened, late)

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

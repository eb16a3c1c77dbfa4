"""One chunk of the terminations file: its rows checked, decided and recorded together.

A chunk loads in one read everything its rows may touch — their metering points with the
active cases on them, the documents already seen (and the cases of the ones a rollback names),
the customers involved — then decides every row into one decision, which the writer persists
with the rows' ``batch_documents`` records: one write, one commit per chunk. Rows are decided in
file order against what the earlier rows of the chunk did (a second close for a point is a
no-op). With ``per_row`` each row is decided and written on its own, so a row the engine
refuses is rejected alone (the fallback when a chunk is refused).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

from hanport.adapters.csvfile import BadRow, Rejected, Row
from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.identifiers import InvalidIdentifier, validate_gsrn
from hanport.service import ledgers, load
from hanport.service.policy import decision_for
from hanport.service.writer import write
from hanport.storage.repositories.batch import DocumentRow, Recorded
from hanport.storage.uow import Repositories
from hanport.workflows import terminations
from hanport.workflows.definition import Actor
from hanport.workflows.errors import Refusal
from hanport.workflows.model import Case, Customer, Point

HEADER = (
    "document_id",
    "metering_point_id",
    "event",
    "brs_code",
    "effective_at",
    "customer_id",
    "rollback_of",
)
EVENTS = ("move_out", "end_of_supply", "move_in", "rollback")
BATCH_ACTOR = Actor.system("batch")


def _instant(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRow(f"{name}: {text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise BadRow(f"{name}: {text!r} has no offset (Elhub instants carry one, e.g. +01:00)")
    return value


@dataclass
class Outcome:
    """One row's outcome (a case it opened or cancelled, when it did)."""

    number: int
    document_id: str
    outcome: str  # applied | noop | rejected
    detail: str
    case: Case | None = None
    raw: str = ""


@dataclass
class Chunk:
    """Deciding one chunk's rows (see the module docstring)."""

    app: App
    uow: Repositories
    now: datetime
    run_id: int | None
    per_row: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    _records: list[tuple[Outcome, dict[str, str], bool]] = field(default_factory=list)

    def run(self, items: list[Row | Rejected]) -> list[Outcome]:
        rows_ = [i for i in items if isinstance(i, Row)]
        self.known = self.uow.batch.documents(
            [r.values["document_id"] for r in rows_ if r.values["document_id"]]
        )
        self._fresh([] if self.per_row else rows_)
        for item in items:
            if isinstance(item, Rejected):
                self.outcomes.append(
                    Outcome(item.number, "", "rejected", item.reason, raw=item.raw)
                )
                continue
            self._row(item)
            if self.per_row:
                self._flush()
                self._fresh([])
        self._flush()
        return self.outcomes

    def _fresh(self, rows_: list[Row]) -> None:
        """A new decision with the facts of ``rows_`` loaded (per row: loaded row by row)."""
        self.decision = decision_for(self.app, BATCH_ACTOR, self.now, self.uow)
        self.customers: dict[str, Customer | None] = {}
        self.targets: dict[str, DocumentRow] = {}
        self.opened: dict[str, Case] = {}  # documents of this decision and their cases
        self.points: dict[str, Point] = {}  # the loaded points by GSRN
        self.holders: dict[int, Customer] = {}  # their registered customers not named in rows
        if rows_:
            self._load(rows_)

    def _load(self, rows_: list[Row]) -> None:
        gsrns = set()
        for r in rows_:
            with contextlib.suppress(InvalidIdentifier):  # reported when the row is checked
                gsrns.add(validate_gsrn(r.values["metering_point_id"]))
        load.into(self.decision, self.uow.cases.load("gsrn", sorted(gsrns)))
        targets = self.uow.batch.documents(
            [r.values["rollback_of"] for r in rows_ if r.values["rollback_of"]]
        )
        self.targets.update(targets)
        case_ids = sorted({d.case_id for d in targets.values() if d.case_id is not None})
        load.into(self.decision, self.uow.cases.load("id", case_ids))
        ids = sorted({r.values["customer_id"] for r in rows_ if r.values["customer_id"]})
        for cid, row in self.uow.customers.by_ids(ids).items():
            self.customers[cid] = load.customer(row)
        self.points = {p.gsrn: p for p in self.decision.points.values()}
        # The points' registered customers, who may be the ones a close is for.
        known = {c.pk for c in self.customers.values() if c is not None}
        holders = {p.customer_pk for p in self.points.values() if p.customer_pk is not None}
        for pk, row in self.uow.customers.by_pks(sorted(holders - known)).items():
            self.holders[pk] = load.customer(row)

    # --- one row ----------------------------------------------------------------------------

    def _row(self, item: Row) -> None:
        v = item.values
        doc_id = v["document_id"]
        raw = ";".join(v[h] for h in HEADER)
        seen = self.known.get(doc_id)
        req_hash = ledgers.bare_document(v)
        if seen is not None and seen.outcome in ("applied", "noop"):
            if ledgers.same(self.app, seen.request_hash, req_hash):
                detail = (
                    f"document already {seen.outcome} (row {seen.row_number} of run {seen.run_id})"
                )
                self.outcomes.append(Outcome(item.number, doc_id, "noop", detail))
            else:
                reason = "document_id was already used for a different document"
                self.outcomes.append(Outcome(item.number, doc_id, "rejected", reason, raw=raw))
            return
        if self.per_row:
            self._load([item])
        try:
            out = self._decide(item)
        except (BadRow, Refusal) as exc:
            if isinstance(exc, Refusal) and not self.per_row:
                raise Refused(str(exc)) from None
            out = Outcome(item.number, doc_id, "rejected", str(exc), raw=raw)
        self.outcomes.append(out)
        if doc_id and len(doc_id) <= 64:
            self._records.append((out, v, seen is not None))
            self.known[doc_id] = DocumentRow(
                doc_id, self.run_id, item.number, v["event"], out.outcome, None, req_hash
            )

    def _point(self, v: dict[str, str]) -> Point:
        try:
            gsrn = validate_gsrn(v["metering_point_id"])
        except InvalidIdentifier as exc:
            raise BadRow(f"metering_point_id: {exc}") from None
        point = self.points.get(gsrn)
        if point is None:
            raise BadRow(f"metering_point_id: metering point {gsrn} is not registered")
        return point

    def _decide(self, item: Row) -> Outcome:
        v = item.values
        if not v["document_id"]:
            raise BadRow("document_id is empty")
        if len(v["document_id"]) > 64:
            raise BadRow("document_id is longer than 64 characters")
        if v["event"] not in EVENTS:
            raise BadRow(f"event: {v['event']!r} is not one of {', '.join(EVENTS)}")
        point = self._point(v)
        if v["event"] == "rollback":
            return self._rollback(item)
        if v["rollback_of"]:
            raise BadRow(
                f"rollback_of: only a rollback names another document (event {v['event']})"
            )
        if not v["effective_at"]:
            raise BadRow("effective_at is empty")
        effective_at = _instant(v["effective_at"], "effective_at")
        if not v["customer_id"]:
            raise BadRow("customer_id is empty")
        named = self.customers.get(v["customer_id"])
        if named is None and v["event"] != "move_in":
            raise BadRow(f"customer_id: customer {v['customer_id']} is not registered")
        return self._close(item, point, named, effective_at)

    def _close(
        self, item: Row, point: Point, named: Customer | None, effective_at: datetime
    ) -> Outcome:
        v, d = item.values, self.decision
        consent = d.consents.get(point.consent_id) if point.consent_id else None
        c = terminations.who_closes(
            point, consent, d.others_on(point), v["event"], named.pk if named else None
        )
        if c.customer_pk is None:
            return Outcome(item.number, v["document_id"], "noop", c.detail)
        holder = self._customer(c.customer_pk)
        data = {"document_id": v["document_id"], "brs_code": v["brs_code"]}
        case = terminations.open_auto_close(d, point, holder, v["event"], effective_at, data)
        self.opened[v["document_id"]] = case
        when = "now" if case.state != "scheduled" else f"at {v['effective_at']}"
        return Outcome(
            item.number, v["document_id"], "applied", f"{c.detail}: {{ref}} closes {when}", case
        )

    def _customer(self, pk: int) -> Customer:
        if pk in self.holders:
            return self.holders[pk]
        for cust in self.customers.values():
            if cust is not None and cust.pk == pk:
                return cust
        return load.customer_of(self.uow, self.decision, pk)

    def _rollback(self, item: Row) -> Outcome:
        v = item.values
        if not v["rollback_of"]:
            raise BadRow("rollback_of: a rollback must name the document it rolls back")
        if v["effective_at"]:
            _instant(v["effective_at"], "effective_at")
        target = self.known.get(v["rollback_of"]) or self.targets.get(v["rollback_of"])
        if target is None:
            raise BadRow(f"rollback_of: document {v['rollback_of']} has not been seen")
        case = self.opened.get(v["rollback_of"]) or next(
            (c for c in self.decision.loaded if c.id == target.case_id), None
        )
        if target.outcome != "applied" or case is None:
            return Outcome(
                item.number,
                v["document_id"],
                "noop",
                f"nothing to roll back: {target.document_id} was {target.outcome}",
            )
        effective = case.data.get("effective_at")
        took_effect = effective is not None and datetime.fromisoformat(effective) <= self.now
        if case.state != "scheduled" or took_effect:
            # At effective_at the consent ends and the close goes out — even if the timer has
            # not fired yet: the rollback came too late.
            detail = (
                f"too late to roll back {case.ref} ({case.state}): the close took effect at "
                f"{effective}; the port stays closed (the customer can order a new opening)"
            )
            return Outcome(item.number, v["document_id"], "noop", detail, case)
        self.decision.fire(case, "rollback", {}, extra={"document_id": v["document_id"]})
        detail = f"{case.ref} cancelled: the move or termination was rolled back"
        return Outcome(item.number, v["document_id"], "applied", detail, case)

    # --- writing ----------------------------------------------------------------------------

    def _flush(self) -> None:
        write(self.app, self.uow, self.decision)
        records = []
        for out, v, existing in self._records:
            case = out.case
            if case is not None:
                out.detail = out.detail.replace("{ref}", str(case.ref))
            records.append(
                Recorded(
                    v["document_id"],
                    self.run_id,
                    out.number,
                    v.get("event", "")[:32],
                    v.get("metering_point_id", "")[:32] or None,
                    out.outcome,
                    out.detail,
                    int(case.id) if case is not None else None,
                    ledgers.keyed(self.app, ledgers.bare_document(v)),
                    self.now,
                    existing,
                )
            )
        self.uow.batch.record(records)
        self._records = []

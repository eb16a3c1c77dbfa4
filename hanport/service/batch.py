"""The nightly batch: terminations and moves from the Elhub-derived file (shared/domain.md).

Rows are applied in file order. Every row ends ``applied``, ``noop`` or ``rejected``, and the
counts add up to the rows read. A document applied (or found to be a no-op) is never applied
again; a rejected one may come back after the registry is fixed. Each chunk of rows is one
transaction holding both the rows' effects and their ``batch_documents`` records, so a crash
anywhere leaves a state from which rerunning the same file completes exactly once.

``--dry-run`` runs the very same code in one transaction that is rolled back at the end, so its
summary is the one the real run then produces.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from hanport.adapters.csvfile import BadRow, Rejected, Row, rows, scan
from hanport.bootstrap import App
from hanport.errors import Conflict, Refused
from hanport.identifiers import InvalidIdentifier, validate_gsrn
from hanport.retry import on_conflict
from hanport.service import autoclose, roles
from hanport.service.cases import transaction
from hanport.service.casework import Actor, Work, apply, finish
from hanport.storage import repository as repo
from hanport.storage.tables import BatchDocument, BatchFile, BatchRun

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
CHUNK = 500
BATCH_ACTOR = Actor.system("batch")

DOCS = BatchDocument.__table__  # type: ignore[attr-defined]
RUNS = BatchRun.__table__  # type: ignore[attr-defined]
FILES = BatchFile.__table__  # type: ignore[attr-defined]


@dataclass
class BatchReport:
    file: str
    file_hash: str = ""
    dry_run: bool = False
    run_id: int | None = None
    rows: int = 0
    applied: int = 0
    noop: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    # Every row's outcome when asked (``details``); otherwise only the rejected rows, so memory
    # stays flat however long the file.
    details: bool = False
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def count(self, outcome: str, row: int, document: str, detail: str, case: str | None) -> None:
        self.rows += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if self.details or outcome == "rejected":
            self.outcomes.append(
                {
                    "row": row,
                    "document_id": document,
                    "outcome": outcome,
                    "detail": detail,
                    "case": case,
                }
            )

    def summary(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "file_hash": self.file_hash,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "rows": self.rows,
            "applied": self.applied,
            "noop": self.noop,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
        }


# --- validation (no writes) -------------------------------------------------------------------


def _instant(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadRow(f"{name}: {text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        raise BadRow(f"{name}: {text!r} has no offset (Elhub instants carry one, e.g. +01:00)")
    return value


def _request_hash(values: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


@dataclass
class Doc:
    number: int
    values: dict[str, str]
    hash: str
    point: dict[str, Any] | None = None
    effective_at: datetime | None = None
    customer_pk: int | None = None


def _validate(conn: Connection, row: Row, points: dict[str, dict[str, Any]]) -> Doc:
    v = row.values
    doc = Doc(row.number, v, _request_hash(v))
    if not v["document_id"]:
        raise BadRow("document_id is empty")
    if len(v["document_id"]) > 64:
        raise BadRow("document_id is longer than 64 characters")
    if v["event"] not in EVENTS:
        raise BadRow(f"event: {v['event']!r} is not one of {', '.join(EVENTS)}")
    try:
        gsrn = validate_gsrn(v["metering_point_id"])
    except InvalidIdentifier as exc:
        raise BadRow(f"metering_point_id: {exc}") from None
    doc.point = points.get(gsrn)
    if doc.point is None:
        raise BadRow(f"metering_point_id: metering point {gsrn} is not registered")
    if v["event"] == "rollback":
        if not v["rollback_of"]:
            raise BadRow("rollback_of: a rollback must name the document it rolls back")
        if v["effective_at"]:
            doc.effective_at = _instant(v["effective_at"], "effective_at")
        return doc
    if v["rollback_of"]:
        raise BadRow(f"rollback_of: only a rollback names another document (event {v['event']})")
    if not v["effective_at"]:
        raise BadRow("effective_at is empty")
    doc.effective_at = _instant(v["effective_at"], "effective_at")
    if not v["customer_id"]:
        raise BadRow("customer_id is empty")
    customer = repo.customer_by_id(conn, v["customer_id"])
    if customer is None and v["event"] != "move_in":
        raise BadRow(f"customer_id: customer {v['customer_id']} is not registered")
    doc.customer_pk = customer["id"] if customer else None  # a newcomer may be unknown yet
    return doc


# --- applying one document --------------------------------------------------------------------


Outcome = tuple[str, str, int | None, str | None]  # outcome, detail, case id, case ref


def _apply(app: App, conn: Connection, now: datetime, doc: Doc) -> Outcome:
    """What a valid document does."""
    v = doc.values
    assert doc.point is not None
    if v["event"] == "rollback":
        return _rollback(app, conn, now, doc)
    d = autoclose.decide(conn, doc.point, v["event"], doc.customer_pk)
    if d.close_for is None:
        return "noop", d.detail, None, None
    assert doc.effective_at is not None
    work = autoclose.open_auto_close(
        app,
        conn,
        BATCH_ACTOR,
        now,
        doc.point,
        d.close_for,
        v["event"],
        doc.effective_at,
        {"document_id": v["document_id"], "brs_code": v["brs_code"]},
    )
    when = "now" if work.case.state != "scheduled" else f"at {v['effective_at']}"
    return "applied", f"{d.detail}: {work.case.ref} closes {when}", work.case.id, work.case.ref


def _rollback(app: App, conn: Connection, now: datetime, doc: Doc) -> Outcome:
    target = (
        conn.execute(select(DOCS).where(DOCS.c.document_id == doc.values["rollback_of"]))
        .mappings()
        .first()
    )
    if target is None:
        raise BadRow(f"rollback_of: document {doc.values['rollback_of']} has not been seen")
    if target["outcome"] != "applied" or target["case_id"] is None:
        return (
            "noop",
            f"nothing to roll back: {target['document_id']} was {target['outcome']}",
            None,
            None,
        )
    case = repo.case_by_pk(conn, target["case_id"])
    assert case is not None
    effective = json.loads(case["data"]).get("effective_at")
    took_effect = effective is not None and datetime.fromisoformat(effective) <= now
    if case["state"] != "scheduled" or took_effect:
        # At effective_at the consent ends and the close goes out — even if the timer has not
        # fired yet: the rollback came too late.
        return (
            "noop",
            f"too late to roll back {case['ref']} ({case['state']}): the close took effect at "
            f"{effective}; the port stays closed (the customer can order a new opening)",
            case["id"],
            case["ref"],
        )
    work = Work.for_row(app, conn, BATCH_ACTOR, now, case)
    apply(work, "rollback", {}, extra={"document_id": doc.values["document_id"]})
    finish(work)
    return (
        "applied",
        f"{case['ref']} cancelled: the move or termination was rolled back",
        case["id"],
        case["ref"],
    )


# --- the run ----------------------------------------------------------------------------------


_INSERT_DOC = insert(DOCS)
_UPDATE_DOC = (
    update(DOCS)
    .where(DOCS.c.document_id == bindparam("w_doc"))
    .values(
        {
            c: bindparam(c)
            for c in (
                "run_id",
                "row_number",
                "event",
                "gsrn",
                "outcome",
                "detail",
                "case_id",
                "request_hash",
                "recorded_at",
            )
        }
    )
)


def _record(
    conn: Connection,
    run_id: int | None,
    doc_id: str,
    number: int,
    values: dict[str, str],
    req_hash: str,
    outcome: str,
    detail: str,
    case_id: int | None,
    now: datetime,
    existing: bool,
) -> None:
    row = {
        "run_id": run_id,
        "row_number": number,
        "event": values.get("event", "")[:32],
        "gsrn": values.get("metering_point_id", "")[:32] or None,
        "outcome": outcome,
        "detail": detail,
        "case_id": case_id,
        "request_hash": req_hash,
        "recorded_at": now,
    }
    if existing:
        conn.execute(_UPDATE_DOC, {"w_doc": doc_id, **row})
    else:
        conn.execute(_INSERT_DOC, {"document_id": doc_id, **row})


def _chunk(
    app: App,
    conn: Connection,
    items: list[Row | Rejected],
    run_id: int | None,
    now: datetime,
    safe: bool,
    report: BatchReport,
    rejects: list[tuple[int, str, str]],
) -> None:
    rows_ = [i for i in items if isinstance(i, Row)]
    gsrns = set()
    for r in rows_:
        with contextlib.suppress(InvalidIdentifier):  # reported when the row is validated
            gsrns.add(validate_gsrn(r.values["metering_point_id"]))
    points = {
        p["gsrn"]: dict(p)
        for p in conn.execute(select(repo.POINTS).where(repo.POINTS.c.gsrn.in_(gsrns))).mappings()
    }
    ids = {r.values["document_id"] for r in rows_ if r.values["document_id"]}
    known = {
        d["document_id"]: dict(d)
        for d in conn.execute(select(DOCS).where(DOCS.c.document_id.in_(ids))).mappings()
    }
    for item in items:
        if isinstance(item, Rejected):
            report.count("rejected", item.number, "", item.reason, None)
            rejects.append((item.number, item.reason, item.raw))
            continue
        v = item.values
        doc_id = v["document_id"]
        raw = ";".join(v[h] for h in HEADER)
        seen = known.get(doc_id)
        req_hash = _request_hash(v)
        if seen is not None and seen["outcome"] in ("applied", "noop"):
            if seen["request_hash"] == req_hash:
                report.count(
                    "noop",
                    item.number,
                    doc_id,
                    f"document already {seen['outcome']} (row {seen['row_number']} of run {seen['run_id']})",
                    None,
                )
            else:
                reason = "document_id was already used for a different document"
                report.count("rejected", item.number, doc_id, reason, None)
                rejects.append((item.number, reason, raw))
            continue
        try:
            doc = _validate(conn, item, points)
            if safe:
                with conn.begin_nested():
                    outcome, detail, case_id, case_ref = _apply(app, conn, now, doc)
            else:
                outcome, detail, case_id, case_ref = _apply(app, conn, now, doc)
        except (BadRow, Refused) as exc:
            if isinstance(exc, Refused) and not safe:
                raise
            outcome, detail, case_id, case_ref = "rejected", str(exc), None, None
            rejects.append((item.number, detail, raw))
        if len(doc_id) <= 64 and doc_id:
            _record(
                conn,
                run_id,
                doc_id,
                item.number,
                v,
                req_hash,
                outcome,
                detail,
                case_id,
                now,
                seen is not None,
            )
            known[doc_id] = {
                "document_id": doc_id,
                "outcome": outcome,
                "request_hash": req_hash,
                "row_number": item.number,
                "run_id": run_id,
            }
        report.count(outcome, item.number, doc_id, detail, case_ref)


def _chunks(items: Iterable[Row | Rejected], size: int) -> Iterator[list[Row | Rejected]]:
    chunk: list[Row | Rejected] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_terminations(
    app: App,
    actor: Actor,
    path: Path,
    *,
    dry_run: bool = False,
    details: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BatchReport:
    """Apply the terminations file at ``path`` (or, with ``dry_run``, say what it would do)."""
    roles.require_writer(actor)
    digest = scan(path).digest
    report = BatchReport(str(path), digest, dry_run, details=details)
    items = rows(path, HEADER)
    first = next(items)  # checks the header and that there is a row, before anything is written
    now = app.clock.now()
    rejects: list[tuple[int, str, str]] = []

    def all_items() -> Iterator[Row | Rejected]:
        yield first
        yield from items

    if dry_run:
        with transaction(app) as uow:  # never committed
            run_id = _new_run(uow.conn, path, digest, now, actor)
            for chunk in _chunks(all_items(), CHUNK):
                _dry_chunk(app, uow.conn, chunk, run_id, now, report, rejects)
                if progress:
                    progress(len(chunk))
        return report

    with transaction(app) as uow:
        run_id = repo.insert_row(
            uow.conn,
            RUNS,
            kind="terminations",
            file_name=path.name,
            file_hash=digest,
            started_at=now,
            actor=actor.name,
        )
        uow.commit()
    report.run_id = run_id
    for chunk in _chunks(all_items(), CHUNK):
        _commit_chunk(app, chunk, run_id, now, report, rejects)
        if progress:
            progress(len(chunk))

    def finished() -> None:
        with transaction(app) as uow:
            uow.conn.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(
                    finished_at=app.clock.now(),
                    rows_read=report.rows,
                    applied=report.applied,
                    noop=report.noop,
                    rejected=report.rejected,
                )
            )
            uow.commit()

    on_conflict(finished)
    if rejects:
        report.rejects_file = str(_write_rejects(path, rejects))
    return report


def _new_run(conn: Connection, path: Path, digest: str, now: datetime, actor: Actor) -> int:
    return repo.insert_row(
        conn,
        RUNS,
        kind="terminations",
        file_name=path.name,
        file_hash=digest,
        started_at=now,
        actor=actor.name,
    )


def _commit_chunk(
    app: App,
    chunk: list[Row | Rejected],
    run_id: int,
    now: datetime,
    report: BatchReport,
    rejects: list[tuple[int, str, str]],
) -> None:
    from hanport.retry import on_conflict

    def attempt(safe: bool) -> tuple[BatchReport, list[tuple[int, str, str]]]:
        part = BatchReport(report.file, details=report.details)
        part_rejects: list[tuple[int, str, str]] = []
        with transaction(app) as uow:
            _chunk(app, uow.conn, chunk, run_id, now, safe, part, part_rejects)
            uow.commit()
        return part, part_rejects

    try:
        part, part_rejects = on_conflict(lambda: attempt(False))
    except (Refused, Conflict):
        part, part_rejects = on_conflict(lambda: attempt(True))
    _merge(report, part)
    rejects.extend(part_rejects)


def _dry_chunk(
    app: App,
    conn: Connection,
    chunk: list[Row | Rejected],
    run_id: int,
    now: datetime,
    report: BatchReport,
    rejects: list[tuple[int, str, str]],
) -> None:
    """A chunk inside the dry run's one transaction: a savepoint stands in for the commit."""
    part, part_rejects = (
        BatchReport(report.file, details=report.details),
        list[tuple[int, str, str]](),
    )
    try:
        with conn.begin_nested():
            _chunk(app, conn, chunk, run_id, now, False, part, part_rejects)
    except Refused:
        part, part_rejects = BatchReport(report.file, details=report.details), []
        with conn.begin_nested():
            _chunk(app, conn, chunk, run_id, now, True, part, part_rejects)
    _merge(report, part)
    rejects.extend(part_rejects)


def _merge(report: BatchReport, part: BatchReport) -> None:
    report.rows += part.rows
    report.applied += part.applied
    report.noop += part.noop
    report.rejected += part.rejected
    report.outcomes.extend(part.outcomes)


def _write_rejects(path: Path, rejects: list[tuple[int, str, str]]) -> Path:
    out = path.with_name(path.name + ".rejects.csv")
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\n")
        w.writerow(["row", "reason", *HEADER])
        for number, reason, raw in rejects:
            w.writerow([number, reason, *raw.split(";")])
    return out

"""The nightly batch: terminations and moves from the Elhub-derived file (see docs/domain.md).

Rows are applied in file order. Every row ends ``applied``, ``noop`` or ``rejected``, and the
counts add up to the rows read. A document applied (or found to be a no-op) is never applied
again; a rejected one may come back after the registry is fixed. Each chunk of rows is one
transaction holding both the rows' effects and their ``batch_documents`` records, so a crash
anywhere leaves a state from which rerunning the same file completes exactly once.

``--dry-run`` runs the very same code in one transaction that is rolled back at the end, so its
summary is the one the real run then produces.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hanport import failpoints
from hanport.adapters.csvfile import Rejected, Row, rows, scan
from hanport.bootstrap import App
from hanport.errors import Conflict, Refused
from hanport.retry import on_conflict
from hanport.service import roles
from hanport.service.commands import RunTerminations
from hanport.service.termination_rows import BATCH_ACTOR, HEADER, Chunk, Outcome
from hanport.service.unit import transaction
from hanport.storage.uow import UnitOfWork
from hanport.workflows.definition import Actor

CHUNK = 500

__all__ = ["BATCH_ACTOR", "HEADER", "BatchReport", "run_terminations"]


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
    rejects: list[tuple[int, str, str]] = field(default_factory=list, repr=False)

    def count(self, o: Outcome) -> None:
        self.rows += 1
        setattr(self, o.outcome, getattr(self, o.outcome) + 1)
        if self.details or o.outcome == "rejected":
            self.outcomes.append(
                {
                    "row": o.number,
                    "document_id": o.document_id,
                    "outcome": o.outcome,
                    "detail": o.detail,
                    "case": str(o.case.ref) if o.case is not None else None,
                }
            )
        if o.outcome == "rejected":
            self.rejects.append((o.number, o.detail, o.raw))

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


def _chunks(items: Iterable[Row | Rejected], size: int) -> Iterator[list[Row | Rejected]]:
    chunk: list[Row | Rejected] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_terminations(app: App, actor: Actor, cmd: RunTerminations) -> BatchReport:
    """Apply the terminations file (or, with ``dry_run``, say what it would do)."""
    roles.require_writer(actor)
    path = cmd.path
    digest = scan(path).digest
    report = BatchReport(str(path), digest, cmd.dry_run, details=cmd.details)
    items = rows(path, HEADER)
    first = next(items)  # checks the header and that there is a row, before anything is written
    now = app.clock.now()

    def all_items() -> Iterator[Row | Rejected]:
        yield first
        yield from items

    if cmd.dry_run:
        with transaction(app) as uow:  # never committed
            run_id = uow.batch.new_run(path.name, digest, now, actor.name)
            for chunk in _chunks(all_items(), CHUNK):
                _dry_chunk(app, uow, chunk, run_id, now, report)
                if cmd.progress:
                    cmd.progress(len(chunk))
        return report

    report.run_id = on_conflict(lambda: _new_run(app, path, digest, now, actor))
    failpoints.reached(app, "batch.run_started")
    for chunk in _chunks(all_items(), CHUNK):
        _commit_chunk(app, chunk, report.run_id, now, report)
        if cmd.progress:
            cmd.progress(len(chunk))
    on_conflict(lambda: _finish_run(app, report))
    failpoints.reached(app, "batch.run_finished")
    if report.rejects:
        report.rejects_file = str(_write_rejects(path, report.rejects))
    return report


def _new_run(app: App, path: Path, digest: str, now: datetime, actor: Actor) -> int:
    with transaction(app) as uow:
        run_id = uow.batch.new_run(path.name, digest, now, actor.name)
        uow.commit()
    return run_id


def _finish_run(app: App, report: BatchReport) -> None:
    assert report.run_id is not None
    with transaction(app) as uow:
        counts = (report.rows, report.applied, report.noop, report.rejected)
        uow.batch.finish_run(report.run_id, app.clock.now(), counts)
        uow.commit()


def _decide(
    app: App,
    uow: UnitOfWork,
    chunk: list[Row | Rejected],
    run_id: int,
    now: datetime,
    per_row: bool,
) -> list[Outcome]:
    return Chunk(app, uow, now, run_id, per_row=per_row).run(chunk)


def _commit_chunk(
    app: App, chunk: list[Row | Rejected], run_id: int, now: datetime, report: BatchReport
) -> None:
    def attempt(per_row: bool) -> list[Outcome]:
        with transaction(app) as uow:
            outcomes = _decide(app, uow, chunk, run_id, now, per_row)
            failpoints.reached(app, "batch.before_chunk_commit")
            uow.commit()
        failpoints.reached(app, "batch.chunk_committed")
        return outcomes

    try:
        outcomes = on_conflict(lambda: attempt(False))
    except (Refused, Conflict):
        outcomes = on_conflict(lambda: attempt(True))
    for o in outcomes:
        report.count(o)


def _dry_chunk(
    app: App,
    uow: UnitOfWork,
    chunk: list[Row | Rejected],
    run_id: int,
    now: datetime,
    report: BatchReport,
) -> None:
    """A chunk inside the dry run's one transaction: a savepoint stands in for the commit."""
    try:
        with uow.conn.begin_nested():
            outcomes = _decide(app, uow, chunk, run_id, now, False)
    except Refused:
        with uow.conn.begin_nested():
            outcomes = _decide(app, uow, chunk, run_id, now, True)
    for o in outcomes:
        report.count(o)


def _write_rejects(path: Path, rejects: list[tuple[int, str, str]]) -> Path:
    out = path.with_name(path.name + ".rejects.csv")
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\n")
        w.writerow(["row", "reason", *HEADER])
        for number, reason, raw in rejects:
            w.writerow([number, reason, *raw.split(";")])
    return out

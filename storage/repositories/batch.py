"""The nightly batch's own records: runs, every Elhub document seen with its outcome (the
idempotency ledger of the terminations file), and the inbox files claimed by content."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from hanport.storage.sql import Driver


class DocumentRow(NamedTuple):
    document_id: str
    run_id: int | None
    row_number: int
    event: str
    outcome: str  # applied | noop | rejected
    case_id: int | None
    request_hash: str


class Recorded(NamedTuple):
    """One document's outcome, to insert (``existing`` False) or to update."""

    document_id: str
    run_id: int | None
    row_number: int
    event: str
    gsrn: str | None
    outcome: str
    detail: str
    case_id: int | None
    request_hash: str
    recorded_at: datetime
    existing: bool


class FileRow(NamedTuple):
    status: str  # running | done | refused
    claimed_by: str
    lease_until: datetime


class Batch:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def documents(self, ids: Sequence[str]) -> dict[str, DocumentRow]:
        if not ids:
            return {}
        test, params = self.db.member(ids)
        rows = self.db.all(
            "SELECT document_id, run_id, row_number, event, outcome, case_id, request_hash "
            f"FROM batch_documents WHERE document_id {test}",
            params,
        )
        return {r[0]: DocumentRow._make(r) for r in rows}

    def record(self, rows: Sequence[Recorded]) -> None:
        db = self.db
        new = [r for r in rows if not r.existing]
        seen = [r for r in rows if r.existing]
        db.executemany(
            "INSERT INTO batch_documents (document_id, run_id, row_number, event, gsrn, outcome, "
            "detail, case_id, request_hash, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r[:9], db.ts(r.recorded_at)) for r in new],
        )
        db.executemany(
            "UPDATE batch_documents SET run_id = ?, row_number = ?, event = ?, gsrn = ?, "
            "outcome = ?, detail = ?, case_id = ?, request_hash = ?, recorded_at = ? "
            "WHERE document_id = ?",
            [(*r[1:9], db.ts(r.recorded_at), r.document_id) for r in seen],
        )

    def bare(self) -> list[tuple[str, str]]:
        """(document id, digest) of the documents whose digest is not yet keyed."""
        rows = self.db.all(
            "SELECT document_id, request_hash FROM batch_documents "
            "WHERE request_hash NOT LIKE 'k:%'"
        )
        return [(str(d), str(h)) for d, h in rows]

    def rekey(self, rows: list[tuple[str, str]]) -> None:
        """Set each document's digest to its keyed one: rows of (keyed, document id)."""
        self.db.executemany(
            "UPDATE batch_documents SET request_hash = ? WHERE document_id = ?", rows
        )

    def new_run(self, file_name: str, file_hash: str, now: datetime, actor: str) -> int:
        cur = self.db.execute(
            "INSERT INTO batch_runs (kind, file_name, file_hash, started_at, rows_read, applied, "
            "noop, rejected, actor) VALUES ('terminations', ?, ?, ?, 0, 0, 0, 0, ?)"
            + ("" if self.db.sqlite else " RETURNING id"),
            (file_name, file_hash, self.db.ts(now), actor),
        )
        return int(cur.lastrowid if self.db.sqlite else cur.fetchone()[0])

    def finish_run(self, run_id: int, now: datetime, counts: Sequence[int]) -> None:
        """``counts``: rows read, applied, no-op, rejected."""
        self.db.execute(
            "UPDATE batch_runs SET finished_at = ?, rows_read = ?, applied = ?, noop = ?, "
            "rejected = ? WHERE id = ?",
            (self.db.ts(now), *counts, run_id),
        )

    # --- the inbox's files --------------------------------------------------------------------

    def file(self, digest: str) -> FileRow | None:
        r = self.db.one(
            "SELECT status, claimed_by, lease_until FROM batch_files WHERE file_hash = ?",
            (digest,),
        )
        return None if r is None else FileRow(r[0], r[1], self.db.read_ts(r[2]))  # type: ignore[arg-type]

    def finished(self, digests: list[str]) -> dict[str, datetime]:
        """When each of these files' run ended (applied or refused), by content hash."""
        if not digests:
            return {}
        test, params = self.db.member(digests)
        rows = self.db.all(
            f"SELECT file_hash, finished_at FROM batch_files WHERE file_hash {test} "
            "AND finished_at IS NOT NULL",
            params,
        )
        return {r[0]: self.db.read_ts(r[1]) for r in rows}  # type: ignore[misc]

    def claim_new_file(self, digest: str, name: str, me: str, lease_until: datetime) -> bool:
        """Claim a file never seen; False when another scheduler claimed it a moment ago."""
        db = self.db
        cur = db.execute(
            "INSERT INTO batch_files (file_hash, file_name, status, claimed_by, lease_until) "
            "VALUES (?, ?, 'running', ?, ?) ON CONFLICT (file_hash) DO NOTHING",
            (digest, name, me, db.ts(lease_until)),
        )
        return int(cur.rowcount) == 1

    def take_over_file(self, digest: str, me: str, now: datetime, lease_until: datetime) -> bool:
        """Take a running claim whose lease ran out (its holder died), or renew our own."""
        db = self.db
        return (
            db.rowcount(
                "UPDATE batch_files SET claimed_by = ?, lease_until = ? WHERE file_hash = ? "
                "AND status = 'running' AND (lease_until < ? OR claimed_by = ?)",
                (me, db.ts(lease_until), digest, db.ts(now), me),
            )
            == 1
        )

    def file_done(self, digest: str, run_id: int | None, status: str, now: datetime) -> None:
        self.db.execute(
            "UPDATE batch_files SET status = ?, run_id = ?, finished_at = ? WHERE file_hash = ?",
            (status, run_id, self.db.ts(now), digest),
        )

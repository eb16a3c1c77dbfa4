"""HES commands as decisions queue and settle them (dispatch and answers: the tick's side)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from hanport.storage.sql import Driver

HES_COLS = (
    "id, case_id, point_id, action, status, attempt, sends, adapter, not_before, created_at, "
    "sent_at, done_at, result, error, ack_due_at, ack_outcome"
)


class HesRow(NamedTuple):
    id: int
    case_id: int
    point_id: int
    action: str
    status: str
    attempt: int
    sends: int
    adapter: str | None
    not_before: datetime
    created_at: datetime
    sent_at: datetime | None
    done_at: datetime | None
    result: str | None
    error: str | None
    ack_due_at: datetime | None
    ack_outcome: str | None


class Dispatchable(NamedTuple):
    id: int
    case_id: int
    point_id: int
    action: str
    attempt: int
    sends: int
    adapter: str | None
    gsrn: str
    port: str
    consent_id: int | None
    case_ref: str
    sequence: int  # the point's n-th send this is (what a demo script counts)


class Answered(NamedTuple):
    id: int
    case_id: int
    action: str
    status: str  # sent | failed (the timeout counted it)
    attempt: int
    ack_due_at: datetime
    outcome: str  # opened | closed | failed
    error: str | None


class HesCommands:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """id, case_id, point_id, action, attempt, adapter, not_before, created_at (pending)."""
        db = self.db
        db.executemany(
            "INSERT INTO hes_commands (id, case_id, point_id, action, status, attempt, adapter, "
            "not_before, created_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            [(*r[:6], db.ts(r[6]), db.ts(r[7])) for r in rows],
        )

    def settle(self, rows: Sequence[tuple[int, str, datetime, str | None, str | None]]) -> None:
        """(id, status, when, result, error): a failure, an acknowledgement or a recall.
        ``result`` and ``error`` are kept when not given."""
        db = self.db
        db.executemany(
            "UPDATE hes_commands SET status = ?, done_at = ?, result = coalesce(?, result), "
            "error = coalesce(?, error) WHERE id = ?",
            [(status, db.ts(at), result, error, cid) for cid, status, at, result, error in rows],
        )

    def requeue(self, rows: Sequence[tuple[int, int, datetime, str]]) -> None:
        """(id, attempt, not before, error): a command goes again, in its place in the queue."""
        db = self.db
        db.executemany(
            "UPDATE hes_commands SET status = 'pending', attempt = ?, not_before = ?, "
            "done_at = NULL, ack_due_at = NULL, ack_outcome = NULL, error = ? WHERE id = ?",
            [(attempt, db.ts(nb), error, cid) for cid, attempt, nb, error in rows],
        )

    # --- dispatch and answers (the tick) --------------------------------------------------

    def supersede_stale_manual(self, now: datetime) -> None:
        """A manual command left ``sent`` by a case that has since ended (cancelled, overtaken)
        will never be acknowledged: the next command for its point supersedes it instead of
        waiting behind it forever (the caseworker acts on the newest command)."""
        self.db.execute(
            "UPDATE hes_commands SET status = 'superseded', done_at = ? "
            "WHERE status = 'sent' AND adapter = 'manual' "
            "AND case_id IN (SELECT id FROM cases WHERE NOT active) "
            "AND EXISTS (SELECT 1 FROM hes_commands later WHERE later.point_id = "
            "hes_commands.point_id AND later.status = 'pending' AND later.id > hes_commands.id)",
            (self.db.ts(now),),
        )

    def dispatchable(self, now: datetime, limit: int) -> list[Dispatchable]:
        """Pending commands that are due and first in line for their point, with nothing of the
        point's outstanding (locked on PostgreSQL, ``SKIP LOCKED``), oldest first; each with
        its point, its case's reference and the point's n-th send it would be."""
        db = self.db
        lock = "" if db.sqlite else " FOR UPDATE OF h SKIP LOCKED"
        rows = db.all(
            "SELECT h.id, h.case_id, h.point_id, h.action, h.attempt, h.sends, h.adapter, "
            "p.gsrn, p.han_port, p.consent_id, c.ref FROM hes_commands h "
            "JOIN metering_points p ON p.id = h.point_id JOIN cases c ON c.id = h.case_id "
            "WHERE h.status = 'pending' AND h.not_before <= ? "
            "AND NOT EXISTS (SELECT 1 FROM hes_commands s WHERE s.point_id = h.point_id "
            "AND s.status = 'sent') "
            "AND NOT EXISTS (SELECT 1 FROM hes_commands e WHERE e.point_id = h.point_id "
            "AND e.status = 'pending' AND e.id < h.id) "
            f"ORDER BY h.id LIMIT ?{lock}",
            (db.ts(now), limit),
        )
        out = []
        for r in rows:
            before = db.one(
                "SELECT count(*) FROM hes_commands WHERE point_id = ? AND id < ?", (r[2], r[0])
            )[0]
            out.append(Dispatchable._make((*r, int(before) + int(r[5]))))
        return out

    def mark_sent(
        self,
        command_id: int,
        now: datetime,
        sends: int,
        ack_due_at: datetime | None,
        ack_outcome: str | None,
        error: str | None,
    ) -> None:
        """Sent to the gateway, with the answer it will give and when (a command sent again
        keeps its last failure until a new one replaces it)."""
        db = self.db
        db.execute(
            "UPDATE hes_commands SET status = 'sent', sent_at = ?, sends = ?, ack_due_at = ?, "
            "ack_outcome = ?, error = coalesce(?, error) WHERE id = ?",
            (db.ts(now), sends, db.ts_or_none(ack_due_at), ack_outcome, error, command_id),
        )

    def answers_due(self, now: datetime, limit: int) -> list[int]:
        """Commands whose stored answer is due, oldest answer first."""
        return [
            r[0]
            for r in self.db.all(
                "SELECT id FROM hes_commands WHERE status IN ('sent', 'failed') "
                "AND ack_due_at IS NOT NULL AND ack_due_at <= ? ORDER BY ack_due_at, id LIMIT ?",
                (self.db.ts(now), limit),
            )
        ]

    def claim_answer(self, command_id: int) -> Answered | None:
        """Take the command's stored answer, once: None when another scheduler took it."""
        db = self.db
        lock = "" if db.sqlite else " FOR UPDATE"
        r = db.one(
            "SELECT id, case_id, action, status, attempt, ack_due_at, ack_outcome, error "
            f"FROM hes_commands WHERE id = ?{lock}",
            (command_id,),
        )
        if r is None or r[5] is None or r[3] not in ("sent", "failed"):
            return None
        db.execute("UPDATE hes_commands SET ack_due_at = NULL WHERE id = ?", (command_id,))
        return Answered._make((*r[:5], db.read_ts(r[5]), r[6], r[7]))

    def get(self, command_id: int, *, lock: bool = False) -> HesRow | None:
        db = self.db
        r = db.one(
            f"SELECT {HES_COLS} FROM hes_commands WHERE id = ?"
            + ("" if db.sqlite or not lock else " FOR UPDATE"),
            (command_id,),
        )
        if r is None:
            return None
        ts = db.read_ts
        return HesRow._make(
            (*r[:8], ts(r[8]), ts(r[9]), ts(r[10]), ts(r[11]), r[12], r[13], ts(r[14]), r[15])
        )

    def case_of(self, case_id: int) -> tuple[bool, str, str]:
        """(active, reference, state) of a command's case."""
        r = self.db.one("SELECT active, ref, state FROM cases WHERE id = ?", (case_id,))
        return bool(r[0]), r[1], r[2]

    def point_port(self, point_id: int) -> tuple[str, str]:
        """(GSRN, port state) of a point."""
        r = self.db.one("SELECT gsrn, han_port FROM metering_points WHERE id = ?", (point_id,))
        return r[0], r[1]

"""The nightly slot's batch: every new file in ``HANPORT_BATCH_INBOX`` is applied once and moved
to ``done/`` — exactly once per file even with several schedulers on one PostgreSQL, because a
file is claimed through a ``batch_files`` row keyed on its content hash before it is run. A
claim whose holder died is taken over when its lease ends; rerunning a file is safe anyway (its
documents are idempotent)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from hanport.batch import BATCH_ACTOR, FILES, run_terminations
from hanport.bootstrap import App
from hanport.commands import transaction

log = logging.getLogger("hanport.inbox")
LEASE = timedelta(hours=2)


def _claim(app: App, digest: str, name: str, now: datetime, me: str) -> bool:
    with transaction(app) as uow:
        row = uow.conn.execute(select(FILES).where(FILES.c.file_hash == digest)).mappings().first()
        if row is None:
            try:
                with uow.conn.begin_nested():
                    uow.conn.execute(
                        insert(FILES).values(
                            file_hash=digest,
                            file_name=name,
                            status="running",
                            claimed_by=me,
                            lease_until=now + LEASE,
                        )
                    )
            except IntegrityError:
                return False  # another scheduler claimed it a moment ago
            uow.commit()
            return True
        if row["status"] == "done":
            return False
        taken = uow.conn.execute(
            update(FILES)
            .where(
                and_(
                    FILES.c.file_hash == digest,
                    FILES.c.status == "running",
                    or_(FILES.c.lease_until < now, FILES.c.claimed_by == me),
                )
            )
            .values(claimed_by=me, lease_until=now + LEASE)
        ).rowcount
        uow.commit()
        return bool(taken)


def _done(app: App, digest: str, run_id: int | None) -> None:
    with transaction(app) as uow:
        uow.conn.execute(
            update(FILES)
            .where(FILES.c.file_hash == digest)
            .values(status="done", run_id=run_id, finished_at=app.clock.now())
        )
        uow.commit()


def _is_done(app: App, digest: str) -> bool:
    with app.engine.connect() as conn:
        status = conn.execute(select(FILES.c.status).where(FILES.c.file_hash == digest)).scalar()
    return status == "done"


def _move(path: Path, done: Path) -> Path:
    done.mkdir(exist_ok=True)
    target = done / path.name
    if target.exists():
        target = (
            done / f"{path.stem}.{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}{path.suffix}"
        )
    with contextlib.suppress(FileNotFoundError):  # another scheduler moved it first
        path.replace(target)
    return target


def run_inbox(app: App) -> dict[str, Any]:
    """Apply every new ``*.csv`` in the inbox, oldest name first; return what happened."""
    inbox = Path(app.settings.batch_inbox or "")
    if not app.settings.batch_inbox or not inbox.is_dir():
        log.info("batch inbox %s: not configured or missing", app.settings.batch_inbox)
        return {"files": 0}
    me = f"{socket.gethostname()}:{os.getpid()}"
    done_dir = inbox / "done"
    results: dict[str, Any] = {"files": 0, "applied": [], "skipped": []}
    for path in sorted(p for p in inbox.glob("*.csv") if not p.name.endswith(".rejects.csv")):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            continue
        if _is_done(app, digest):
            _move(path, done_dir)
            results["skipped"].append(path.name)
            continue
        if not _claim(app, digest, path.name, app.clock.now(), me):
            results["skipped"].append(path.name)
            continue
        report = run_terminations(app, BATCH_ACTOR, path)
        _done(app, digest, report.run_id)
        _move(path, done_dir)
        rejects = path.with_name(path.name + ".rejects.csv")
        if rejects.exists():
            _move(rejects, done_dir)
        log.info("batch %s: %s", path.name, report.summary())
        results["files"] += 1
        results["applied"].append(report.summary())
    return results

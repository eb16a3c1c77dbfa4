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

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.retry import on_conflict
from hanport.service import run
from hanport.service.commands import RunTerminations
from hanport.service.termination_rows import BATCH_ACTOR
from hanport.service.unit import transaction

log = logging.getLogger("hanport.entrypoints.inbox")
LEASE = timedelta(hours=2)


def _claim(app: App, digest: str, name: str, now: datetime, me: str) -> bool:
    with transaction(app) as uow:
        row = uow.batch.file(digest)
        if row is None:
            taken = uow.batch.claim_new_file(digest, name, me, now + LEASE)
        elif row.status in ("done", "refused"):
            return False
        else:
            taken = uow.batch.take_over_file(digest, me, now, now + LEASE)
        uow.commit()
        return taken


def _done(app: App, digest: str, run_id: int | None, status: str = "done") -> None:
    with transaction(app) as uow:
        uow.batch.file_done(digest, run_id, status, app.clock.now())
        uow.commit()


def _is_done(app: App, digest: str) -> bool:
    with transaction(app) as uow:
        row = uow.batch.file(digest)
    return row is not None and row.status in ("done", "refused")


def _move(path: Path, folder: Path) -> None:
    """Move ``path`` into ``folder``; another scheduler may have moved it first."""
    folder.mkdir(exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target = folder / path.name
        if target.exists():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
            target = folder / f"{path.stem}.{digest}{path.suffix}"
        path.replace(target)


def _one_file(app: App, path: Path, me: str, inbox: Path, results: dict[str, Any]) -> None:
    done_dir, failed_dir = inbox / "done", inbox / "failed"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:  # another scheduler took it
        return
    if on_conflict(lambda: _is_done(app, digest)):
        _move(path, done_dir)
        results["skipped"].append(path.name)
        return
    if not on_conflict(lambda: _claim(app, digest, path.name, app.clock.now(), me)):
        results["skipped"].append(path.name)
        return
    try:
        report = run(app, BATCH_ACTOR, RunTerminations(path))
    except Refused as exc:
        # An unusable file (not UTF-8, wrong header, …) must not hold back the others: set it
        # aside for a person, with the reason beside it.
        log.error("batch %s refused: %s", path.name, exc)
        on_conflict(lambda: _done(app, digest, None, status="refused"))
        _move(path, failed_dir)
        (failed_dir / f"{path.name}.reason.txt").write_text(f"{exc}\n", encoding="utf-8")
        results["refused"].append({"file": path.name, "reason": str(exc)})
        return
    on_conflict(lambda: _done(app, digest, report.run_id))
    _move(path, done_dir)
    rejects = path.with_name(path.name + ".rejects.csv")
    if rejects.exists():
        _move(rejects, done_dir)
    log.info("batch %s: %s", path.name, report.summary())
    results["files"] += 1
    results["applied"].append(report.summary())


def run_inbox(app: App) -> dict[str, Any]:
    """Apply every new ``*.csv`` in the inbox, oldest name first; return what happened."""
    inbox = Path(app.settings.batch_inbox or "")
    if not app.settings.batch_inbox or not inbox.is_dir():
        log.info("batch inbox %s: not configured or missing", app.settings.batch_inbox)
        return {"files": 0}
    me = f"{socket.gethostname()}:{os.getpid()}"
    results: dict[str, Any] = {"files": 0, "applied": [], "skipped": [], "refused": []}
    for path in sorted(p for p in inbox.glob("*.csv") if not p.name.endswith(".rejects.csv")):
        _one_file(app, path, me, inbox, results)
    return results

"""Retention run by the scheduler, and what it says is due: the periods are the declarative
table of :mod:`hanport.retention`; the holds that keep a subject are
:func:`hanport.service.erasure.holds`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hanport import failpoints
from hanport.adapters.batch_files import KeptFile, kept
from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Refused
from hanport.retention import periods
from hanport.service.commands import ApplyRetention
from hanport.service.erasure import ERASERS, holds
from hanport.service.unit import transaction
from hanport.storage.uow import Repositories
from hanport.storage.vacuum import checkpoint
from hanport.workflows.definition import Actor, Role


def apply_retention(app: App, actor: Actor, cmd: ApplyRetention) -> dict[str, int]:
    """Clear what the automatic periods say must go now: mail bodies, settled web forms that
    became nothing, the access log's old reads — one transaction, idempotent (what is cleared
    is not cleared again); on SQLite the WAL is emptied after it (``privacy vacuum``) — and,
    after the commit, the batch's kept files whose run ended before their period."""
    if actor.role not in (Role.SYSTEM, *ERASERS):
        raise Refused(f"retention is run by the scheduler or privacy; {actor.name} may not")
    now = app.clock.now()
    table = periods(app.settings.retention)
    out: dict[str, int] = {}
    with transaction(app, immediate=True) as uow:
        for kind, period in table.items():
            if period.automatic and kind not in ON_DISK:
                out[kind] = uow.erasures.retain(kind, period.keep.before(now), now)
        files = _files_due(app, uow, table["batch_file"].keep.before(now))
        if cmd.dry_run:
            return {**out, "batch_file": len(files)}
        failpoints.reached(app, "retention.before_commit")
        uow.commit()
    failpoints.reached(app, "retention.committed")
    # SQLite: every run empties the WAL, also of what a run killed right here left in it (a
    # reader holding the log leaves it to the next run).
    checkpoint(app.engine)
    for f in files:  # after the commit: a kill leaves them to the next run
        f.delete()
    return {**out, "batch_file": len(files)}


# Kinds kept in files, not rows: cleared by the same run, after its commit.
ON_DISK = ("batch_file",)


def _files_due(app: App, uow: Repositories, before: datetime) -> list[KeptFile]:
    """The batch's kept files whose run ended before ``before``."""
    files = kept(app.settings.batch_inbox)
    ended = uow.batch.finished([f.digest for f in files])
    return [f for f in files if f.digest in ended and ended[f.digest] < before]


def due(app: App, reader: Actor, at: datetime | None = None) -> dict[str, Any]:
    """What the retention table says should go at ``at`` (now): the subjects whose records
    all passed their periods (for ``customer erase``), and what the nightly slot clears on its
    own (mail bodies, web forms settled without a case, how many reads of the access log).
    Reads no personal value."""
    from hanport.storage.views import reading

    if reader.role not in (Role.SYSTEM, Role.AUDITOR, *ERASERS):
        raise Refused(
            f"privacy due is for privacy, supervisors and auditors; {reader.name} may not"
        )
    when = at or app.clock.now()
    table = periods(app.settings.retention)
    with reading(app.engine) as views:
        r = views.erasures
        subjects = [number for pk, number in r.candidates() if not holds(r.facts(pk), table, when)]
        mail = r.mail_due(table["mail_body"].keep.before(when))
        intakes = r.intakes_due(table["intake_unmatched"].keep.before(when))
        reads = r.access_log_due(table["access_log"].keep.before(when))
    with transaction(app) as uow:
        files = _files_due(app, uow, table["batch_file"].keep.before(when))
    return {
        "at": isoformat_utc(when),
        "subjects": subjects,
        "mail_bodies": mail,
        "intakes": intakes,
        "access_log": reads,
        "batch_files": [str(f.path.name) for f in files],
        "periods": [
            {
                "kind": p.kind,
                "what": p.what,
                "keep": str(p.keep),
                "after": p.after,
                "basis": p.basis,
                "automatic": p.automatic,
            }
            for p in table.values()
        ],
    }

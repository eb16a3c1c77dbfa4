"""What erasure and retention cleared, out of the database's files too
(:mod:`hanport.storage.vacuum`): on SQLite after every erasure and retention run, on
PostgreSQL by ``hanport privacy vacuum`` as the tables' owner (docs/privacy.md)."""

from __future__ import annotations

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.storage.vacuum import VACUUMED, Vacuumed, checkpoint
from hanport.storage.vacuum import vacuum as rewrite

VACUUM_DUE = (
    "PostgreSQL keeps the erased values in the tables' old row versions until "
    "`hanport privacy vacuum` rewrites them (run it as the tables' owner, the login of "
    "`db upgrade`; docs/privacy.md)"
)
WAL_HELD = (
    "the write-ahead log still holds pages from before this change (a reader held it): "
    "run `hanport privacy vacuum` once the readers are done"
)


def after_clearing(app: App) -> list[str]:
    """After the commit of an erasure or a retention run: on SQLite the WAL emptied into the
    database file (whose freed bytes ``secure_delete`` zeroed); on PostgreSQL the reminder that
    ``privacy vacuum`` is due. The warnings."""
    if app.backend == "sqlite":
        return [] if checkpoint(app.engine) else [WAL_HELD]
    return [VACUUM_DUE]


def vacuum(app: App) -> Vacuumed:
    """``hanport privacy vacuum``: changes no row, so it asks for no role — the database
    decides (on PostgreSQL only the tables' owner may rewrite them)."""
    done = rewrite(app.engine)
    refused = [t for t in done.skipped if t in VACUUMED]
    if refused:
        raise Refused(
            f"this login may not rewrite {', '.join(refused)}: run `hanport privacy vacuum` "
            "as the tables' owner (the login of `db upgrade`)"
        )
    if not done.complete:
        raise Refused(WAL_HELD.replace("run `hanport privacy vacuum`", "run it again"))
    return done

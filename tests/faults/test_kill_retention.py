"""kill -9 in the nightly retention, then rerun: what is due is cleared once, never half, on both
backends.

A database holds what the automatic periods clear — the bodies of delivered mails, a web form
that became nothing, the access log's reads — all past their periods. ``hanport privacy retain``
(what the scheduler's nightly slot runs) is started as a real process that kills itself
(``hanport.failpoints``) right before its commit, then once more right after it; a last run
finishes. Killed before the commit, nothing changed; killed after it, everything due is
cleared (on SQLite the write-ahead log still holds the old frames: the next run empties it);
the last run clears nothing more; the histories still verify.
"""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hanport.bootstrap import App
from hanport.failpoints import ENV
from hanport.service import reads, run
from hanport.service.commands import ProcessIntakes, ResolveIntake, SubmitIntake
from hanport.web.engine import PROCESSOR, WEB
from tests.faults import helpers as h
from tests.mail.conftest import hanport_cmd
from tests.support import (
    NORE_POINT,
    TEST_PEPPER,
    actor,
    advance,
    consent,
    deliver,
    make_app,
    open_case,
    seed,
)

RETENTION = "mail_body=30d,intake_unmatched=30d,access_log=30d"


def _state(app: App) -> dict[str, Any]:
    with app.engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        return {
            "mail_bodies": q("SELECT count(*) FROM mail_outbox WHERE body_text IS NOT NULL"),
            "forms": q("SELECT count(*) FROM intakes WHERE fields IS NOT NULL"),
            "reads": q("SELECT count(*) FROM access_log"),
        }


def _world(app: App, folder: Path) -> None:
    """Mails delivered, a web form that matched nothing and was settled, a caseworker's reads."""
    seed(app, folder / "registry")
    cw = actor(app)
    ref = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT).case
    advance(app, cw, ref, "request_consent")
    advance(app, cw, ref, "record_consent", consent())
    deliver(app)
    run(app, WEB, SubmitIntake("close_request", {"meter": "123456"}, "k" * 24, "nb"))
    run(app, PROCESSOR, ProcessIntakes())
    run(app, cw, ResolveIntake(1, "Ringte: feil målernummer"))
    reads.show_customer(app, cw, "1001")


def _retain(env: dict[str, str], folder: Path, now: str, failpoint: str | None) -> Any:
    cmd = hanport_cmd("--as", "dpo", "--json", "--now", now, "privacy", "retain")
    extra = {ENV: failpoint} if failpoint else {}
    proc = subprocess.Popen(
        cmd, env={**env, **extra}, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return h.finish(proc)


def test_a_killed_retention_clears_all_or_nothing_and_a_rerun_nothing_more(
    db_url: str, tmp_path: Path
) -> None:
    env = h.cli_env(
        db_url,
        tmp_path,
        HANPORT_ROLES="cw=caseworker,dpo=privacy",
        HANPORT_PEPPER=TEST_PEPPER,
        HANPORT_RETENTION=RETENTION,
    )
    app = make_app(db_url, maildir=str(tmp_path / "maildir"))
    try:
        _world(app, tmp_path)
        before = _state(app)
        assert before["mail_bodies"] and before["forms"] == 1 and before["reads"]
        later = (app.clock.now() + timedelta(days=31)).isoformat()

        code, out, err = _retain(env, tmp_path, later, "retention.before_commit")
        assert code == -signal.SIGKILL, (code, err[-2000:])
        assert _state(app) == before  # killed before the commit: nothing changed

        code, out, err = _retain(env, tmp_path, later, "retention.committed")
        assert code == -signal.SIGKILL, (code, err[-2000:])
        assert _state(app) == {"mail_bodies": 0, "forms": 0, "reads": 0}

        code, out, err = _retain(env, tmp_path, later, None)
        assert code == 0, err[-2000:]
        assert set(json.loads(out).values()) == {False}  # dry_run False, nothing cleared
        assert _state(app) == {"mail_bodies": 0, "forms": 0, "reads": 0}
        if app.backend == "sqlite":  # the rerun emptied what the killed run left in the WAL
            wal = Path(str(app.engine.url.database) + "-wal")
            assert not wal.exists() or wal.stat().st_size == 0
        h.assert_chains_and_ports(app)
    finally:
        app.close()

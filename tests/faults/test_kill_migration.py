"""``workflow migrate --apply`` killed with SIGKILL in the middle of 2,000 cases, then run
again: every case ends on the new version exactly once (one migration event each), no case is
half-migrated at any moment, and every chain verifies and replays."""

from __future__ import annotations

import json
import random
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from hanport.queries import audit
from hanport.storage.engine import create_engine
from tests.faults import helpers as h
from tests.mail.conftest import hanport_cmd, hanport_env
from tests.support import START, actor, advance, make_app, open_case

pytestmark = pytest.mark.slow
CASES = 2000


def _v1_cases(db_url: str, folder: Path) -> None:
    """2,000 live nore_open v1 cases: half requested, half awaiting their consent (timers)."""
    app = make_app(db_url)
    try:
        reg = h.import_registry(app, folder / "registry", CASES, 0, 0)
        who = actor(app)
        for i, gsrn in enumerate(reg.waiting):
            r = open_case(
                app, who, "nore_open", customer=reg.customer_of[gsrn], metering_point=gsrn
            )
            if i % 2:
                advance(app, who, r.case, "request_consent")
    finally:
        app.close()


def _counts(db_url: str) -> tuple[dict[int, int], list[tuple[str, int, int]]]:
    """Cases by version, and (ref, version, migration events) of every case."""
    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.ref, c.workflow_version, "
                    "(SELECT count(*) FROM case_events e WHERE e.case_id = c.id "
                    "AND e.trigger = 'migrate') FROM cases c ORDER BY c.id"
                )
            ).all()
    finally:
        eng.dispose()
    by_version: dict[int, int] = {}
    for _, v, _ in rows:
        by_version[v] = by_version.get(v, 0) + 1
    return by_version, [(r[0], int(r[1]), int(r[2])) for r in rows]


def _migrate(env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    cmd = hanport_cmd(
        "--as", "sup", "--json", "--now", START,
        "workflow", "migrate", "nore-open", "--from", "1", "--to", "2", "--all", "--apply",
    )  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_a_killed_migration_rerun_moves_every_case_exactly_once(
    db_url: str, tmp_path: Path
) -> None:
    _v1_cases(db_url, tmp_path)
    env = hanport_env(db_url, tmp_path, HANPORT_ROLES="cw=caseworker,sup=supervisor")
    kill_after = random.Random(7).randint(100, CASES // 2)
    proc = _migrate(env, tmp_path)
    try:
        h.wait_until(lambda: _counts(db_url)[0].get(2, 0) >= kill_after, 120, "the migration")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    h.wait_for_idle_pg(db_url)
    by_version, rows = _counts(db_url)
    assert 0 < by_version.get(2, 0) < CASES, by_version
    # Never half-migrated: on v2 exactly when its chain holds one migration event.
    assert all((v == 2) == (n == 1) and n <= 1 for _, v, n in rows), rows[:5]

    rc, out, err = h.finish(_migrate(env, tmp_path), timeout=300)
    assert rc == 0, err[-2000:]
    report = json.loads(out)
    assert len(report["migrated"]) == CASES - by_version[2] and not report["refused"]
    by_version, rows = _counts(db_url)
    assert by_version == {2: CASES}
    assert {n for _, _, n in rows} == {1}

    app = make_app(db_url)
    try:
        verified = audit.verify(app)
        assert verified.ok, verified.problems[:5]
        diverging = [r.case for r in audit.replay(app) if r.divergences]
        assert not diverging, diverging[:5]
    finally:
        app.close()

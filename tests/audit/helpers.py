"""Helpers for the audit suite: a small history built through the service layer, the CLI run
in-process, and a way around the append-only triggers to tamper with a database as an attacker
with owner rights would.

Tampering: on SQLite a raw ``sqlite3`` connection drops ``case_events_no_update`` and
``case_events_no_delete`` (and ``port_events``' twins when asked), runs the statements and
recreates the triggers from their stored SQL; on PostgreSQL the owner (``postgres`` here) runs
``ALTER TABLE … DISABLE TRIGGER USER``, the statements and ``ENABLE TRIGGER USER`` in one
transaction.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from hanport.bootstrap import App, save_clock
from hanport.calendar import isoformat_utc
from hanport.storage.hashing import GENESIS, canonical_event, chain_hash
from tests.support import (
    NORE_OPEN_METER,
    NORE_POINT,
    NORE_POINT_2,
    PINNED,
    actor,
    advance,
    consent,
    open_case,
)

ROLES = "cw=caseworker,sup=supervisor,aud=auditor"


# --- a small history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    nore: str  # nore_open: open, request_consent, record_consent, confirm_open (4 events)
    close: str  # close_port by phone on the legacy open port: open, verify_identity, confirm_close
    cancelled: str  # nore_open on NORE_POINT_2: open, request_consent, cancel

    @property
    def refs(self) -> tuple[str, str, str]:
        return (self.nore, self.close, self.cancelled)


def build_history(app: App) -> History:
    """Three cases with several events each, the clock moving 7 minutes between commands (so
    every event has its own time); the simulated clock is saved for the CLI."""
    cw = actor(app, "cw")

    def tick() -> None:
        app.clock.advance(timedelta(minutes=7))  # type: ignore[attr-defined]

    nore = open_case(app, cw, "nore_open", customer="1001", metering_point=NORE_POINT).case
    tick()
    advance(app, cw, nore, "request_consent")
    tick()
    assert advance(app, cw, nore, "record_consent", consent()).state == "opening"
    tick()
    assert advance(app, cw, nore, "confirm_open").state == "confirmed"
    tick()
    close = open_case(
        app, cw, "close_port", customer="1004", meter_number=NORE_OPEN_METER, channel="phone"
    ).case
    tick()
    assert advance(app, cw, close, "verify_identity", {"method": "bankid"}).state == "closing"
    tick()
    assert advance(app, cw, close, "confirm_close").state == "closed"
    tick()
    cancelled = open_case(app, cw, "nore_open", customer="1005", metering_point=NORE_POINT_2).case
    tick()
    advance(app, cw, cancelled, "request_consent")
    tick()
    assert advance(app, cw, cancelled, "cancel", {"reason": "asked twice"}).state == "cancelled"
    save_clock(app)  # the CLI continues from here
    return History(nore, close, cancelled)


# --- the CLI in this process -------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except json.JSONDecodeError as exc:  # pragma: no cover - a failing test explains itself
            raise AssertionError(f"stdout of {self} is not JSON: {exc}") from None

    def __str__(self) -> str:
        return (
            f"hanport {' '.join(self.args)} → exit {self.code}\n"
            f"--- stdout\n{self.out[:4000]}\n--- stderr\n{self.err[:4000]}"
        )


class Cli:
    """``hanport.entrypoints.cli.main.main([...])`` against one database URL with only the environment given
    here (an empty config file, the suite's roles, a Maildir under ``folder``)."""

    def __init__(self, url: str, folder: Path, roles: str = ROLES) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "hanport.toml"
        if not config.exists():
            config.write_text("", encoding="utf-8")
        self.url = url
        self.env = {
            "HANPORT_DATABASE_URL": url,
            "HANPORT_ROLES": roles,
            **PINNED,
            "HANPORT_CONFIG": str(config),
            "HANPORT_MAILDIR": str(folder / "maildir"),
        }

    def __call__(self, *args: str | Path, user: str | None = "aud", as_json: bool = True) -> Run:
        from hanport.entrypoints.cli.main import main

        argv = (["--as", user] if user else []) + (["--json"] if as_json else [])
        argv += [str(a) for a in args]
        out, err = io.StringIO(), io.StringIO()
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update({k: v for k, v in saved.items() if not k.startswith("HANPORT_")})
        os.environ.update(self.env)
        code: Any = None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(argv)
                except SystemExit as exc:
                    code = exc.code
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Run(tuple(argv), 0 if code is None else int(code), out.getvalue(), err.getvalue())


# --- tampering ---------------------------------------------------------------------------------


def instant(value: Any) -> datetime:
    """An instant as read from either backend (SQLite: naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class Tamper:
    """One transaction that bypasses the append-only triggers (see the module docstring)."""

    TABLES = ("case_events",)

    def __init__(
        self, app: App, tables: tuple[str, ...] = TABLES, *, foreign_keys: bool = True
    ) -> None:
        self.app = app
        self.tables = tables
        self.foreign_keys = foreign_keys
        self.sqlite = app.backend == "sqlite"
        self._raw: sqlite3.Connection | None = None
        self._conn: Connection | None = None
        self._triggers: list[str] = []

    def __enter__(self) -> Tamper:
        if self.sqlite:
            path = make_url(str(self.app.engine.url)).database
            assert path
            self._raw = sqlite3.connect(path, isolation_level=None, timeout=10)
            self._raw.execute(f"PRAGMA foreign_keys={'ON' if self.foreign_keys else 'OFF'}")
            self._raw.execute("BEGIN IMMEDIATE")
            names = [f"{t}_no_{verb}" for t in self.tables for verb in ("update", "delete")]
            marks = ",".join("?" * len(names))
            self._triggers = [
                r[0]
                for r in self._raw.execute(
                    f"SELECT sql FROM sqlite_master WHERE type='trigger' AND name IN ({marks})",
                    names,
                )
            ]
            assert len(self._triggers) == len(names), "append-only triggers not found"
            for n in names:
                self._raw.execute(f"DROP TRIGGER {n}")
        else:
            self._cm = self.app.engine.begin()
            self._conn = self._cm.__enter__()
            if not self.foreign_keys:  # as superuser: no FK (nor user trigger) checks
                self._conn.execute(text("SET LOCAL session_replication_role = replica"))
            for t in self.tables:
                self._conn.execute(text(f"ALTER TABLE {t} DISABLE TRIGGER USER"))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.sqlite:
            assert self._raw is not None
            if exc_type is None:
                for sql in self._triggers:
                    self._raw.execute(sql)
                self._raw.execute("COMMIT")
            else:
                self._raw.execute("ROLLBACK")
            self._raw.close()
        else:
            assert self._conn is not None
            if exc_type is None:
                for t in self.tables:
                    self._conn.execute(text(f"ALTER TABLE {t} ENABLE TRIGGER USER"))
            self._cm.__exit__(exc_type, exc, tb)

    # statements with :named parameters on both backends

    def execute(self, sql: str, **params: Any) -> int:
        if self.sqlite:
            assert self._raw is not None
            params = {
                k: (instant(v).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"))
                if isinstance(v, datetime)
                else v
                for k, v in params.items()
            }
            return self._raw.execute(sql, params).rowcount
        assert self._conn is not None
        return self._conn.execute(text(sql), params).rowcount

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        if self.sqlite:
            assert self._raw is not None
            cur = self._raw.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        assert self._conn is not None
        return [dict(r) for r in self._conn.execute(text(sql), params).mappings()]

    # what tampering needs most

    def case(self, ref: str) -> dict[str, Any]:
        rows = self.query("SELECT * FROM cases WHERE ref = :ref", ref=ref)
        assert rows, f"case {ref} not found"
        return rows[0]

    def events(self, ref: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT e.* FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE c.ref = :ref ORDER BY e.seq",
            ref=ref,
        )

    def event(self, ref: str, seq: int) -> dict[str, Any]:
        found = [e for e in self.events(ref) if e["seq"] == seq]
        assert found, f"{ref} has no event {seq}"
        return found[0]

    def set_event(self, ref: str, seq: int, **values: Any) -> None:
        sets = ", ".join(f'"{k}" = :v_{k}' for k in values)
        n = self.execute(
            f"UPDATE case_events SET {sets} WHERE seq = :seq "
            "AND case_id = (SELECT id FROM cases WHERE ref = :ref)",
            ref=ref,
            seq=seq,
            **{f"v_{k}": v for k, v in values.items()},
        )
        assert n == 1, f"{ref}/{seq}: {n} rows updated"

    def delete_event(self, ref: str, seq: int) -> None:
        n = self.execute(
            "DELETE FROM case_events WHERE seq = :seq "
            "AND case_id = (SELECT id FROM cases WHERE ref = :ref)",
            ref=ref,
            seq=seq,
        )
        assert n == 1, f"{ref}/{seq}: {n} rows deleted"

    def set_case(self, ref: str, **values: Any) -> None:
        sets = ", ".join(f'"{k}" = :v_{k}' for k in values)
        n = self.execute(
            f"UPDATE cases SET {sets} WHERE ref = :ref",
            ref=ref,
            **{f"v_{k}": v for k, v in values.items()},
        )
        assert n == 1

    def rehash(self, ref: str, from_seq: int = 1) -> None:
        """Recompute the chain of ``ref`` from ``from_seq`` on, from the stored fields, as a
        forger with storage.hashing would; and the case's ``last_hash``."""
        case = self.case(ref)
        head = GENESIS
        for e in self.events(ref):
            if e["seq"] >= from_seq:
                ev = canonical_event(
                    case_ref=ref,
                    seq=e["seq"],
                    occurred_at=isoformat_utc(instant(e["occurred_at"])),
                    actor=e["actor"],
                    actor_kind=e["actor_kind"],
                    trigger=e["trigger"],
                    from_state=e["from_state"],
                    to_state=e["to_state"],
                    workflow=case["workflow"],
                    workflow_version=e["workflow_version"],
                    data=json.loads(e["data"]),
                )
                new = chain_hash(head, ev)
                self.set_event(ref, e["seq"], prev_hash=head, hash=new)
                head = new
            else:
                head = e["hash"]
        self.set_case(ref, last_hash=head)


@contextlib.contextmanager
def tamper(
    app: App, tables: tuple[str, ...] = Tamper.TABLES, *, foreign_keys: bool = True
) -> Iterator[Tamper]:
    with Tamper(app, tables, foreign_keys=foreign_keys) as t:
        yield t


def problems(report: Any) -> list[tuple[str, int | None, str]]:
    return [(p.case, p.seq, p.what) for p in report.problems]


FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "demo-history-v1.db"


def copy_history(dest: Path) -> Path:
    """A copy of the committed demo-history fixture (with its WAL files, if any) at ``dest``."""
    dest.parent.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = FIXTURE.with_name(FIXTURE.name + suffix)
        if src.exists():
            shutil.copyfile(src, dest.with_name(dest.name + suffix))
    return dest

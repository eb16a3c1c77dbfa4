"""The one place that builds everything: engine, clock, calendar. Used by the CLI, the
scheduler, the batch, the demo and the tests. Nothing connects at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from hanport import failpoints
from hanport.adapters.clock import Clock, SimulatedClock, SystemClock
from hanport.calendar import InvalidInstant, WorkingCalendar, parse_instant
from hanport.config import Settings
from hanport.errors import HanportError, Refused
from hanport.storage.engine import create_engine, is_sqlite, sqlite_file
from hanport.storage.repositories.meta import Meta
from hanport.storage.schema import SCHEMA_HEAD, current_revision
from hanport.storage.uow import UnitOfWork

# The pepper of simulated-clock databases (demos, tests), which are never production.
DEMO_PEPPER = "hanport-demo-and-test-pepper-not-for-production"


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    calendar: WorkingCalendar
    extras: dict[str, Any] = field(default_factory=dict)
    # The decider's view of the settings (``hanport.service.policy``), made on first use.
    policy: Any = None

    def pepper(self) -> str:
        """The pepper the personal hashes are keyed with: configuration, never the database's.
        A simulated-clock database (a demo's, a test's: never production) has its own."""
        if self.settings.pepper:
            return self.settings.pepper
        if self.simulated:
            return DEMO_PEPPER
        from hanport.config import ConfigError

        raise ConfigError(
            "HANPORT_PEPPER is not set: the personal values this command records are hashed "
            "with it (at least 32 characters, kept outside the database, the same for every "
            "process on the database)"
        )

    @property
    def simulated(self) -> bool:
        return isinstance(self.clock, SimulatedClock)

    @cached_property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


def ensure_schema(engine: Engine, url: str, *, create: bool = False) -> None:
    """The embedded default migrates itself; a shared PostgreSQL is migrated on purpose (or
    when ``hanport db init`` creates it)."""
    rev = current_revision(engine)
    if rev == SCHEMA_HEAD:
        return
    if create or is_sqlite(url):
        from hanport.storage import migrate

        migrate.upgrade(engine)
        return
    raise HanportError(
        f"the database schema is at {rev or 'nothing'}, this version needs {SCHEMA_HEAD}: "
        "run `hanport db upgrade`"
    )


def embedded_file(url: str, *, create: bool) -> None:
    """An SQLite file is made only on purpose, readable by its owner alone (mode 0600): a
    mistyped path must not become a new, empty database."""
    path = sqlite_file(url)
    if path is None or path == ":memory:" or Path(path).exists():
        return
    if not Path(path).parent.is_dir():
        return  # the engine's first connection names the missing folder
    if not create:
        raise Refused(
            f"no database at {path}: create it with `hanport db init` "
            "(or check the path in --db / HANPORT_DATABASE_URL)",
            field="database_url",
        )
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def bootstrap(
    settings: Settings,
    *,
    now: str | datetime | None = None,
    simulated: bool | None = None,
    create: bool = False,
    migrate: bool = True,
    pool_size: int | None = None,
) -> App:
    """Build the application on an existing database, or, with ``create`` (``hanport db init``)
    or ``simulated=True`` (the demo, the tests), on one made now. A database's clock is chosen
    when it is made (``simulated=True``: a simulated clock) and stored in it; ``now`` sets a
    simulated clock and is refused on a real one. ``pool_size``: connections the engine keeps
    open for a process that works in several threads (a web worker; default SQLAlchemy's 5)."""
    pool: dict[str, Any] = {} if pool_size is None else {"pool_size": pool_size}
    engine = create_engine(settings.database_url, **pool)  # checks the URL; connects later
    try:
        embedded_file(settings.database_url, create=create or bool(simulated))
    except HanportError:
        engine.dispose()
        raise
    if migrate:
        ensure_schema(engine, settings.database_url, create=create)
    given = now if now is not None else settings.now
    try:
        clock = _settle_meta(engine, settings, given, simulated)
    except HanportError:
        engine.dispose()
        raise
    calendar = WorkingCalendar(saturday_is_working_day=settings.saturday_is_working_day)
    app = App(settings, engine, clock, calendar)
    failpoints.reached(app, "started")
    return app


class _WriteNeeded(Exception):
    """The read pass found something to write: do it again holding the write lock."""


def _settle_meta(
    engine: Engine, settings: Settings, given: str | datetime | None, simulated: bool | None
) -> Clock:
    """Read the clock from ``meta``; write it only when it must change.

    The first pass only reads (no lock: a caseworker's ``case show`` never waits for a batch).
    When it finds something to write, the second pass takes SQLite's write lock at BEGIN: a
    deferred transaction that read first and then writes fails at once with "database is
    locked" when another process wrote in between (two processes starting together)."""
    for write in (False, True):
        with UnitOfWork(engine, immediate=write) as uow:
            try:
                settled = _meta(uow.meta, settings, given, simulated, write=write)
            except _WriteNeeded:
                continue
            uow.commit()
            return settled
    raise AssertionError("the write pass never asks for another")  # pragma: no cover


def _meta(
    meta: Meta,
    settings: Settings,
    given: str | datetime | None,
    simulated: bool | None,
    *,
    write: bool,
) -> Clock:
    def put(key: str, value: str) -> None:
        if meta.get(key) == value:
            return
        if not write:
            raise _WriteNeeded
        meta.set(key, value)

    if meta.get("clock") is None:  # a database made now: its clock, once
        if not write:
            raise _WriteNeeded
        meta.setdefault("clock", "simulated" if simulated else "system")
    is_sim = meta.get("clock") == "simulated"
    if simulated and not is_sim:
        raise Refused(
            "this database was created with the system clock; a simulated clock is chosen "
            "only when a database is created (`hanport db init --simulated-clock`)",
            field="clock",
        )
    clock: Clock
    if is_sim:
        if given is None:
            stored = meta.get("sim_now")
            start = parse_instant(stored) if stored else SystemClock().now()
        else:
            try:
                start = given if isinstance(given, datetime) else parse_instant(given)
            except InvalidInstant as exc:
                raise Refused(f"--now: {exc}", field="now") from None
            put("sim_now", start.isoformat())
        clock = SimulatedClock(start)
    else:
        if given is not None:
            raise Refused(
                "--now / HANPORT_NOW is only accepted when the clock is simulated "
                "(the demo's and tests' databases)",
                field="now",
            )
        clock = SystemClock()
    return clock


def save_clock(app: App) -> None:
    """Persist a simulated clock's time so the next command continues from it."""
    if isinstance(app.clock, SimulatedClock):
        now = app.clock.now().isoformat()
        with UnitOfWork(app.engine) as uow:
            if uow.meta.get("sim_now") == now:
                return
        with UnitOfWork(app.engine, immediate=True) as uow:
            uow.meta.set("sim_now", now)
            uow.commit()

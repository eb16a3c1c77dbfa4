"""The one place that builds everything: engine, clock, calendar, salt. Used by the CLI, the
scheduler, the batch, the demo and the tests. Nothing connects at import time."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Engine

from hanport.calendar import InvalidInstant, WorkingCalendar, parse_instant
from hanport.clock import Clock, SimulatedClock, SystemClock
from hanport.config import Settings
from hanport.errors import HanportError, Refused
from storage import repository as repo
from storage.engine import create_engine, is_sqlite
from storage.hashing import personal_hash
from storage.schema import SCHEMA_HEAD, current_revision


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    calendar: WorkingCalendar
    salt: bytes
    extras: dict[str, Any] = field(default_factory=dict)

    def hash(self, value: str) -> str:
        """The salted hash an event carries instead of a personal value."""
        return personal_hash(self.salt, value)

    @property
    def simulated(self) -> bool:
        return isinstance(self.clock, SimulatedClock)

    @cached_property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


def ensure_schema(engine: Engine, url: str) -> None:
    """The embedded default migrates itself; a shared PostgreSQL is migrated on purpose."""
    rev = current_revision(engine)
    if rev == SCHEMA_HEAD:
        return
    if is_sqlite(url):
        from storage import migrate

        migrate.upgrade(engine)
        return
    raise HanportError(
        f"the database schema is at {rev or 'nothing'}, this version needs {SCHEMA_HEAD}: "
        "run `hanport db upgrade`"
    )


def bootstrap(
    settings: Settings,
    *,
    now: str | datetime | None = None,
    simulated: bool | None = None,
    migrate: bool = True,
) -> App:
    """Build the application. ``simulated=True`` marks the database as a simulated-clock one
    (demo, tests); ``now`` then sets that clock, which is refused on a real clock."""
    engine = create_engine(settings.database_url)
    if migrate:
        ensure_schema(engine, settings.database_url)
    with engine.begin() as conn:
        salt = bytes.fromhex(repo.meta_setdefault(conn, "salt", secrets.token_hex(32)))
        if simulated:
            repo.meta_set(conn, "clock", "simulated")
        is_sim = settings.clock == "simulated" or repo.meta_get(conn, "clock") == "simulated"
        given = now if now is not None else settings.now
        clock: Clock
        if is_sim:
            if given is None:
                stored = repo.meta_get(conn, "sim_now")
                start = parse_instant(stored) if stored else SystemClock().now()
            else:
                try:
                    start = given if isinstance(given, datetime) else parse_instant(given)
                except InvalidInstant as exc:
                    engine.dispose()
                    raise Refused(f"--now: {exc}", field="now") from None
                if repo.meta_get(conn, "sim_now") != start.isoformat():
                    repo.meta_set(conn, "sim_now", start.isoformat())
            clock = SimulatedClock(start)
        else:
            if given is not None:
                engine.dispose()
                raise Refused(
                    "--now / HANPORT_NOW is only accepted when the clock is simulated "
                    "(the demo's and tests' databases)",
                    field="now",
                )
            clock = SystemClock()
    calendar = WorkingCalendar(saturday_is_working_day=settings.saturday_is_working_day)
    return App(settings, engine, clock, calendar, salt)


def save_clock(app: App) -> None:
    """Persist a simulated clock's time so the next command continues from it."""
    if isinstance(app.clock, SimulatedClock):
        now = app.clock.now().isoformat()
        with app.engine.begin() as conn:
            if repo.meta_get(conn, "sim_now") != now:
                repo.meta_set(conn, "sim_now", now)

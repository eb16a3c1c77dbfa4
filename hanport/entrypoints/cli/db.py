"""``hanport db``: schema migrations."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.group("db", help="Create a database, migrate its schema.")
def group() -> None:
    pass


@group.command(
    "init",
    help="Create a database: its schema and its clock. The clock is chosen here, once: "
    "--simulated-clock makes a demo or test database, where --now moves time and --as names "
    "the acting user; without it the clock is the system's and the acting user is the login.",
)
@click.option(
    "--simulated-clock", is_flag=True, help="A simulated clock (demo and test databases)."
)
@pass_state
def init(state: CliState, simulated_clock: bool) -> None:
    from hanport import config
    from hanport.bootstrap import bootstrap

    settings = config.load(database_url=state.db)
    app = bootstrap(settings, now=state.now, simulated=simulated_clock or None, create=True)
    try:
        clock = "simulated" if app.simulated else "system"
        state.emit(
            {"database": settings.database_url, "clock": clock, "now": app.clock.now()},
            f"database ready ({clock} clock, now {app.clock.now().isoformat()})",
        )
    finally:
        app.close()


@group.command("upgrade", help="Migrate the database schema to the newest revision (Alembic).")
@pass_state
def upgrade(state: CliState) -> None:
    from hanport import config
    from hanport.bootstrap import embedded_file
    from hanport.errors import Refused
    from hanport.storage import migrate
    from hanport.storage.engine import create_engine

    settings = config.load(database_url=state.db)
    engine = create_engine(settings.database_url)  # checks the URL; connects later
    try:
        embedded_file(settings.database_url, create=False)  # upgrade migrates, never creates
    except Refused:
        engine.dispose()
        raise
    try:
        before = migrate.current(engine)
        migrate.upgrade(engine)
        after = migrate.current(engine)
    finally:
        engine.dispose()
    state.emit(
        {"from": before, "to": after},
        f"schema {before or 'empty'} -> {after}"
        if before != after
        else f"schema already at {after}",
    )

"""``hanport db``: schema migrations."""

from __future__ import annotations

import click

from hanport.entrypoints.cli.context import CliState, pass_state


@click.group("db", help="Database schema.")
def group() -> None:
    pass


@group.command("upgrade", help="Migrate the database schema to the newest revision (Alembic).")
@pass_state
def upgrade(state: CliState) -> None:
    from hanport import config
    from hanport.storage import migrate
    from hanport.storage.engine import create_engine

    settings = config.load(database_url=state.db)
    engine = create_engine(settings.database_url)
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

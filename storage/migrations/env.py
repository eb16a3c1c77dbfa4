"""Alembic environment: the connection is handed over by ``storage.migrate``."""

from __future__ import annotations

from alembic import context

from hanport.storage.tables import METADATA

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the programmatic entry point is supported
    raise RuntimeError("run migrations through `hanport db upgrade`")

context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

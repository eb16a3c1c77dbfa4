"""The unit of work: one connection, one transaction, rolled back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.engine import Connection, Engine


class UnitOfWork:
    """``with UnitOfWork(engine) as uow: ...; uow.commit()`` — leaving the block without
    ``commit()`` rolls everything back. ``immediate=True`` takes SQLite's write lock at BEGIN
    (one writer), for work that must not interleave with another writer."""

    def __init__(self, engine: Engine, *, immediate: bool = False) -> None:
        self.engine = engine
        self.immediate = immediate
        self.conn: Connection
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.conn = self.engine.connect()
        if self.immediate and self.engine.dialect.name == "sqlite":
            self.conn.info["sqlite_begin"] = "BEGIN IMMEDIATE"
        self.conn.begin()
        self._committed = False
        return self

    def commit(self) -> None:
        self.conn.commit()
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.conn.rollback()
        finally:
            self.conn.close()

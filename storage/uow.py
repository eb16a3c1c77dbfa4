"""The unit of work: one connection, one transaction, rolled back unless committed — and the
repositories, which are the only way to reach the tables.

    with UnitOfWork(engine) as uow:
        loaded = uow.cases.load("ref", [ref])
        ...
        uow.commit()

Leaving the block without ``commit()`` rolls everything back. ``immediate=True`` takes SQLite's
write lock at BEGIN (one writer), for work that must not interleave with another writer. What the
database refuses leaves the block as a :mod:`storage.errors` exception.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection, Engine

from hanport.storage.engine import BEFORE_STATEMENT
from hanport.storage.errors import translate
from hanport.storage.sql import Driver

if TYPE_CHECKING:
    from hanport.storage.repositories.batch import Batch
    from hanport.storage.repositories.cases import Cases
    from hanport.storage.repositories.consents import Consents
    from hanport.storage.repositories.erasures import Erasures
    from hanport.storage.repositories.hes import HesCommands
    from hanport.storage.repositories.ids import Ids
    from hanport.storage.repositories.intakes import Intakes
    from hanport.storage.repositories.meta import Meta
    from hanport.storage.repositories.outbox import Outbox
    from hanport.storage.repositories.ports import Ports
    from hanport.storage.repositories.registry import Customers, Idempotency, Registry
    from hanport.storage.repositories.subjects import SubjectKeys
    from hanport.storage.repositories.timers import Timers


class Repositories:
    """The repositories over one connection, made on first use (a command imports only the
    ones it needs). ``UnitOfWork`` is this plus the transaction; a caller that manages its own
    transactions on a held connection (the mail recorder) uses it directly."""

    conn: Connection
    _begins = False  # the unit of work begins the transaction itself (PostgreSQL)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def db(self) -> Driver:
        return Driver(self.conn, begin=self._begins)

    @cached_property
    def cases(self) -> Cases:
        from hanport.storage.repositories.cases import Cases

        return Cases(self.db)

    @cached_property
    def ids(self) -> Ids:
        from hanport.storage.repositories.ids import Ids

        return Ids(self.db)

    @cached_property
    def timers(self) -> Timers:
        from hanport.storage.repositories.timers import Timers

        return Timers(self.db)

    @cached_property
    def consents(self) -> Consents:
        from hanport.storage.repositories.consents import Consents

        return Consents(self.db)

    @cached_property
    def erasures(self) -> Erasures:
        from hanport.storage.repositories.erasures import Erasures

        return Erasures(self.db)

    @cached_property
    def hes(self) -> HesCommands:
        from hanport.storage.repositories.hes import HesCommands

        return HesCommands(self.db)

    @cached_property
    def ports(self) -> Ports:
        from hanport.storage.repositories.ports import Ports

        return Ports(self.db)

    @cached_property
    def outbox(self) -> Outbox:
        from hanport.storage.repositories.outbox import Outbox

        return Outbox(self.db)

    @cached_property
    def customers(self) -> Customers:
        from hanport.storage.repositories.registry import Customers

        return Customers(self.db)

    @cached_property
    def registry(self) -> Registry:
        from hanport.storage.repositories.registry import Registry

        return Registry(self.db)

    @cached_property
    def subject_keys(self) -> SubjectKeys:
        from hanport.storage.repositories.subjects import SubjectKeys

        return SubjectKeys(self.db)

    @cached_property
    def intakes(self) -> Intakes:
        from hanport.storage.repositories.intakes import Intakes

        return Intakes(self.db)

    @cached_property
    def batch(self) -> Batch:
        from hanport.storage.repositories.batch import Batch

        return Batch(self.db)

    @cached_property
    def meta(self) -> Meta:
        from hanport.storage.repositories.meta import Meta

        return Meta(self.db)

    @cached_property
    def idempotency(self) -> Idempotency:
        from hanport.storage.repositories.registry import Idempotency

        return Idempotency(self.db)


class UnitOfWork(Repositories):
    def __init__(self, engine: Engine, *, immediate: bool = False) -> None:
        self.engine = engine
        self.immediate = immediate
        self.conn: Connection
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.conn = self.engine.connect()
        if self.engine.dialect.name == "sqlite":
            if self.immediate:
                self.conn.info["sqlite_begin"] = "BEGIN IMMEDIATE"
        else:
            # PostgreSQL: the driver in autocommit mode and BEGIN sent by the repositories'
            # driver with the first statement (one round trip less); a statement SQLAlchemy
            # runs itself on this connection is preceded by it too (``storage.engine``).
            raw: Any = self.conn.connection.driver_connection
            raw.autocommit = True
            self._begins = True
            self.conn.info[BEFORE_STATEMENT] = self._before_statement
        self.conn.begin()
        self._committed = False
        return self

    def _before_statement(self) -> None:
        self.db.begun()

    def commit(self) -> None:
        """Commit; on PostgreSQL with the statements the writer queued, in one round trip."""
        if self._begins:
            self.db.commit_queued()
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
                if "db" in self.__dict__:
                    self.db.abandon()
                self.conn.rollback()
        finally:
            if self._begins:
                self._end_own_begin()
            self.conn.close()
        if exc is not None:
            mapped = translate(exc)
            if mapped is not None:
                raise mapped from exc

    def _end_own_begin(self) -> None:
        """The connection back as the pool hands it out: no transaction, not in autocommit
        mode (a connection that cannot be is dropped)."""
        self.conn.info.pop(BEFORE_STATEMENT, None)
        from psycopg.pq import TransactionStatus

        raw: Any = self.conn.connection.driver_connection
        try:
            if raw.info.transaction_status != TransactionStatus.IDLE:
                raw.rollback()
            raw.autocommit = False
        except Exception:
            self.conn.invalidate()

"""The read side's way to the tables: readers over one connection, named for what they read,
returning typed rows. ``hanport.queries`` shapes what these return for people; nothing here
writes, and nothing outside ``storage`` builds SQL.

    with reading(app.engine) as views:
        case = views.cases.by_ref(ref)
        history = views.events.of_case(case.id)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine

if TYPE_CHECKING:
    from hanport.storage.views.access import AccessReads
    from hanport.storage.views.cases import CaseReads
    from hanport.storage.views.consents import ConsentReads
    from hanport.storage.views.customers import CustomerReads
    from hanport.storage.views.erasures import ErasureReads
    from hanport.storage.views.events import EventReads
    from hanport.storage.views.hes import HesReads
    from hanport.storage.views.identity import IdentityReads
    from hanport.storage.views.intakes import IntakeReads
    from hanport.storage.views.mail import MailReads
    from hanport.storage.views.notes import NoteReads
    from hanport.storage.views.personal import PersonalReads
    from hanport.storage.views.ports import PortReads
    from hanport.storage.views.register import RegisterReads
    from hanport.storage.views.reports import ReportReads
    from hanport.storage.views.subject import SubjectReads


class Views:
    """The readers over one connection, made on first use."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @cached_property
    def access(self) -> AccessReads:
        from hanport.storage.views.access import AccessReads

        return AccessReads(self.conn)

    @cached_property
    def cases(self) -> CaseReads:
        from hanport.storage.views.cases import CaseReads

        return CaseReads(self.conn)

    @cached_property
    def consents(self) -> ConsentReads:
        from hanport.storage.views.consents import ConsentReads

        return ConsentReads(self.conn)

    @cached_property
    def customers(self) -> CustomerReads:
        from hanport.storage.views.customers import CustomerReads

        return CustomerReads(self.conn)

    @cached_property
    def erasures(self) -> ErasureReads:
        """What erasure and retention decide from, and the erasure ledger."""
        from hanport.storage.views.erasures import ErasureReads

        return ErasureReads(self.conn)

    @cached_property
    def events(self) -> EventReads:
        from hanport.storage.views.events import EventReads

        return EventReads(self.conn)

    @cached_property
    def hes(self) -> HesReads:
        from hanport.storage.views.hes import HesReads

        return HesReads(self.conn)

    @cached_property
    def identity(self) -> IdentityReads:
        from hanport.storage.views.identity import IdentityReads

        return IdentityReads(self.conn)

    @cached_property
    def intakes(self) -> IntakeReads:
        from hanport.storage.views.intakes import IntakeReads

        return IntakeReads(self.conn)

    @cached_property
    def mail(self) -> MailReads:
        from hanport.storage.views.mail import MailReads

        return MailReads(self.conn)

    @cached_property
    def notes(self) -> NoteReads:
        from hanport.storage.views.notes import NoteReads

        return NoteReads(self.conn)

    @cached_property
    def personal(self) -> PersonalReads:
        """Personal data, each read logged (:mod:`hanport.storage.views.personal`)."""
        from hanport.storage.views.personal import PersonalReads

        return PersonalReads(self.conn)

    @cached_property
    def register(self) -> RegisterReads:
        """The consent register's history (:mod:`hanport.storage.views.register`)."""
        from hanport.storage.views.register import RegisterReads

        return RegisterReads(self.conn)

    @cached_property
    def ports(self) -> PortReads:
        from hanport.storage.views.ports import PortReads

        return PortReads(self.conn)

    @cached_property
    def reports(self) -> ReportReads:
        """What the reports read: histories and port timelines as of a moment."""
        from hanport.storage.views.reports import ReportReads

        return ReportReads(self.conn)

    @cached_property
    def subject(self) -> SubjectReads:
        """What is held about one customer, by reference (an access request's index)."""
        from hanport.storage.views.subject import SubjectReads

        return SubjectReads(self.conn)


@contextmanager
def reading(engine: Engine) -> Iterator[Views]:
    """The readers on one connection from ``engine``, closed when the block ends."""
    with engine.connect() as conn:
        yield Views(conn)

"""What each role may read, and the personal data it reads logged: the read side's service
layer. Every read command comes here with its actor (resolved by :mod:`hanport.service.roles`,
which refuses a user with no role before anything is read).

- The working roles (caseworker, supervisor, the system) see personal data where their work
  shows it (``case show``'s notes, ``customer show``'s contact details, ``mail show``'s text);
  each such read is logged.
- Auditors and the data-protection officer see consent facts and history; personal data only
  when they ask (``personal``), and that read is logged too.
- Exports and the audit commands show personal data only when asked, whoever asks: a file
  leaves the system.
- The access log itself is the data-protection officer's (:func:`access_log`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from hanport.bootstrap import App
from hanport.errors import Refused
from hanport.storage.views import reading
from hanport.storage.views.access import AccessEntry, AccessFilter
from hanport.storage.views.personal import Access
from hanport.workflows.definition import Actor, Role

if TYPE_CHECKING:
    from hanport.queries.reports.build import Report

# The roles whose work shows personal data without asking; and the purpose logged when none
# is given.
WORKING = (Role.CASEWORKER, Role.SUPERVISOR, Role.SYSTEM)
DEFAULT_PURPOSE = {
    Role.CASEWORKER: "casework",
    Role.SUPERVISOR: "casework",
    Role.SYSTEM: "processing",
    Role.AUDITOR: "audit",
    Role.PRIVACY: "data-protection review",
}


def access(
    app: App,
    reader: Actor,
    command: str,
    *,
    personal: bool = False,
    purpose: str | None = None,
    by_default: bool = True,
) -> Access | None:
    """The ``Access`` ``command`` reads personal data under (each read logged), or None when
    it is withheld: the working roles read it ``by_default``; everyone when ``personal``."""
    if not (personal or (by_default and reader.role in WORKING)):
        return None
    why = (purpose or "").strip() or DEFAULT_PURPOSE[reader.role]
    return Access(
        reader.name, reader.role.value, reader.on_behalf_of, command, why, app.clock.now()
    )


def show_case(
    app: App, reader: Actor, ref: str, *, personal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    from hanport.queries.cases import case_view

    return case_view(app, ref, access(app, reader, "case show", personal=personal, purpose=purpose))


def show_customer(
    app: App, reader: Actor, customer: str, *, personal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    from hanport.queries.customers import customer_view

    how = access(app, reader, "customer show", personal=personal, purpose=purpose)
    return customer_view(app, customer, how)


def show_mail(
    app: App, reader: Actor, mail_id: int, *, personal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    from hanport.queries.mail import show_mail as view

    return view(app, mail_id, access(app, reader, "mail show", personal=personal, purpose=purpose))


def port(
    app: App,
    reader: Actor,
    gsrn: str,
    at: datetime | None = None,
    *,
    personal: bool = False,
    purpose: str | None = None,
) -> dict[str, Any]:
    from hanport.queries.port_timeline import port as view

    how = access(app, reader, "audit port", personal=personal, purpose=purpose, by_default=False)
    return view(app, gsrn, at, how)


def export(
    app: App, reader: Actor, ref: str, *, personal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    from hanport.queries.evidence import evidence

    how = access(app, reader, "audit export", personal=personal, purpose=purpose, by_default=False)
    return evidence(app, ref, how)


def list_cases(app: App, reader: Actor, **filters: Any) -> list[dict[str, Any]]:
    """No personal data: references, states, flags, the point's and the customer's numbers."""
    from hanport.queries.cases import list_cases as listing

    return listing(app, **filters)


def list_mail(app: App, reader: Actor, status: str | None = None) -> list[dict[str, Any]]:
    """No personal data: each mail's case, template, status and times (not its recipient)."""
    from hanport.queries.mail import list_mail as listing

    return listing(app, status)


def access_log(app: App, reader: Actor, f: AccessFilter) -> tuple[list[AccessEntry], list[int]]:
    """The access log's rows ``f`` selects, and the read numbers issued without a row (reads
    whose transaction was rolled back): for the data-protection officer only."""
    if reader.role is not Role.PRIVACY:
        raise Refused(
            f"the access log is the data-protection officer's; {reader.name} is {reader.role.value}"
        )
    with reading(app.engine) as views:
        return views.access.listing(f), views.access.missing()


REGISTER_ROLES = (Role.PRIVACY, Role.SUPERVISOR, Role.AUDITOR)


def consent_register(app: App, reader: Actor, **filters: Any) -> list[dict[str, Any]]:
    """The consent register as the history stood at ``at`` (now by default), for the
    data-protection officer, supervisors and auditors; who signed (and the address written)
    only with ``personal``, each consent's read logged. The filters are
    :func:`consent_register_rows`'s."""
    return list(consent_register_rows(app, reader, **filters))


def consent_register_rows(
    app: App,
    reader: Actor,
    *,
    at: datetime | None = None,
    point: str | None = None,
    customer: str | None = None,
    live: bool | None = None,
    personal: bool = False,
    purpose: str | None = None,
) -> Iterator[dict[str, Any]]:
    """:func:`consent_register` streamed, row by row, as the database returns them (refused
    at once, before any row, to a reader who may not see it)."""
    _may_read_register(reader)
    how = access(app, reader, "consent list", personal=personal, purpose=purpose, by_default=False)
    return _register_rows(app, how, at, point, customer, live)


def consent_register_json(
    app: App,
    reader: Actor,
    *,
    at: datetime | None = None,
    point: str | None = None,
    customer: str | None = None,
    live: bool | None = None,
) -> Iterator[str]:
    """:func:`consent_register` (without personal data) as each row's JSON object text, as
    the database builds it: what ``consent list --format json`` prints."""
    from hanport.queries.register import register_json

    _may_read_register(reader)

    def rows() -> Iterator[str]:
        with reading(app.engine) as views:
            yield from register_json(views, at, point=point, customer=customer, live=live)

    return rows()


def _may_read_register(reader: Actor) -> None:
    if reader.role not in REGISTER_ROLES:
        raise Refused(
            f"the consent register is for privacy, supervisor or auditor; {reader.name} is "
            f"{reader.role.value}"
        )


def _register_rows(
    app: App,
    how: Access | None,
    at: datetime | None,
    point: str | None,
    customer: str | None,
    live: bool | None,
) -> Iterator[dict[str, Any]]:
    from hanport.queries.register import register

    with reading(app.engine) as views:
        for r in register(views, at, point=point, customer=customer, live=live):
            if how is not None:
                p = views.personal.consent(r["consent"], how)
                r["signer_name"] = p.signer_name if p else None
                r["address_written"] = p.address_written if p else None
            yield r


def list_intakes(
    app: App, reader: Actor, statuses: tuple[str, ...] = (), limit: int = 200
) -> list[dict[str, Any]]:
    """The web intakes (what came in, when, what became of it; nothing typed)."""
    from hanport.queries.intakes import listed

    if reader.role is Role.CUSTOMER:
        raise Refused(f"{reader.name} is a customer: the intake list is the caseworkers'")
    return [_intake_row(s) for s in listed(app, statuses, limit)]


def show_intake(
    app: App, reader: Actor, intake_id: int, *, personal: bool = False, purpose: str | None = None
) -> dict[str, Any]:
    """One intake; the form as typed where the reader's work shows it (logged)."""
    from hanport.queries.intakes import show

    if reader.role is Role.CUSTOMER:
        raise Refused(f"{reader.name} is a customer: intakes are the caseworkers'")
    how = access(app, reader, "intake show", personal=personal, purpose=purpose)
    return show(app, intake_id, how).as_dict()


def _intake_row(s: Any) -> dict[str, Any]:
    from hanport.calendar import isoformat_utc

    return {
        "intake": s.id,
        "form": s.form,
        "language": s.language,
        "received_at": isoformat_utc(s.received_at),
        "status": s.status,
        "case": s.case_ref,
        "customer": s.customer_id,
        "outcome": s.outcome,
    }


EXPORT_ROLES = (Role.PRIVACY, Role.SUPERVISOR)
ACCESS_REQUEST = "access request"


def customer_export(app: App, reader: Actor, customer: str) -> dict[str, Any]:
    """Everything held about ``customer`` for their access request (GDPR art. 15), for the
    data-protection officer and supervisors; every personal read logged with the purpose
    ``access request``."""
    from hanport.queries.customer_export import customer_export as export_of

    if reader.role not in EXPORT_ROLES:
        raise Refused(
            f"a customer's export (an access request) is for privacy or a supervisor; "
            f"{reader.name} is {reader.role.value}"
        )
    how = Access(
        reader.name,
        reader.role.value,
        reader.on_behalf_of,
        "customer export",
        ACCESS_REQUEST,
        app.clock.now(),
    )
    return export_of(app, customer, how)


REPORT_ROLES = (Role.SUPERVISOR, Role.AUDITOR)


def sla_report(
    app: App,
    reader: Actor,
    start: date,
    end: date,
    *,
    area: str | None = None,
    as_of: datetime | None = None,
) -> Report:
    """The SLA report for the Oslo dates ``start``..``end`` as the history stood at ``as_of``,
    for supervisors and auditors. It holds no personal data (cases by reference only), so
    nothing is logged."""
    from hanport.queries.reports.build import build

    if reader.role not in REPORT_ROLES:
        raise Refused(
            f"the reports are for supervisor or auditor; {reader.name} is {reader.role.value}"
        )
    return build(app, start, end, area, as_of)

"""Producing mail through real commands, and reading the outbox and what arrived."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from hanport.bootstrap import App
from hanport.queries.cases import case_view
from hanport.service.reads import show_mail
from hanport.storage import tables
from hanport.workflows.definition import Actor
from tests.support import (
    NORE_POINT,
    NORE_POINT_2,
    RINGERIKE_POINT,
    actor,
    advance,
    consent,
    open_case,
)


def request_received(app: App) -> str:
    """Open a nore_open case for customer 1001: one ``request_received`` mail. The case ref."""
    return open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT).case


def port_opened(app: App) -> str:
    """Open, record the consent and confirm: ``request_received`` and ``port_opened``."""
    ref = request_received(app)
    advance(app, actor(app), ref, "record_consent", consent())
    advance(app, actor(app), ref, "confirm_open")
    return ref


def meter_swap_en(app: App) -> str:
    """A meter swap for customer 1002 (language en, ENERGIPILOT): an English notice."""
    return open_case(
        app, actor(app), "meter_swap", customer="1002", metering_point=RINGERIKE_POINT
    ).case


def no_email_case(app: App) -> str:
    """A nore_open case for customer 1005, who has no e-mail address."""
    return open_case(
        app, actor(app), "nore_open", customer="1005", metering_point=NORE_POINT_2
    ).case


def outbox(app: App, ref: str | None = None) -> list[dict[str, Any]]:
    """Every ``mail_outbox`` row (of one case), as ``show_mail`` gives it, oldest first."""
    M, C = tables.MAIL, tables.CASES
    stmt = select(M.c.id).join(C, C.c.id == M.c.case_id).order_by(M.c.id)
    if ref is not None:
        stmt = stmt.where(C.c.ref == ref)
    with app.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(stmt)]
    reader = Actor.system("mail-test")  # a working role: sees each mail as sent (logged)
    return [show_mail(app, reader, i) for i in ids]


def statuses(app: App) -> list[str]:
    return [m["status"] for m in outbox(app)]


def flags(app: App, ref: str) -> list[str]:
    return list(case_view(app, ref)["flags"])


def event_triggers(app: App, ref: str) -> list[str]:
    E, C = tables.EVENTS, tables.CASES
    stmt = select(E.c.trigger).join(C, C.c.id == E.c.case_id).where(C.c.ref == ref)
    with app.engine.connect() as conn:
        return list(conn.execute(stmt.order_by(E.c.seq)).scalars())


def parse(content: bytes) -> EmailMessage:
    msg = email.message_from_bytes(content, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg

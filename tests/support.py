"""Shared test data and helpers: a small registry in the three areas, consent fields."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from hanport import service
from hanport.bootstrap import App, bootstrap
from hanport.config import Settings, load
from hanport.service import commands as cmds
from hanport.service.cases import Result
from hanport.service.roles import resolve
from hanport.service.timers import SCHEDULER
from hanport.storage import tables
from hanport.storage.uow import Repositories
from hanport.workflows.definition import Actor
from hanport.workflows.model import Case

START = "2026-03-02T09:00:00+01:00"  # a Monday


# --- the service, as the tests call it: each a command run through ``hanport.service.run`` --


def open_case(app: App, actor: Actor, workflow: str, **options: Any) -> Result:
    if options.get("fields") is None:
        options.pop("fields", None)
    result: Result = service.run(app, actor, cmds.OpenCase(workflow, **options))
    return result


def advance(
    app: App,
    actor: Actor,
    ref: str,
    trigger: str,
    fields: dict[str, str] | None = None,
    *,
    note: str | None = None,
    key: str | None = None,
) -> Result:
    result: Result = service.run(app, actor, cmds.Advance(ref, trigger, fields or {}, note, key))
    return result


def import_customers(app: App, actor: Actor, path: Path) -> Any:
    return service.run(app, actor, cmds.ImportCustomers(path))


def import_points(app: App, actor: Actor, path: Path) -> Any:
    return service.run(app, actor, cmds.ImportMeteringPoints(path))


def update_customer(app: App, actor: Actor, customer: str, **changes: str | None) -> Any:
    return service.run(app, actor, cmds.UpdateCustomer(customer, **changes))


def run_terminations(app: App, actor: Actor, path: Path, **options: Any) -> Any:
    return service.run(app, actor, cmds.RunTerminations(path, **options))


def fire_due(app: App) -> Any:
    return service.run(app, SCHEDULER, cmds.FireTimers())


def dispatch(app: App) -> Any:
    return service.run(app, SCHEDULER, cmds.DispatchHes())


def apply_acks(app: App) -> Any:
    return service.run(app, SCHEDULER, cmds.ApplyHesAnswers())


def answer(app: App, actor: Actor, command_id: int, outcome: str, note: str | None = None) -> Any:
    return service.run(app, actor, cmds.AnswerHes(command_id, outcome, note))


def deliver(app: App, *, batch: int = 100) -> Any:
    return service.run(app, SCHEDULER, cmds.DeliverMail(batch))


def retry_mail(app: App, actor: Actor, mail_id: int) -> Any:
    return service.run(app, actor, cmds.RetryMail(mail_id))


def fire_in(uow: Repositories, app: App, who: Actor, ref: str, trigger: str, **fields: str) -> Case:
    """Decide ``trigger`` on case ``ref`` and write it in ``uow`` without committing: a command
    caught half-way (what the outboxes must never let out)."""
    from hanport.service import load
    from hanport.service.policy import decision_for
    from hanport.service.writer import write

    decision = decision_for(app, who, app.clock.now(), uow)
    case = next(
        c for c in load.into(decision, uow.cases.load("ref", [ref])).values() if c.ref == ref
    )
    decision.fire(case, trigger, fields)
    write(app, uow, decision)
    return case


ROLES = "cw=caseworker,cw2=caseworker,sup=supervisor,aud=auditor,dpo=privacy"
# The suite was written for nore_open v1: its new cases stay there (tests of v2 unpin it).
PINNED = {"HANPORT_WORKFLOW_VERSIONS": "nore_open=1"}
# The pepper of the tests' databases that do not run on a simulated clock (real logins).
TEST_PEPPER = "the-tests-pepper-kept-outside-the-database"

# Valid GSRNs (GS1 check digit) and meter numbers.
NORE_POINT = "707057500000000018"  # Nore og Uvdal 3338, Aidon, port closed, customer 1001
RINGERIKE_POINT = "707057500000000025"  # Ringerike 3305, no HAN port, customer 1002 (ENERGIPILOT)
HOLE_POINT = "707057500000000032"  # Hole 0612 (old number), no HAN port, customer 1003
NORE_OPEN_POINT = "707057500000000049"  # Nore 0633 (oldest number), port open (legacy), 1004
NORE_POINT_2 = "707057500000000056"  # Nore 3050, port closed, customer 1005 (no e-mail)
NORE_METER = "7359992905160861"
RINGERIKE_METER = "5706567316639529"
HOLE_METER = "5706567316639536"
NORE_OPEN_METER = "6970631401582127"
NORE_METER_2 = "7359992905160878"

CUSTOMERS_CSV = """customer_id;name;email;phone;street;postal_code;city;language;energipilot
1001;Kari Nordmann;kari@example.no;91234567;Sentrumsvegen 5;3630;Rødberg;nb;no
1002;Ola Hansen;ola@example.no;+47 41234567;Storgata 12B;3510;Hønefoss;en;yes
1003;Per Åsen;per@example.no;;Vikveien 3;3530;Røyse;nb;no
1004;Siri Berg;siri@example.no;;Uvdalsvegen 40;3632;Uvdal;nb;no
1005;Nils Li;;;Postboks 7;3631;Rødberg;nb;no
"""

POINTS_CSV = f"""metering_point_id;customer_id;meter_number;municipality;street;postal_code;city;han_port
{NORE_POINT};1001;{NORE_METER};3338;Sentrumsvegen 5;3630;Rødberg;closed
{RINGERIKE_POINT};1002;{RINGERIKE_METER};3305;Storgata 12B;3510;Hønefoss;none
{HOLE_POINT};1003;{HOLE_METER};0612;Vikveien 3;3530;Røyse;none
{NORE_OPEN_POINT};1004;{NORE_OPEN_METER};0633;Uvdalsvegen 40;3632;Uvdal;open
{NORE_POINT_2};1005;{NORE_METER_2};3050;Nedre Dal 2;3631;Rødberg;closed
"""


def consent(**over: str) -> dict[str, str]:
    """A valid consent for NORE_POINT (customer 1001)."""
    base = {
        "signer_name": "Kari Nordmann",
        "signer_role": "subscriber",
        "address": "Sentrumsvegen 5",
        "postal_code": "3630",
        "security": "inside_dwelling",
        "channel": "form",
        "declaration_version": "v1",
        "received_at": "2026-03-02T08:30:00+01:00",
    }
    base.update(over)
    return base


def settings_for(url: str, **over: Any) -> Settings:
    env = {"HANPORT_DATABASE_URL": url, "HANPORT_ROLES": ROLES, **PINNED}
    return load(env, user="cw", **over)


def make_app(url: str, now: str = START, **over: Any) -> App:
    return bootstrap(settings_for(url, **over), now=now, simulated=True)


def seed(app: App, folder: Path) -> None:
    """Import the test registry through the real import code."""
    folder.mkdir(parents=True, exist_ok=True)
    c, p = folder / "customers.csv", folder / "points.csv"
    c.write_text(CUSTOMERS_CSV, encoding="utf-8")
    p.write_text(POINTS_CSV, encoding="utf-8")
    actor = resolve(app, "cw")
    rc = import_customers(app, actor, c)
    rp = import_points(app, actor, p)
    assert not rc.rejected and not rp.rejected, (rc.rejected, rp.rejected)


def actor(app: App, name: str = "cw") -> Actor:
    return resolve(app, name)


def copy_reminders(conn: Connection, per_case: int) -> tuple[int, frozenset[int]]:
    """Add ``per_case - 1`` more ``remind_consent`` timers for every case that has one, each
    copy a minute after the last (so one case's firings land in different batches); return
    (how many there were before, the ids of all of them)."""
    T = tables.TIMERS
    first = [
        dict(r) for r in conn.execute(select(T).where(T.c.name == "remind_consent")).mappings()
    ]
    extra = [
        {
            "case_id": t["case_id"],
            "name": t["name"],
            "kind": t["kind"],
            "trigger": t["trigger"],
            "due_at": t["due_at"] + timedelta(minutes=j),
            "status": "pending",
            "created_at": t["created_at"],
            "started_seq": t["started_seq"],
        }
        for j in range(1, per_case)
        for t in first
    ]
    if extra:
        conn.execute(insert(T), extra)
    ids = frozenset(conn.execute(select(T.c.id).where(T.c.name == "remind_consent")).scalars())
    return len(first), ids


def keyed_hash_of(app: App, customer_id: str, value: str) -> str:
    """The hash an event carries for ``value`` of customer ``customer_id`` (their own key under
    the pepper), as the decider makes it."""
    from hanport.service.policy import subject_secret_of
    from hanport.storage.hashing import keyed_hash
    from hanport.storage.uow import UnitOfWork

    with UnitOfWork(app.engine) as uow:
        cust = uow.customers.by_id(customer_id)
        assert cust is not None, customer_id
        return keyed_hash(subject_secret_of(app, uow, cust.id), value)


def customer_of(app: App, ref: str) -> str:
    from hanport.queries.cases import case_view

    return str(case_view(app, ref)["customer"])


def nore_form(**over: str) -> dict[str, str]:
    """A valid Nore order-and-consent web form for NORE_POINT (customer 1001), as typed."""
    base = {
        "signer_name": "Kari Nordmann",
        "signer_role": "customer",
        "address": "Sentrumsvegen 5",
        "postal_code": "3630",
        "meter": NORE_METER,
        "email": "kari@example.no",
        "security": "inside_dwelling",
        "accept": "yes",
    }
    return {**base, **over}

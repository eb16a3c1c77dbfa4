"""The demo's privacy chapter: Ola, who moved out in the nightly batch, asks by letter for
everything held about him (GDPR art. 15) — a ``privacy_request`` case, due one month after
receipt; the data-protection officer sends him the export; once his records have passed their
retention periods (short in the demo: 30 days), he is erased; the audit still verifies."""

from __future__ import annotations

from pathlib import Path

from hanport import service
from hanport.demo.stage import CASEWORKER, CUSTOMERS, POINTS, PRIVACY, SUPERVISOR, Story, advance
from hanport.service.commands import (
    DeliverMail,
    EraseCustomer,
    ImportCustomers,
    ImportMeteringPoints,
    OpenSubjectRequest,
)
from hanport.workflows.definition import Actor

OLA, OLA_POINT, NEWCOMER = "20002", "707057500032174572", "20014"
# The grid company's registry after the move: a newcomer holds Ola's old metering point.
NEWCOMER_ROW = f"{NEWCOMER};Stian Moe;stian.moe@example.no;;Storgata 12B;3510;Hønefoss;nb;no\n"


def ola_asks_and_is_forgotten(s: Story) -> None:
    app = s.app
    cw, sup, dpo = s.actor(CASEWORKER), s.actor(SUPERVISOR), s.actor(PRIVACY)
    s.say("Privacy: Ola, who has moved away, writes to ask for everything held about him")
    r = s.step(
        "  a caseworker registers his letter (GDPR art. 15)",
        lambda: service.run(app, cw, OpenSubjectRequest(OLA, "access", "letter")),
    )
    ref = r.case
    due = _answer_by(s, ref)
    s.say(f"  the answer is due by {due} (one month after receipt; the DPO's list shows it)")
    s.step(
        "  the caseworker checks it is Ola (BankID)",
        lambda: advance(app, cw, ref, "verify_identity", {"method": "bankid"}),
    )
    page = _export(s, dpo)
    s.say(f"  the DPO writes his export: {page.name} (customer export {OLA} --format html)")
    s.step(
        "  the export is sent to him by letter",
        lambda: advance(app, sup, ref, "deliver_access", {"delivered_by": "letter"}),
    )
    s.expect(ref, "answered", "Privacy: Ola's access request, answered within the month")
    _newcomer(s)
    service.run(app, cw, DeliverMail())  # his notices leave before anything is erased
    plan = service.run(app, dpo, EraseCustomer(OLA, f"retention ({ref})", dry_run=True))
    held = sorted({h.what for h in plan.holds if h.until is not None})
    s.say(f"  erasing Ola now would keep the rest: {', '.join(held)} are inside retention")
    s.say("  ... 31 days later (the demo's retention periods are 30 days)")
    s.wait(days=31)
    from hanport.service.retention import due as due_now

    subjects = due_now(app, dpo)["subjects"]
    s.say(f"  privacy due: subjects to erase: {', '.join(subjects) or 'none'}")
    if OLA not in subjects:
        s.problems.append(f"privacy: {OLA} is not due for erasure after the retention periods")
    done = service.run(app, dpo, EraseCustomer(OLA, f"retention passed ({ref})"))
    s.say(f"  customer erase {OLA} → {done.outcome}")
    if done.outcome != "erased":
        s.problems.append(f"privacy: erasing {OLA} ended {done.outcome}")


def _answer_by(s: Story, ref: str) -> str:
    from hanport.queries.cases import subject_requests

    rows = subject_requests(s.app, s.actor(PRIVACY))
    return next((str(r["answer_by"]) for r in rows if r["case"] == ref), "?")


def _export(s: Story, dpo: Actor) -> Path:
    from hanport.queries.customer_export_html import to_html
    from hanport.service.reads import customer_export

    export = customer_export(s.app, dpo, OLA)
    page = Path(str(s.app.settings.maildir)).parent / "ola-export.html"
    page.write_text(to_html(export), encoding="utf-8")
    if not export.get("cases"):
        s.problems.append("privacy: Ola's export lists no case")
    return page


def _newcomer(s: Story) -> None:
    """The registry's next files (written over the first ones in the demo's folder): Ola is no
    longer a customer, Stian Moe holds his old point."""
    app, cw = s.app, s.actor(CASEWORKER)
    folder = Path(str(app.settings.maildir)).parent
    customers, points = folder / "customers.csv", folder / "metering-points.csv"
    rows = [line for line in CUSTOMERS.splitlines(keepends=True) if not line.startswith(OLA)]
    customers.write_text("".join(rows) + NEWCOMER_ROW, encoding="utf-8")
    points.write_text(POINTS.replace(f"{OLA_POINT};{OLA};", f"{OLA_POINT};{NEWCOMER};"), "utf-8")
    service.run(app, cw, ImportCustomers(customers))
    service.run(app, cw, ImportMeteringPoints(points))
    s.say(f"  the next registry import: metering point {OLA_POINT} is Stian Moe's now")

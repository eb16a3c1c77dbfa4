"""The end-to-end demo: a fresh SQLite database, a realistic registry in Nore, Ringerike and Hole,
every workflow along its main path plus the refusals a caseworker meets, then the case histories.

The demo's clock is simulated and moves forward between steps. It returns False (the CLI exits
non-zero) when any case misses its expected final state or a refusal does not happen.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from hanport import service
from hanport.bootstrap import App, bootstrap, save_clock
from hanport.config import load
from hanport.demo.chapters import scenarios
from hanport.demo.stage import (
    AUDITOR,
    CASEWORKER,
    CUSTOMERS,
    POINTS,
    PRIVACY,
    SUPERVISOR,
    Story,
)
from hanport.queries.cases import case_view
from hanport.service.commands import (
    DeliverMail,
    ImportCustomers,
    ImportMeteringPoints,
)


def _audit(s: Story) -> None:
    """The auditor's view: every chain verified and replayed, and one point's port timeline."""
    from hanport.queries import audit

    report = audit.verify(s.app)
    replays = audit.replay(s.app)
    diverging = [r.case for r in replays if r.divergences]
    if not report.ok:
        s.problems.extend(f"audit: {p.case} {p.seq}: {p.what}" for p in report.problems)
    if diverging:
        s.problems.append(f"audit: replay diverges for {', '.join(diverging)}")
    gsrn = "707057500000000063"
    timeline = audit.port(s.app, gsrn)["timeline"]
    if s.as_json:
        return
    click.echo("\n" + click.style("Audit", bold=True))
    click.echo(
        f"  audit verify --all: {report.cases} cases, {report.events} events, {report.points} "
        f"points — {'all intact' if report.ok else f'{len(report.problems)} PROBLEMS'}"
    )
    click.echo(
        f"  audit replay --all: {len(replays)} cases — {'all as recorded' if not diverging else 'DIVERGING'}"
    )
    click.echo(f"  audit port {gsrn} (Marit's: an opening overtaken by a close):")
    for t in timeline:
        warn = "  ← open without a live consent" if t["open_without_live_consent"] else ""
        click.echo(f"    {t['from_local']:<22} {t['state']:<8} {t['cause']}{warn}")


def _sla_report(s: Story, folder: Path, began: datetime) -> Path:
    """The managers' view of the demo's months: the SLA report as HTML, beside the evidence."""
    from hanport.calendar import OSLO
    from hanport.queries.reports.html import to_html
    from hanport.service.reads import sla_report

    today = s.app.clock.now().astimezone(OSLO).date()
    start = began.astimezone(OSLO).date().replace(day=1)
    report = sla_report(s.app, s.actor(SUPERVISOR), start, today)
    page = folder / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    total = next((r for r in report.sla if (r["area"], r["month"]) == ("all", "all")), None)
    if total is None or total["ports_opened"] == 0:
        s.problems.append("report: no port opened in the demo's SLA report")
    if not s.as_json:
        click.echo("\n" + click.style("Report", bold=True))
        click.echo(
            f"  report sla --from {start} --to {today}: {report.cases} cases, "
            f"{total['ports_opened'] if total else 0} ports opened, "
            f"{_share(total)} within 3 working days, {len(report.breaches)} breaches"
        )
        click.echo(f"  written to {page} (open it in a browser)")
    return page


def _share(total: dict[str, Any] | None) -> str:
    value = None if total is None else total["share_within_3"]
    return "–" if value is None else f"{100 * value:.0f} %"


def _print_histories(s: Story) -> list[dict[str, Any]]:
    out = []
    if not s.as_json:
        click.echo("\n" + click.style("Case histories", bold=True))
    for ref, want in s.expected.items():
        v = case_view(s.app, ref)
        ok = v["state"] == want
        if not ok:
            s.problems.append(f"{ref} ended {v['state']}, expected {want}")
        out.append(
            {
                "case": ref,
                "title": s.titles[ref],
                "expected": want,
                "state": v["state"],
                "history": v["history"],
            }
        )
        if s.as_json:
            continue
        mark = click.style("ok", fg="green") if ok else click.style("WRONG", fg="red")
        click.echo(f"\n{ref}  {s.titles[ref]}  [{v['state']}: {mark}]")
        for e in v["history"]:
            click.echo(
                f"  {e['seq']:>2}  {e['at_local']}  {e['actor']:<20} {e['trigger']:<24} {e['from'] or '∅'} → {e['to']}"
            )
    return out


DEMO_LINK_SECRET = "demo-only-link-key-not-for-production-0001"


def _app(folder: Path, now: str) -> App:
    """A fresh SQLite database in ``folder``, its clock simulated from ``now``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    settings = load(
        {
            "HANPORT_DATABASE_URL": f"sqlite:///{folder / 'hanport-demo.db'}",
            "HANPORT_ROLES": f"{CASEWORKER}=caseworker,{SUPERVISOR}=supervisor,"
            f"{AUDITOR}=auditor,{PRIVACY}=privacy",
            # Short retention periods, so that the demo's months can show an erasure once due.
            "HANPORT_RETENTION": "consent=30d,case=30d",
            "HANPORT_HES_ADAPTER": "simulated",
            "HANPORT_WORKFLOW_VERSIONS": "nore_open=1",
            # The demo's own key for the customer's links (never use it anywhere else): serve
            # the demo database with it to follow the links in the delivered notices.
            "HANPORT_LINK_SECRET": DEMO_LINK_SECRET,
        },
        user=CASEWORKER,
        maildir=str(folder / "maildir"),
        hes_sim_script={"707057500042745649": ("fail", "fail", "fail")},
    )
    return bootstrap(settings, now=now, simulated=True)


def run(folder: Path, now: str, *, as_json: bool = False) -> bool:
    """Run the demo in ``folder`` (recreated); True when every case ended as expected."""
    app = _app(folder, now)
    db = folder / "hanport-demo.db"
    try:
        s = Story(app, as_json)
        began = app.clock.now()
        (folder / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
        (folder / "metering-points.csv").write_text(POINTS, encoding="utf-8")
        rc = service.run(app, s.actor(), ImportCustomers(folder / "customers.csv"))
        rp = service.run(app, s.actor(), ImportMeteringPoints(folder / "metering-points.csv"))
        s.say(
            f"Registry imported: {rc.inserted} customers, {rp.inserted} metering points (Nore, Ringerike, Hole)"
        )
        scenarios(s)
        from hanport.queries.mail import list_mail
        from hanport.service.mail import maildir

        service.run(app, s.actor(), DeliverMail())
        box = maildir(app)
        delivered = len(list((box / "new").glob("*"))) if (box / "new").exists() else 0
        unsent = [m for m in list_mail(app) if m["status"] not in ("sent", "no_address")]
        if unsent:
            s.problems.append(f"{len(unsent)} notices were not delivered")
        cases = _print_histories(s)
        _audit(s)
        page = _sla_report(s, folder, began)
        _report(s, db, box, delivered, cases, page)
        save_clock(app)  # the next command continues where the demo's history ends
        return not s.problems
    finally:
        app.close()


def _report(
    s: Story, db: Path, box: Path, delivered: int, cases: list[dict[str, Any]], page: Path
) -> None:
    ok = not s.problems
    if s.as_json:
        out = {
            "ok": ok,
            "database": str(db),
            "report": str(page),
            "story": s.log,
            "cases": cases,
            "problems": s.problems,
        }
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    click.echo("")
    for p in s.problems:
        click.echo(click.style(f"PROBLEM: {p}", fg="red"), err=True)
    click.echo(f"Demo database: {db}")
    click.echo(
        f"Notices: {delivered} e-mails delivered to the Maildir folder {box} "
        f"(read them with any mail client, e.g. `mutt -f {box}`, or `hanport --db sqlite:///{db} mail list`)"
    )
    click.echo(
        click.style("Demo finished: every case reached its expected state.", fg="green")
        if ok
        else click.style("Demo finished with problems.", fg="red")
    )

"""``hanport audit``: verify, checkpoint, replay, the port of a point, export a case. Reads
only: an auditor may run every command here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hanport.entrypoints.cli.context import (
    CliState,
    check_out,
    pass_state,
    personal_options,
    table,
    write_out,
)
from hanport.errors import EXIT_AUDIT_PROBLEM, UsageError

if TYPE_CHECKING:
    from hanport.workflows.definition import Actor


@click.group(
    "audit",
    help="Audit the history: verify, checkpoint, replay, port timeline, export, the access log. Changes nothing.",
)
def group() -> None:
    pass


def _erased(consent: dict[str, Any]) -> str:
    """`` (subject erased on D)`` when the consent's subject was erased."""
    at = consent.get("subject_erased_at")
    return f" (subject erased on {at[:10]})" if at else ""


def instant(value: str | None, option: str = "--at/--as-of") -> Any:
    if value is None:
        return None
    from hanport.calendar import parse_instant
    from hanport.errors import Refused

    try:
        return parse_instant(value)
    except ValueError as exc:
        raise Refused(f"{option}: {exc}", field=option.lstrip("-").split("/")[0]) from None


def _reader(state: CliState) -> Actor:
    return state.actor()  # unknown users are refused; every known role may read


@group.command(
    "verify",
    help="Recompute every hash of one CASE or --all, check chains and derived state; exit 7 on any problem.",
)
@click.argument("case", required=False)
@click.option(
    "--all", "all_", is_flag=True, help="Verify every case (and every metering point's port state)."
)
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Also check against a checkpoint file (catches truncated or recomputed chains, deleted cases).",
)
@pass_state
def verify(state: CliState, case: str | None, all_: bool, checkpoint: Path | None) -> None:
    from hanport.queries import audit

    if bool(case) == all_:
        raise UsageError("give a CASE or --all")
    _reader(state)
    cp = json.loads(checkpoint.read_text(encoding="utf-8")) if checkpoint else None
    report = audit.verify(state.app(), case.strip().upper() if case else None, cp)
    human = (
        f"{report.cases} cases, {report.events} events, {report.points} metering points checked: "
    )
    human += "all intact" if report.ok else f"{len(report.problems)} problems"
    if report.problems:
        human += "\n" + table([p.as_dict() for p in report.problems], ["case", "seq", "what"])
    state.emit(report.as_dict(), human)
    if not report.ok:
        click.get_current_context().exit(EXIT_AUDIT_PROBLEM)


@group.command(
    "checkpoint",
    help="Print (or write with --out) a digest of every chain head and the global sequence, to keep outside the database.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the checkpoint to this file.",
)
@pass_state
def checkpoint_(state: CliState, out: Path | None) -> None:
    from hanport.queries import audit

    check_out(out)
    _reader(state)
    cp = audit.checkpoint(state.app())
    text = json.dumps(cp, indent=2, sort_keys=True)
    if out:
        write_out(out, text + "\n")
        state.emit(
            {"file": str(out), "digest": cp["digest"], "cases": len(cp["cases"])},
            f"checkpoint of {len(cp['cases'])} chains written to {out} (digest {cp['digest']})",
        )
    else:
        click.echo(text)


@group.command(
    "replay",
    help="Re-apply CASE's (or --all) recorded triggers with their recorded guard inputs; show the timeline; exit 7 on divergence.",
)
@click.argument("case", required=False)
@click.option("--all", "all_", is_flag=True, help="Replay every case.")
@click.option("--as-of", metavar="ISO", help="Stop at this moment: the state the case had then.")
@pass_state
def replay(state: CliState, case: str | None, all_: bool, as_of: str | None) -> None:
    from hanport.queries import audit

    if bool(case) == all_:
        raise UsageError("give a CASE or --all")
    _reader(state)
    results = audit.replay(state.app(), case.strip().upper() if case else None, instant(as_of))
    bad = [r for r in results if r.divergences]
    if case:
        r = results[0]
        human = (
            f"{r.case} {r.workflow} v{r.workflow_version}: {r.state}"
            + (f" as of {as_of}" if as_of else "")
            + "\n"
        )
        human += table(
            [{**t, "change": f"{t['from'] or '∅'} → {t['to']}"} for t in r.timeline],
            ["seq", "at_local", "actor", "trigger", "change"],
        )
        data: Any = r.as_dict()
    else:
        human = f"{len(results)} cases replayed: " + (
            "all as recorded" if not bad else f"{len(bad)} diverge"
        )
        data = {"cases": len(results), "ok": not bad, "diverging": [r.as_dict() for r in bad]}
    for r in bad:
        human += "\n" + table([d.as_dict() for d in r.divergences], ["case", "seq", "what"])
    state.emit(data, human)
    if bad:
        click.get_current_context().exit(EXIT_AUDIT_PROBLEM)


@group.command(
    "port",
    help="Was the HAN port of METERING_POINT open at --at, since when, under which consent? Without --at: its whole timeline.",
)
@click.argument("metering_point")
@click.option("--at", metavar="ISO", help="The moment to ask about (no offset: Oslo time).")
@personal_options
@pass_state
def port(
    state: CliState, metering_point: str, at: str | None, personal: bool, purpose: str | None
) -> None:
    from hanport.service import reads

    reader = _reader(state)
    point = metering_point.strip()
    r = reads.port(state.app(), reader, point, instant(at), personal=personal, purpose=purpose)
    if at:
        c = r.get("consent")
        lines = [
            f"{r['metering_point']} at {at}: {r['state']}"
            + (f" since {r['since_local']} ({r['cause']})" if "since" in r else "")
        ]
        if r.get("case"):
            lines.append(f"  case: {r['case']}")
        if c:
            erased = _erased(c)
            signer = c["signer_name"] or (
                "signer erased" if erased else "signer withheld (--personal)"
            )
            who = (
                "LEGACY consent (imported, opened before the system)"
                if c["legacy"]
                else f"consent #{c['id']}: {signer} ({c['signer_role']}), {c['channel']}, declaration {c['declaration_version']}, address check {c['address_match']}, received {c['received_at']}"
            )
            lines.append(
                f"  {who}; customer {c['customer']}{erased}; live then: {'yes' if r['consent_live_at_that_moment'] else 'NO'}"
            )
        elif r.get("data_may_flow"):
            lines.append("  OPEN WITHOUT A LIVE CONSENT")
        human = "\n".join(lines)
    else:
        rows = []
        for t in r["timeline"]:
            c = t["consent"]
            rows.append(
                {
                    "from": t["from_local"],
                    "state": t["state"],
                    "cause": t["cause"],
                    "consent": (
                        "legacy"
                        if c and c["legacy"]
                        else (f"#{c['id']} {c['end_reason'] or 'live'}{_erased(c)}" if c else "-")
                    ),
                    "warning": "OPEN WITHOUT LIVE CONSENT"
                    if t["open_without_live_consent"]
                    else "",
                }
            )
        human = (
            f"{r['metering_point']} (meter {r['meter_number']}), port now {r['port_now']}\n"
            + table(rows, ["from", "state", "cause", "consent", "warning"])
        )
    state.emit(r, human)


@group.command(
    "export",
    help="Export CASE's evidence (verdicts, path diagram, events with hashes, HES commands, port timeline, cancellation, consent, mails as sent) as one self-contained file; notes, the signer and the mails' text only with --personal.",
)
@click.argument("case")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "html"]),
    default="html",
    show_default=True,
    help="File format.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of stdout.",
)
@personal_options
@pass_state
def export(
    state: CliState, case: str, fmt: str, out: Path | None, personal: bool, purpose: str | None
) -> None:
    from hanport.queries.evidence_html import to_html
    from hanport.service.reads import export as evidence

    check_out(out)
    reader = _reader(state)
    ev = evidence(state.app(), reader, case, personal=personal, purpose=purpose)
    text = (
        to_html(ev) if fmt == "html" else json.dumps(ev, indent=2, ensure_ascii=False, default=str)
    )
    if out:
        write_out(out, text)
        click.echo(f"{ev['case']['case']}: evidence written to {out}", err=True)
    else:
        click.echo(text)


@group.command(
    "access",
    help="List the access log: every read of personal data (when, who, whose by customer "
    "number, which command, the purpose). For the data-protection officer; exit 7 if reads "
    "are missing from it (a reader rolled a read back).",
)
@click.option("--customer", metavar="C", help="Only reads of this customer's data.")
@click.option("--reader", metavar="USER", help="Only reads by this user (or for this person).")
@click.option("--since", metavar="ISO", help="Only reads from this moment (no offset: Oslo time).")
@pass_state
def access(state: CliState, customer: str | None, reader: str | None, since: str | None) -> None:
    from hanport.calendar import format_local, isoformat_utc
    from hanport.service.reads import access_log
    from hanport.storage.views.access import AccessFilter

    dpo = _reader(state)
    rows, missing = access_log(state.app(), dpo, AccessFilter(customer, reader, instant(since)))
    data = [
        {
            "id": r.id,
            "read_no": r.read_no,
            "at": isoformat_utc(r.at),
            "at_local": format_local(r.at),
            "recorded_at": isoformat_utc(r.recorded_at),
            "login": r.login,
            "reader": r.actor,
            "role": r.role,
            "on_behalf_of": r.on_behalf_of,
            "command": r.command,
            "purpose": r.purpose,
            "customer": r.subject,
            "what": r.what,
        }
        for r in rows
    ]
    columns = ["read_no", "at_local", "reader", "role", "customer", "what", "command", "purpose"]
    human = table(data, columns)
    if missing:
        human += (
            f"\n{len(missing)} reads have no row (numbers {', '.join(map(str, missing[:20]))}"
            f"{' …' if len(missing) > 20 else ''}): their reader rolled the read's transaction "
            "back, or the server stopped within it"
        )
    state.emit({"reads": data, "missing": missing}, human)
    if missing:
        click.get_current_context().exit(EXIT_AUDIT_PROBLEM)

"""``hanport privacy``: the erasure ledger, applying it again after a restore, and what the
retention periods say should go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hanport.entrypoints.cli.context import CliState, check_out, pass_state, table


@click.group(
    "privacy",
    help="Privacy: data subjects' requests (GDPR art. 15–18), the erasure ledger, applying it "
    "again after a restore, what retention says should go now, and the cleared values out of "
    "the database's files (vacuum).",
)
def group() -> None:
    pass


@group.command(
    "reapply",
    help="After a restore of an older backup: apply again every erasure of the ledger file "
    "(--ledger, else HANPORT_ERASURE_LEDGER) that this database does not hold, as it was "
    "recorded; each is added to the database's ledger, so a second run applies nothing. "
    "For privacy and supervisors.",
)
@click.option(
    "--ledger",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The ledger file (JSON lines) kept outside the database.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be erased again; change nothing.")
@pass_state
def reapply(state: CliState, ledger: Path | None, dry_run: bool) -> None:
    from hanport.service import run
    from hanport.service.commands import ReapplyErasures

    r = run(state.app(), state.actor(), ReapplyErasures(ledger, dry_run))
    lines = [
        f"{'would apply' if dry_run else 'applied'} {len(r.applied)} erasure(s) again, "
        f"{r.already} already in this database"
    ]
    lines += [f"  {e['subject']} ({e['scope']}, erased {e['at'][:10]})" for e in r.applied]
    lines += [f"  {s}: not in this database" for s in r.missing]
    state.emit(r.as_dict(), "\n".join(lines))


@group.command(
    "ledger",
    help="List the erasure ledger (which subject, when, who, why, what — no personal data), or "
    "write it as JSON lines with --export FILE, the copy to keep apart from the database's "
    "backups. For privacy, supervisors and auditors.",
)
@click.option(
    "--export",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the whole ledger to this file (JSON lines).",
)
@pass_state
def ledger(state: CliState, out: Path | None) -> None:
    from hanport.service.erasure import ledger_entries, require_reader, write_ledger_lines

    require_reader(state.actor(), "the erasure ledger")
    entries = ledger_entries(state.app())
    if out is not None:
        check_out(out)
        write_ledger_lines(out, entries, append=False)
        click.echo(f"{len(entries)} erasure(s) written to {out}", err=True)
        return
    rows = [{**e, "at": e["at"][:16], "erased": _erased(e["erased"])} for e in entries]
    state.emit(
        entries, table(rows, ["at", "subject", "scope", "actor", "role", "reason", "erased"])
    )


@group.command(
    "rekey-ledgers",
    help="Once, after upgrading to the per-subject hashes: key the idempotency ledgers' request "
    "digests written before (bare SHA-256) under HANPORT_PEPPER, so a reader of the database "
    "alone cannot test a guessed request against them. For privacy and supervisors.",
)
@click.option("--dry-run", is_flag=True, help="Count the digests to key; change nothing.")
@pass_state
def rekey_ledgers(state: CliState, dry_run: bool) -> None:
    from hanport.service import run
    from hanport.service.commands import RekeyLedgers

    counts = run(state.app(), state.actor(), RekeyLedgers(dry_run))
    verb = "would key" if dry_run else "keyed"
    text = ", ".join(f"{n} in {ledger}" for ledger, n in counts.items())
    state.emit({"dry_run": dry_run, **counts}, f"{verb}: {text}")


def _erased(counts: dict[str, Any]) -> str:
    return ", ".join(f"{t} {n}" for t, n in counts.items())


@group.command(
    "due",
    help="What the retention periods say should go at --at (default now): the subjects whose "
    "records all passed retention (erase them with `customer erase`), and what the nightly "
    "slot clears on its own (mail bodies, web forms settled without a case, old reads in the "
    "access log); with the periods and their legal basis. For privacy, supervisors and "
    "auditors.",
)
@click.option("--at", metavar="ISO", help="The moment to ask for (no offset: Oslo time).")
@pass_state
def due(state: CliState, at: str | None) -> None:
    from hanport.entrypoints.cli.audit import instant
    from hanport.service.retention import due as due_now

    v = due_now(state.app(), state.actor(), instant(at))
    lines = [
        f"Due at {v['at']}:",
        f"  subjects to erase (customer erase): {', '.join(v['subjects']) or 'none'}",
        f"  mail bodies to clear (nightly): {len(v['mail_bodies'])}",
        f"  web forms to erase (nightly): {len(v['intakes'])}",
        f"  reads in the access log to delete (nightly): {v['access_log']}",
        f"  batch files to delete (nightly): {', '.join(v['batch_files']) or 'none'}",
        "",
        table(v["periods"], ["kind", "keep", "after", "automatic"]),
    ]
    state.emit(v, "\n".join(lines))


@group.command(
    "request",
    help="Register a data subject's request about customer CUSTOMER as it came: a "
    "privacy_request case, due one month after receipt (GDPR art. 12(3)). A caseworker then "
    "checks who asked (`case advance REF verify_identity --set method=…`); a supervisor "
    "answers (deliver_access, answer), restricts, extends once or refuses.",
)
@click.argument("customer")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["access", "rectification", "erasure", "restriction"]),
    help="The right asked for: access (art. 15), rectification (16), erasure (17), "
    "restriction (18).",
)
@click.option(
    "--channel",
    required=True,
    type=click.Choice(["letter", "email", "phone", "in_person", "form"]),
    help="How the request came.",
)
@click.option("--received-at", metavar="ISO", help="When it came (default now; Oslo time).")
@click.option("--key", help="Idempotency key: the same key opens the case once.")
@pass_state
def request(
    state: CliState, customer: str, kind: str, channel: str, received_at: str | None,
    key: str | None,
) -> None:  # fmt: skip
    from hanport.entrypoints.cli.audit import instant
    from hanport.service import run
    from hanport.service.commands import OpenSubjectRequest

    cmd = OpenSubjectRequest(customer, kind, channel, instant(received_at, "--received-at"), key)
    r = run(state.app(), state.actor(), cmd)
    again = " (already registered)" if r.already_applied else ""
    state.emit(r.as_dict(), f"{r.case}: {r.workflow} {kind}, {r.state}{again}")


@group.command(
    "requests",
    help="The data subjects' requests with their deadlines, soonest due first: which right, "
    "received when, the answer due by (extended once at most), overdue. For privacy, "
    "supervisors and auditors.",
)
@click.option("--all", "everything", is_flag=True, help="Answered and closed ones too.")
@pass_state
def requests(state: CliState, everything: bool) -> None:
    from hanport.queries.cases import subject_requests

    rows = subject_requests(state.app(), state.actor(), open_only=not everything)
    shown = [{**r, "overdue": "OVERDUE" if r["overdue"] else "", "extended": "yes" if r["extended"] else ""} for r in rows]  # fmt: skip
    columns = ["case", "customer", "kind", "state", "received", "answer_by", "extended", "overdue"]
    state.emit(rows, table(shown, columns))


@group.command(
    "vacuum",
    help="Take what erasure and retention cleared out of the database's own files too. SQLite: "
    "the write-ahead log emptied into the database file (erase and the nightly retention do it "
    "themselves; this is for when a reader held the log). PostgreSQL: VACUUM FULL of the "
    "tables that hold personal values (new files with the live rows only) — run it as the "
    "tables' owner, the login of `db upgrade`, after erasures and after the nightly slot; each "
    "table is locked while it is copied. Changes no row.",
)
@pass_state
def vacuum(state: CliState) -> None:
    from hanport.service.vacuum import vacuum as run_vacuum

    done = run_vacuum(state.app())
    if done.backend == "sqlite":
        text = "the write-ahead log is empty: every page is in the database file"
    else:
        text = "\n".join(f"rewrote {t} ({s:.2f} s)" for t, s in done.seconds.items())
        text += "".join(f"\nskipped {t}: only its owner may" for t in done.skipped)
    state.emit({"backend": done.backend, "seconds": done.seconds, "skipped": done.skipped}, text)


@group.command(
    "retain",
    help="Apply the automatic retention periods now, as the scheduler's nightly slot does: "
    "clear the mail bodies, the web forms that became nothing and the access log's reads "
    "past their periods in one transaction, then delete the batch's kept files past theirs "
    "(see `privacy due`). Idempotent: a second run clears nothing more. For privacy and "
    "supervisors (and the scheduler).",
)
@click.option("--dry-run", is_flag=True, help="Count what would be cleared; change nothing.")
@pass_state
def retain(state: CliState, dry_run: bool) -> None:
    from hanport.service import run
    from hanport.service.commands import ApplyRetention

    counts = run(state.app(), state.actor(), ApplyRetention(dry_run))
    verb = "would clear" if dry_run else "cleared"
    state.emit(
        {"dry_run": dry_run, **counts},
        f"{verb}: " + ", ".join(f"{k} {n}" for k, n in counts.items()),
    )

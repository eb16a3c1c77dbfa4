"""``hanport customer``: look up and correct a customer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hanport.entrypoints.cli.context import (
    CliState,
    check_out,
    pass_state,
    personal_options,
    table,
    write_out,
)

WITHHELD = "(withheld: --personal shows it, and the read is logged)"


@click.group(
    "customer",
    help="Customers: show one, update contact details and language, export everything held "
    "about one (an access request) or erase it (art. 17).",
)
def group() -> None:
    pass


@group.command("show", help="Show customer C: contact details, history, metering points and cases.")
@click.argument("c")
@personal_options
@pass_state
def show(state: CliState, c: str, personal: bool, purpose: str | None) -> None:
    from hanport.service.reads import show_customer

    reader = state.actor()
    v = show_customer(state.app(), reader, c, personal=personal, purpose=purpose)
    state.emit(v, _render(v))


def _contact(v: dict[str, Any]) -> list[str]:
    if not v["personal"]:
        return [
            f"Customer {v['customer']}",
            f"  name, e-mail, phone, address {WITHHELD}   language {v['language']}",
        ]
    return [
        f"Customer {v['customer']}: {v['name'] or '(no name)'}",
        f"  e-mail {v['email'] or '(none)'}   phone {v['phone'] or '(none)'}   language {v['language']}",
        f"  address {v['street'] or ''}, {v['postal_code'] or ''} {v['city'] or ''}",
    ]


def _render(v: dict[str, Any]) -> str:
    return "\n".join(
        [
            *_contact(v),
            f"  ENERGIPILOT {'yes' if v['energipilot'] else 'no'}   version {v['version']}",
            "",
            "Metering points:",
            table(v["metering_points"], ["metering_point", "meter_number", "municipality", "port"]),
            "",
            "Cases:",
            table(v["cases"], ["ref", "workflow", "state"]),
            "",
            "History:",
            table(v["history"], ["version", "valid_from", "changed_by", "source"]),
        ]
    )


@group.command("update", help="Update customer C's e-mail, phone or language (history kept).")
@click.argument("c")
@click.option("--email", metavar="E", help="New e-mail address ('' removes it).")
@click.option("--phone", metavar="P", help="New phone number, normalised to E.164 ('' removes it).")
@click.option("--language", type=click.Choice(["nb", "en"]), help="Language of notices.")
@pass_state
def update(
    state: CliState, c: str, email: str | None, phone: str | None, language: str | None
) -> None:
    from hanport.service import run
    from hanport.service.commands import UpdateCustomer

    outcome = run(state.app(), state.actor(), UpdateCustomer(c, email, phone, language))
    state.emit({"customer": c, "outcome": outcome}, f"customer {c}: {outcome}")


@group.command(
    "export",
    help="Export everything held about customer C for their access request (GDPR article 15): the "
    "customer record and its history, metering points, consents with the declaration texts "
    "accepted, cases with their history in plain words, notes, mails as sent, the port timeline "
    "of their points while theirs, and when and why their data was read (never by whom). HTML "
    "in Norwegian (bokmål), self-contained; or JSON. For privacy and supervisors; every read "
    "is logged with the purpose 'access request'.",
)
@click.argument("c")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "html"]),
    default="html",
    show_default=True,
    help="File format.",
)
@click.option(
    "--output",
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of stdout (whole or not at all).",
)
@pass_state
def export(state: CliState, c: str, fmt: str, out: Path | None) -> None:
    import json

    from hanport.queries.customer_export_html import to_html
    from hanport.service.reads import customer_export

    check_out(out)
    v = customer_export(state.app(), state.actor(), c)
    text = (
        to_html(v)
        if fmt == "html" and not state.json
        else json.dumps(v, indent=2, ensure_ascii=False)
    )
    if out is None:
        click.echo(text)
        return
    write_out(out, text + "\n")
    click.echo(f"customer {v['customer_id']}: export written to {out}", err=True)


def _erasure_text(v: dict[str, Any]) -> str:
    erased = ", ".join(f"{t} {n}" for t, n in v["erased"].items() if n) or "nothing"
    lines = [f"{v['subject']}: {v['outcome']}" + (f" ({erased})" if v["erased"] else "")]
    if v["holds"]:
        lines.append("Kept, and why:")
        for h in v["holds"]:
            until = f" until {h['until'][:10]}" if h["until"] else " while it lasts"
            lines.append(f"  {h['what']} {h['ref']}{until}")
    if v["dry_run"]:
        lines.append("(dry run: nothing changed)")
    return "\n".join(lines)


def _report_erasure(state: CliState, result: Any) -> None:
    from hanport.errors import EXIT_REJECTED_ROWS

    v = result.as_dict()
    state.emit(v, _erasure_text(v))
    for warning in result.warnings:
        click.echo(f"hanport: warning: {warning}", err=True)
    if result.partial and not result.dry_run:
        click.get_current_context().exit(EXIT_REJECTED_ROWS)


@group.command(
    "erase",
    help="Erase customer C's personal data as far as the law allows (GDPR article 17). "
    "Every personal value becomes a tombstone (name, contact details, postal address and "
    "their history, consent evidence, notes and mails of their cases, web forms), recorded "
    "in the erasure ledger (who, when, why — no personal data); events and the port timeline "
    "stay, so the audit still verifies. Refused (exit 4, nothing changed) while an active "
    "case, a mail waiting to be sent or an unsettled web form needs them; while the customer "
    "holds a metering point, has a live consent or records inside their retention period "
    "only the e-mail and phone are erased (exit 6) and the rest is named with until when. "
    "For privacy and supervisors.",
)
@click.argument("c")
@click.option(
    "--reason",
    required=True,
    metavar="TEXT",
    help="Why (the request and its date); do not name the person.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be erased or kept; change nothing.")
@pass_state
def erase(state: CliState, c: str, reason: str, dry_run: bool) -> None:
    from hanport.service import run
    from hanport.service.commands import EraseCustomer

    _report_erasure(state, run(state.app(), state.actor(), EraseCustomer(c, reason, dry_run)))


@group.command(
    "erase-signer",
    help="Erase the name of who signed consent CONSENT for the customer (a power of attorney). "
    "Only once the consent's evidence is past its retention period; refused "
    "(exit 4) while the consent is live or its evidence is kept, naming until when. For "
    "privacy and supervisors.",
)
@click.argument("consent", type=int)
@click.option("--reason", required=True, metavar="TEXT", help="Why (the request and its date).")
@click.option("--dry-run", is_flag=True, help="Say what would be erased; change nothing.")
@pass_state
def erase_signer(state: CliState, consent: int, reason: str, dry_run: bool) -> None:
    from hanport.service import run
    from hanport.service.commands import EraseSigner

    _report_erasure(state, run(state.app(), state.actor(), EraseSigner(consent, reason, dry_run)))

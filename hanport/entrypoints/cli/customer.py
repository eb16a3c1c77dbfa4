"""``hanport customer``: look up and correct a customer."""

from __future__ import annotations

from typing import Any

import click

from hanport.entrypoints.cli.context import CliState, pass_state, personal_options, table

WITHHELD = "(withheld: --personal shows it, and the read is logged)"


@click.group("customer", help="Customers: show one, or update contact details and language.")
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

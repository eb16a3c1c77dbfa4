"""``hanport case``: open, list, show and advance cases."""

from __future__ import annotations

from typing import Any

import click

from hanport.entrypoints.cli.context import CliState, pass_state, personal_options, table, warn
from hanport.errors import UsageError


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: use name=value")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v
    return out


def _result(state: CliState, result: Any) -> None:
    for w in result.warnings:
        warn(w)
    human = f"{result.case}: {result.workflow} {result.state} (after event {result.version})"
    if result.already_applied:
        human += " — already applied"
    state.emit(result.as_dict(), human)


def _open(state: CliState, workflow: str, **options: Any) -> None:
    """The three ``case open`` commands differ only in the options they take."""
    from hanport.service import run
    from hanport.service.commands import OpenCase

    _result(state, run(state.app(), state.actor(), OpenCase(workflow, **options)))


@click.group("case", help="Cases: open, list, show, advance.")
def group() -> None:
    pass


@group.group("open", help="Open a case in one of the workflows.")
def open_() -> None:
    pass


KEY_HELP = "Idempotency key: a repeat with the same data returns the first result."
CHANNEL = click.Choice(["form", "email", "phone"])


@open_.command(
    "nore-open", help="Open the HAN port of a Nore meter (consent fields may come with --set)."
)
@click.option(
    "--metering-point", "point", required=True, metavar="ID", help="Metering point ID (18 digits)."
)
@click.option("--customer", required=True, metavar="C", help="Customer number.")
@click.option("--channel", type=CHANNEL, help="How the request arrived.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="K=V",
    help="Consent field (repeatable), as for record_consent.",
)
@click.option("--key", metavar="K", help=KEY_HELP)
@pass_state
def nore_open(
    state: CliState,
    point: str,
    customer: str,
    channel: str | None,
    sets: tuple[str, ...],
    key: str | None,
) -> None:
    _open(
        state,
        "nore_open",
        customer=customer,
        metering_point=point,
        channel=channel,
        fields=parse_sets(sets),
        key=key,
    )


@open_.command(
    "meter-swap", help="Order a free meter swap (Ringerike, Hole) so the port can be opened later."
)
@click.option(
    "--metering-point", "point", required=True, metavar="ID", help="Metering point ID (18 digits)."
)
@click.option("--customer", required=True, metavar="C", help="Customer number.")
@click.option("--channel", type=CHANNEL, help="How the request arrived.")
@click.option(
    "--energipilot-ack", is_flag=True, help="The ENERGIPILOT customer was warned and accepted."
)
@click.option("--key", metavar="K", help=KEY_HELP)
@pass_state
def meter_swap(
    state: CliState,
    point: str,
    customer: str,
    channel: str | None,
    energipilot_ack: bool,
    key: str | None,
) -> None:
    _open(
        state,
        "meter_swap",
        customer=customer,
        metering_point=point,
        channel=channel,
        energipilot_ack=energipilot_ack,
        key=key,
    )


@open_.command(
    "close-port", help="Close a HAN port on the customer's request (meter number required)."
)
@click.option(
    "--meter-number", required=True, metavar="N", help="The meter number the customer gave."
)
@click.option("--customer", required=True, metavar="C", help="Customer number.")
@click.option(
    "--channel",
    required=True,
    type=click.Choice(["email", "phone"]),
    help="How the request arrived.",
)
@click.option("--from-email", metavar="E", help="Sender address, for a request by e-mail.")
@click.option("--key", metavar="K", help=KEY_HELP)
@pass_state
def close_port(
    state: CliState,
    meter_number: str,
    customer: str,
    channel: str,
    from_email: str | None,
    key: str | None,
) -> None:
    _open(
        state,
        "close_port",
        customer=customer,
        meter_number=meter_number,
        channel=channel,
        from_email=from_email,
        key=key,
    )


@group.command("list", help="List cases, newest last.")
@click.option("--workflow", metavar="W", help="Only this workflow.")
@click.option("--state", "state_", metavar="S", help="Only cases in this state.")
@click.option("--customer", metavar="C", help="Only this customer's cases.")
@click.option("--metering-point", "point", metavar="ID", help="Only this metering point's cases.")
@click.option(
    "--attention",
    is_flag=True,
    help="Only cases with a flag, in needs_attention or address_review.",
)
@click.option("--overdue", is_flag=True, help="Only cases past an SLA or a timer.")
@pass_state
def list_(
    state: CliState,
    workflow: str | None,
    state_: str | None,
    customer: str | None,
    point: str | None,
    attention: bool,
    overdue: bool,
) -> None:
    from hanport.service.reads import list_cases

    reader = state.actor()
    rows = list_cases(
        state.app(),
        reader,
        workflow=workflow,
        state=state_,
        customer=customer,
        metering_point=point,
        attention=attention,
        overdue=overdue,
    )
    human = [{**r, "flags": ",".join(r["flags"])} for r in rows]
    state.emit(
        rows, table(human, ["case", "workflow", "state", "flags", "metering_point", "customer"])
    )


# What a consent's address was found to match, in plain words.
ADDRESS_MATCH = {
    "installation": "the address matches the installation's",
    "postal_address": "the address is the customer's postal address, not the installation's",
    "none": "the address matches no registered address",
}


def _point_or_request(v: dict[str, Any]) -> str:
    r = v.get("request")
    if r is None:
        return (
            f"  point     {v['metering_point']}  meter {v['meter_number'] or '-'}  port {v['port']}"
        )
    extended = " (extended)" if r["due_at_before"] else ""
    return (
        f"  request   {r['request_kind']} by {r['channel']}, received {r['received_at'][:10]}, "
        f"answer due by {r['answer_by']}{extended}"
    )


def render_case(v: dict[str, Any]) -> str:
    lines = [
        click.style(f"{v['case']}  {v['workflow']} v{v['workflow_version']}", bold=True),
        f"  state     {v['state']} — {v['state_help']}",
        f"  flags     {', '.join(v['flags']) or '(none)'}",
        _point_or_request(v),
        f"  customer  {v['customer']}",
    ]
    if v["consent"]:
        c = v["consent"]
        ended = f", ended {c['ended_at']} ({c['end_reason']})" if c["ended_at"] else ""
        lines.append(
            f"  consent   #{c['id']} {c['signer_role']} via {c['channel']}, "
            f"{ADDRESS_MATCH.get(c['address_match'], c['address_match'])}, "
            f"declaration {c['declaration_version']}{ended}"
        )
    lines += ["", "Allowed triggers:"]
    for a in v["allowed"]:
        fields = ", ".join(
            f"{f['name']}{'' if f['required'] else '?'}"
            + (f" ({'|'.join(f['choices'])})" if "choices" in f else "")
            for f in a["fields"]
        )
        extra = f"  --set {fields}" if fields else ""
        note = "  --note required" if a["note_required"] else ""
        lines.append(f"  {a['trigger']:<24} [{a['role']}] {a['help']}{extra}{note}")
    if not v["allowed"]:
        lines.append("  (none: the case is closed)")
    lines += ["", "Pending timers:", table(v["timers"], ["name", "trigger", "due_local"])]
    lines += ["", "HES commands:", table(v["hes_commands"], ["id", "action", "status", "attempt"])]
    lines += ["", "Mail:", table(v["mail"], ["id", "template", "status"])]
    lines += ["", "Notes:", _notes(v["notes"])]
    lines += [
        "",
        "History:",
        table(
            [{**e, "change": f"{e['from'] or '∅'} → {e['to']}"} for e in v["history"]],
            ["seq", "at_local", "actor", "trigger", "change"],
        ),
    ]
    return "\n".join(lines)


def _notes(notes: list[dict[str, Any]] | None) -> str:
    if notes is None:
        return "  (withheld: --personal shows them, and the read is logged)"
    rows = [{**n, "text": n["text"] if n["text"] is not None else "(erased)"} for n in notes]
    return table(rows, ["seq", "at_local", "author", "kind", "text"])


@group.command(
    "show",
    help="Show CASE: state, flags, allowed triggers and their fields, timers, mail, notes, history.",
)
@click.argument("case")
@personal_options
@pass_state
def show(state: CliState, case: str, personal: bool, purpose: str | None) -> None:
    from hanport.service.reads import show_case

    reader = state.actor()
    v = show_case(state.app(), reader, case, personal=personal, purpose=purpose)
    state.emit(v, render_case(v))


@group.command(
    "advance", help="Fire TRIGGER on CASE (see `case show` for the allowed triggers and fields)."
)
@click.argument("case")
@click.argument("trigger")
@click.option(
    "--set", "sets", multiple=True, metavar="K=V", help="A field the trigger takes (repeatable)."
)
@click.option(
    "--note", metavar="TEXT", help="A note kept with the case (required by some triggers)."
)
@click.option("--key", metavar="K", help=KEY_HELP)
@pass_state
def advance(
    state: CliState,
    case: str,
    trigger: str,
    sets: tuple[str, ...],
    note: str | None,
    key: str | None,
) -> None:
    from hanport.service import run
    from hanport.service.commands import Advance

    command = Advance(case, trigger, parse_sets(sets), note=note, key=key)
    r = run(state.app(), state.actor(), command)
    _result(state, r)

"""Guards: pure functions of named inputs.

Each guard declares the inputs it reads. The service layer computes those inputs ("facts") before
it runs a trigger, and the event records them with the outcome, so a replay evaluates the same guard
on the same inputs without today's data. Personal values (addresses, e-mail addresses) arrive as
keyed hashes (the customer's own key under the pepper): equality is all a guard needs of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Guard:
    name: str
    reads: tuple[str, ...]
    fn: Callable[..., bool]
    help: str

    def __call__(self, facts: Mapping[str, Any]) -> bool:
        return bool(self.fn(*(facts.get(r) for r in self.reads)))

    def inputs(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        return {r: facts.get(r) for r in self.reads}


GUARDS: dict[str, Guard] = {}


def guard(*reads: str) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    def register(fn: Callable[..., bool]) -> Callable[..., bool]:
        GUARDS[fn.__name__] = Guard(fn.__name__, reads, fn, (fn.__doc__ or "").strip())
        return fn

    return register


@guard("consent_address", "installation_address")
def address_matches(consent_address: str | None, installation_address: str | None) -> bool:
    """The address on the consent equals the metering point's installation address (normalised,
    postal code included)."""
    return consent_address is not None and consent_address == installation_address


@guard("channel", "from_email", "registered_email")
def sender_verified(
    channel: str | None, from_email: str | None, registered_email: str | None
) -> bool:
    """Not an e-mail, or an e-mail sent from the customer's registered address."""
    if channel != "email":
        return True
    return (
        from_email is not None and registered_email is not None and from_email == registered_email
    )


@guard("channel", "from_email", "registered_email")
def email_from_registered(
    channel: str | None, from_email: str | None, registered_email: str | None
) -> bool:
    """An e-mail from the customer's registered address: identity needs no further check."""
    return channel == "email" and from_email is not None and from_email == registered_email


@guard("registered_email")
def has_email_on_file(registered_email: str | None) -> bool:
    """The customer has an e-mail address on file (where every notice about the case goes)."""
    return registered_email is not None


@guard("signer_role", "signer", "registered_name", "from_email", "registered_email")
def identity_plain(
    signer_role: str | None,
    signer: str | None,
    registered_name: str | None,
    from_email: str | None,
    registered_email: str | None,
) -> bool:
    """The registered customer signed as the subscriber, has an e-mail on file, and any e-mail
    given with the request is that one: a notice to the e-mail on file reaches who asked."""
    return (
        signer_role == "subscriber"
        and signer is not None
        and signer == registered_name
        and registered_email is not None
        and (from_email is None or from_email == registered_email)
    )


@guard("identity")
def identity_was_plain(identity: str | None) -> bool:
    """When the consent was recorded, who asked was plainly the registered customer."""
    return identity == "plain"


@guard("hes_failures", "hes_max_attempts")
def failures_exhausted(hes_failures: int | None, hes_max_attempts: int | None) -> bool:
    """This failure is the last attempt allowed."""
    return (hes_failures or 0) + 1 >= (hes_max_attempts or 3)


@guard("energipilot", "energipilot_ack")
def energipilot_cleared(energipilot: bool | None, energipilot_ack: bool | None) -> bool:
    """The customer is not in ENERGIPILOT, or has acknowledged the warning."""
    return not energipilot or bool(energipilot_ack)


@guard("energipilot", "energipilot_ack")
def energipilot_warning_due(energipilot: bool | None, energipilot_ack: bool | None) -> bool:
    """An ENERGIPILOT customer who has not yet acknowledged the warning."""
    return bool(energipilot) and not energipilot_ack


@guard("meter_holder", "customer")
def meter_of_other_customer(meter_holder: str | None, customer: str | None) -> bool:
    """The meter number belongs to a point whose current customer is someone else."""
    return meter_holder is not None and meter_holder != customer


@guard("effective_at", "now")
def effective_reached(effective_at: str | None, now: str | None) -> bool:
    """The auto-close's effective instant has come (ISO instants with offsets)."""
    if effective_at is None or now is None:
        return False
    return datetime.fromisoformat(now) >= datetime.fromisoformat(effective_at)


def evaluate(names: tuple[str, ...], facts: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Evaluate guards by name and return the record an event stores."""
    return {n: {"inputs": GUARDS[n].inputs(facts), "result": GUARDS[n](facts)} for n in names}


@guard("close_reason")
def is_auto_close(close_reason: str | None) -> bool:
    """The close was started by a move, a contract end or a meter replacement, not requested."""
    return close_reason not in (None, "withdrawn")


@guard("request_kind")
def request_access(request_kind: str | None) -> bool:
    """The data subject asked for access to their data (art. 15)."""
    return request_kind == "access"


@guard("request_kind")
def request_rectification(request_kind: str | None) -> bool:
    """The data subject asked for their data to be corrected (art. 16)."""
    return request_kind == "rectification"


@guard("request_kind")
def request_erasure(request_kind: str | None) -> bool:
    """The data subject asked for their data to be erased (art. 17)."""
    return request_kind == "erasure"


@guard("request_kind")
def request_restriction(request_kind: str | None) -> bool:
    """The data subject asked for processing of their data to be restricted (art. 18)."""
    return request_kind == "restriction"


@guard("due_at_before")
def deadline_extended(due_at_before: str | None) -> bool:
    """The request's deadline was extended already (once is all art. 12(3) allows)."""
    return due_at_before is not None


@guard("due_at", "now")
def deadline_passed(due_at: str | None, now: str | None) -> bool:
    """The request's deadline has passed (ISO instants with offsets): too late to extend."""
    if due_at is None or now is None:
        return False
    return datetime.fromisoformat(now) >= datetime.fromisoformat(due_at)


@guard("subject_erased")
def subject_erased(subject_erased: bool | None) -> bool:
    """The case's customer has been erased (``customer erase``)."""
    return bool(subject_erased)


@guard("channel")
def from_form(channel: str | None) -> bool:
    """The request came through the customer web form (who sent it is not yet known)."""
    return channel == "form"


@guard("channel")
def from_link(channel: str | None) -> bool:
    """The request came from a signed link in a notice sent to the e-mail on file."""
    return channel == "link"

"""Guard inputs: the named facts a workflow's guards read, computed on demand from the case,
its point and customer, and the command's fields. Personal values are keyed hashes — equality
is all a guard needs of them — and every input read is recorded in the event, so a replay needs
no current data."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from typing import TYPE_CHECKING, Any

from hanport.workflows.model import Case

if TYPE_CHECKING:
    from hanport.workflows.decider import Decision


class Facts(Mapping[str, Any]):
    """Guard inputs, computed on demand from the case, its point and customer, and the command's
    fields. Personal values are keyed hashes: equality is all a guard needs of them."""

    def __init__(self, decision: Decision, case: Case, fields: Mapping[str, Any]) -> None:
        self.decision, self.case, self.fields = decision, case, fields
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            provider = _FACTS.get(name)
            if provider is None:
                raise KeyError(name)
            self._cache[name] = provider(self)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_FACTS)

    def __len__(self) -> int:
        return len(_FACTS)

    def _hash(self, value: str) -> str:
        """Keyed with the case's customer's secret: both sides of every comparison a guard
        makes (what was written, what is on file) are the same subject's."""
        return self.decision.hash(self.case.customer.pk, value)

    def address(self, street: str | None, postal: str | None) -> str | None:
        text = self.decision.policy.address_key(street, postal)
        return self._hash(text) if text else None

    def name(self, value: str | None) -> str | None:
        """A person's name, case and spacing aside, as a keyed hash."""
        return self._hash(" ".join(value.casefold().split())) if value else None

    def email(self, value: str | None) -> str | None:
        return self._hash(value.strip().lower()) if value else None


_FACTS: dict[str, Callable[[Facts], Any]] = {
    "consent_address": lambda f: f.address(f.fields.get("address"), f.fields.get("postal_code")),
    "installation_address": lambda f: f.address(f.case.point.street, f.case.point.postal_code),
    "postal_address": lambda f: f.address(f.case.customer.street, f.case.customer.postal_code),
    "channel": lambda f: f.fields.get("channel", f.case.data.get("channel")),
    "from_email": lambda f: f.email(f.fields.get("from_email")),
    "registered_email": lambda f: f.email(f.case.customer.email),
    "signer_role": lambda f: f.fields.get("signer_role"),
    "signer": lambda f: f.name(f.fields.get("signer_name")),
    "registered_name": lambda f: f.name(f.case.customer.name),
    "identity": lambda f: f.case.data.get("identity"),
    "hes_failures": lambda f: int(f.case.data.get("hes_failures", 0)),
    "hes_max_attempts": lambda f: f.decision.policy.hes_max_attempts,
    "energipilot": lambda f: bool(f.case.customer.energipilot),
    "energipilot_ack": lambda f: bool(f.case.data.get("energipilot_ack")),
    "meter_holder": lambda f: f.case.data.get("meter_holder"),
    "customer": lambda f: f.case.customer.customer_id,
    "effective_at": lambda f: f.case.data.get("effective_at"),
    "now": lambda f: f.decision.now.astimezone(UTC).isoformat(),
    "close_reason": lambda f: f.case.data.get("close_reason"),
    "request_kind": lambda f: f.case.data.get("request_kind"),
    "due_at_before": lambda f: f.case.data.get("due_at_before"),
    "due_at": lambda f: f.case.data.get("due_at"),
    "subject_erased": lambda f: f.case.customer.erased,
}

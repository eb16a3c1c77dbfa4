"""Restriction of processing (GDPR art. 18): while a data subject's request holds their
processing restricted (a ``privacy_request`` case in state ``restricted``), the engine keeps
their records but does nothing further with them.

One rule across every workflow, applied by the decider to every trigger and every new case
(whoever fires it: a caseworker, the customer, the batch or a timer): what stays allowed is
what ends processing or records what already happened — cancelling or rejecting, closing the
port, an objection, an expiry, the head-end system's answer to a command already out, and the
flags. Everything that takes a case further (a consent recorded, a reminder, an opening, a
retry, a meter swap's next step) is refused until the restriction is lifted; a timer refused
this way is skipped, its outcome naming the request. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from hanport.workflows.errors import Refusal
from hanport.workflows.model import Case, Customer

# The workflow that restricts (its own cases go on) and the one that only stops processing.
SUBJECT_WORKFLOW = "privacy_request"
CLOSING_WORKFLOW = "close_port"
ALLOWED_WHILE_RESTRICTED = frozenset(
    {
        "cancel",
        "reject",
        "object",
        "expire",
        "confirm_open",
        "report_failure",
        "clear_flag",
        "flag_mail_dead",
        "flag_no_email",
        "sla_breached",
        "swap_overdue",
    }
)


def _refusal(customer: Customer, request: str, what: str) -> Refusal:
    return Refusal(
        f"processing of customer {customer.customer_id}'s data is restricted (GDPR art. 18) by "
        f"{request}: {what} waits until the restriction is lifted (cancelling, closing and "
        "what the head-end system answers go on)"
    )


def check_trigger(case: Case, trigger: str, restricted: Mapping[int, str]) -> None:
    """Refuse ``trigger`` on ``case`` while its customer's processing is restricted, unless
    it ends processing or records what already happened."""
    request = restricted.get(case.customer.pk)
    if request is None or case.workflow in (SUBJECT_WORKFLOW, CLOSING_WORKFLOW):
        return
    if trigger not in ALLOWED_WHILE_RESTRICTED:
        raise _refusal(case.customer, request, f"{trigger} on {case.ref}")


def check_opening(workflow: str, customer: Customer, restricted: Mapping[int, str]) -> None:
    """Refuse a new case for a customer whose processing is restricted, unless it closes."""
    request = restricted.get(customer.pk)
    if request is None or workflow in (SUBJECT_WORKFLOW, CLOSING_WORKFLOW):
        return
    raise _refusal(customer, request, f"a new {workflow} case")

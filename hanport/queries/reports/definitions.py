"""What every figure of the report means, in the words the report prints with it."""

from __future__ import annotations

DEFINITIONS: tuple[tuple[str, str], ...] = (
    (
        "source",
        "Every figure is computed from the cases' append-only histories (their events), not "
        "from the cases' current state; with --as-of, events recorded after that moment are "
        "left out, so a report of a past period can be reproduced as it was known then.",
    ),
    (
        "area",
        "The area recorded in the case's open event (the point's municipality as registered "
        "then, mapped to its area). Cases opened before the open event recorded it take the "
        "point's municipality as registered now.",
    ),
    (
        "month",
        "Requests count in the month the case was opened, ports opened in the month of the "
        "HES confirmation, and the working-day figures in the month of the customer's notice "
        "(Europe/Oslo).",
    ),
    (
        "notice",
        "The moment the complete order reached the grid company: the received_at of the first "
        "consent recorded on the case (the form's, or the consent's when it came after the "
        "order, as after a meter swap); never later than when it was recorded.",
    ),
    ("open port", "The HES confirmation (confirm_open) that the port is open."),
    (
        "working day",
        "Monday to Friday (Saturday too if so configured) in Europe/Oslo, except Norwegian "
        "public holidays: the engine's working-day calendar.",
    ),
    (
        "working days to open",
        "0 when the port opened on the notice's own day; otherwise the number of working days "
        "after the notice's day up to the first working day on or after the day it opened. "
        "Median: the middle value (the mean of the two middle ones for an even count); 90th "
        "percentile: the ⌈0.9·n⌉-th smallest.",
    ),
    (
        "within 3 working days",
        "Open before the end (local midnight) of the third working day after the notice's day. "
        "The share is taken over the cases with a notice in the period that are decided: "
        "opened, or still not open after that deadline.",
    ),
    (
        "the engine's SLA timer",
        "The regulator's \"end of the third working day\" is looser than the engine's own SLA "
        "timer, which fires (sla_breached, counted under operations as SLA timer breaches) at "
        "the same clock time on the third working day after the order became complete (the "
        "consent recorded and the open command due, or the address approved). A port opened "
        "later that day is within three working days here although the timer fired: the timer "
        "warns the grid company early, this report measures against the regulator's words.",
    ),
    (
        "breach",
        "A case with its notice in the period that opened after the deadline (late), or was "
        "still not open when the deadline passed (overdue). Cases that ended without opening "
        "(cancelled, rejected, expired, objected) are counted apart and not measured.",
    ),
    (
        "whose clock",
        "Time waiting for the customer (states requested and awaiting_consent: the consent not "
        "yet given; for a close by phone, the identity not yet proved) is counted apart from "
        "the grid company's time (address and identity review, the objection window, the HES "
        "command and its retries, and any wait after the notice before it was recorded). A "
        "breach is the grid company's when its own time after the notice alone reaches the "
        "deadline, else the customer's.",
    ),
    (
        "swap queue",
        "Meter-swap cases from entering queued until the meter is installed (or the case "
        "leaves the queue otherwise), at the end of the period or at --as-of if earlier. "
        "Recent rate: installations in the 8 weeks before then; the estimated wait for a new "
        "order is the queue divided by that weekly rate (no estimate under 8 installations).",
    ),
    (
        "closes",
        "close_port cases opened in the period. On request: hours from the request to the HES "
        "confirmation, and to the confirmation mail being sent. Automatic (from the nightly "
        "file): hours from the document being applied to the port closed, and from its "
        "effective time to closed.",
    ),
    (
        "open without a live consent",
        "A stretch of a port's timeline in the period where it was open (or closing) while "
        "the consent behind it had ended: from the later of the opening and the consent's end "
        "to the HES confirmation of the close (or the end of the period while still open).",
    ),
    (
        "operations",
        "Events in the period, per area and meter vendor: HES failures (of which resent with "
        "backoff, and those that needed attention), manual retries, dead mail, SLA timer "
        "breaches, and manual interventions (a caseworker or supervisor retrying, clearing a "
        "flag, approving, confirming an identity, rejecting, cancelling, answering for the "
        "HES, or migrating a case).",
    ),
    (
        "personal data",
        "None: cases appear by reference only; no names, addresses, contact details or "
        "metering point IDs.",
    ),
)

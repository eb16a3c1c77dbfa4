"""Plausible instants on the command line: a consent received in the future is refused with
exit 4, the field and the clock named, and nothing changed."""

from __future__ import annotations

from tests.e2e.cli import Hanport, consent_sets


def test_a_consent_received_in_the_future_exits_4(hp: Hanport) -> None:
    ref = hp.open_nore()
    hp.refused(
        4, "case", "advance", ref, "record-consent", *consent_sets(received_at="2027-03-01T10:00"),
        says=(
            "record_consent: field received_at: 2027-03-01T10:00+01:00 is in the future "
            "(now 2026-03-02T09:00+01:00; allowed skew 5 min)"
        ),
        case=ref,
    )  # fmt: skip
    # The same form, received earlier than the case was opened: accepted.
    r = hp.advance(ref, "record-consent", *consent_sets(received_at="2026-02-26T15:00"))
    assert r.ok().json["state"] == "opening"

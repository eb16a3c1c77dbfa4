"""How long each kind of personal record is kept, and why: one declarative table.

The clock of each period starts at an event named in ``after`` (a consent's end, a case's end,
a mail's creation, an intake's settling, a read). Events, the port timeline and the erasure
ledger are never deleted: only the personal values of the rows they point to; the access log's
rows go whole once past their own period (``access_log``), oldest read first. A period
is the grid company's choice within the law; the defaults here are what hanport ships with
(none beyond 10 years), overridden with ``HANPORT_RETENTION`` (``consent=5y,mail_body=6m``) or a
``[retention]`` table in ``hanport.toml``. docs/privacy.md states the same table for people.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hanport.errors import Refused

MAX_DAYS = 3653  # 10 years: no period may be set longer


@dataclass(frozen=True)
class Keep:
    """A period: so many years, months or days (one unit)."""

    amount: int
    unit: str  # y | m | d

    def after(self, start: datetime) -> datetime:
        """The instant the period that began at ``start`` ends (a month past the 31st ends on
        the month's last day)."""
        return self._move(start, 1)

    def before(self, now: datetime) -> datetime:
        """The start of a period that ends at ``now``: what began earlier has passed it."""
        return self._move(now, -1)

    def _move(self, start: datetime, sign: int) -> datetime:
        if self.unit == "d":
            return start + timedelta(days=sign * self.amount)
        months = sign * self.amount * (12 if self.unit == "y" else 1)
        y, m = divmod(start.month - 1 + months, 12)
        year, month = start.year + y, m + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)

    def __str__(self) -> str:
        words = {"y": "year", "m": "month", "d": "day"}[self.unit]
        return f"{self.amount} {words}{'s' if self.amount != 1 else ''}"


@dataclass(frozen=True)
class Period:
    """One kind of personal record: how long it is kept after ``after``, on which legal basis,
    and whether the scheduler's nightly slot applies it (``automatic``) or it only makes a
    subject due for ``customer erase``."""

    kind: str
    what: str
    keep: Keep
    after: str
    basis: str
    automatic: bool


RETENTION: tuple[Period, ...] = (
    Period(
        "consent",
        "consent evidence: who signed, the address written, the e-mail it came from",
        Keep(3, "y"),
        "the consent ended (withdrawn, moved, replaced, cancelled, expired)",
        "GDPR art. 7(1): the controller must be able to demonstrate the consent; art. 17(3)(e): "
        "the defence of legal claims — the general limitation period for claims is 3 years "
        "(foreldelsesloven §§ 2-3, and § 9 for damages from when the claim was known)",
        False,
    ),
    Period(
        "case",
        "case records: the notes of a case, the link of its history to the person",
        Keep(3, "y"),
        "the case ended (its final state)",
        "GDPR art. 5(2) accountability and art. 17(3)(e): how a request was handled, for a "
        "complaint or a claim within the limitation period (foreldelsesloven § 2)",
        False,
    ),
    Period(
        "mail_body",
        "mail bodies: the text, HTML and addressing of a notice as sent",
        Keep(12, "m"),
        "the mail was made (it is kept whole while it waits to be sent)",
        "GDPR art. 5(1)(e) storage limitation: the history keeps that a notice was sent (its "
        "template, subject and Message-ID); a year covers a complaint about a notice to the "
        "grid company or to RME. The grid company's choice",
        True,
    ),
    Period(
        "intake_unmatched",
        "web forms that became nothing: settled by a caseworker without a case",
        Keep(30, "d"),
        "a caseworker settled the intake",
        "GDPR art. 5(1)(c) and (e), data minimisation: nothing was done with the form; 30 days "
        "lets the caseworker answer a follow-up question",
        True,
    ),
    Period(
        "access_log",
        "the access log: who read whose personal data, when, by which command and why "
        "(customer numbers and logins, never a value read)",
        Keep(3, "y"),
        "the read",
        "GDPR art. 5(2) accountability and art. 32 (security of processing: a read that should "
        "not have happened can be found and followed up), art. 15 (the person's own record of "
        "reads); a complaint or a claim for damages (art. 82) may come within the limitation "
        "period, 3 years from when the read became known (foreldelsesloven § 9). Security "
        "logging practice keeps such logs for months to a few years. The grid company's choice",
        True,
    ),
    Period(
        "batch_file",
        "the nightly batch's files: the terminations files applied (done/) or set aside "
        "(failed/), with their rejects and reasons — customer numbers, metering point IDs and "
        "instants (the grid company's pseudonyms)",
        Keep(3, "y"),
        "the file's run ended",
        "GDPR art. 5(1)(e) storage limitation: the batch's evidence for a dispute about a "
        "close within the limitation period (foreldelsesloven § 2); the case histories and "
        "the document ledger keep what each row did. The grid company's choice",
        True,
    ),
)

PERIODS: dict[str, Period] = {p.kind: p for p in RETENTION}


def parse_keep(text: str) -> Keep:
    """``3y``, ``12m``, ``30d``: at most 10 years."""
    t = str(text).strip().lower()
    unit, amount = t[-1:], t[:-1]
    if unit not in ("y", "m", "d") or not amount.isdigit() or int(amount) == 0:
        raise Refused(f"retention {text!r}: use a number and y, m or d (e.g. 3y, 12m, 30d)")
    keep = Keep(int(amount), unit)
    days = {"y": 366, "m": 31, "d": 1}[unit] * keep.amount
    if days > MAX_DAYS + 10:
        raise Refused(f"retention {text!r}: no period is kept longer than 10 years")
    return keep


def periods(overrides: Mapping[str, Keep]) -> dict[str, Period]:
    """The table with the configured periods in place of the defaults."""
    unknown = set(overrides) - set(PERIODS)
    if unknown:
        raise Refused(
            f"retention: no kind {sorted(unknown)[0]!r} (kinds: {', '.join(PERIODS)})",
            field="retention",
        )
    return {k: replace(p, keep=overrides.get(k, p.keep)) for k, p in PERIODS.items()}

"""Verifying the tamper-evident history, and the checkpoint that catches a rewritten one.

``verify`` recomputes every hash from the stored fields and streams the events in (case, seq)
order, so memory stays flat however long the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import NotFound
from hanport.storage.consent_timeline import FromEvents
from hanport.storage.hashing import GENESIS, canonical_event_text, chain_hash_text
from hanport.storage.views import Views, reading
from hanport.storage.views.events import ChainLink


@dataclass
class Problem:
    case: str
    seq: int | None
    what: str

    def as_dict(self) -> dict[str, Any]:
        return {"case": self.case, "seq": self.seq, "what": self.what}


@dataclass
class VerifyReport:
    cases: int = 0
    events: int = 0
    points: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cases": self.cases,
            "events": self.events,
            "points": self.points,
            "problems": [p.as_dict() for p in self.problems],
        }


def verify(
    app: App, ref: str | None = None, checkpoint: dict[str, Any] | None = None
) -> VerifyReport:
    """Recompute every hash and check every chain; with a checkpoint, also catch truncated or
    recomputed chains and deleted cases. Then check derived state (cases, ports). Streams the
    events: memory stays flat however long the history."""
    report = VerifyReport()
    with reading(app.engine) as views:
        if ref is not None and views.events.case_pk(ref) is None:
            raise NotFound(f"case {ref} not found")
        _check_chains(views.events.chains(ref), report)
        for empty_ref in views.events.without_events(ref):
            report.cases += 1
            report.problems.append(Problem(empty_ref, None, "the case has no events"))
        if checkpoint is not None:
            _against_checkpoint(views, checkpoint, ref, report)
        if ref is None:
            _check_ports(views, report)
            _check_consents(views, report)
    return report


def _check_chains(links: Iterable[ChainLink], report: VerifyReport) -> None:
    """Walk the events case by case; events whose case row is gone are named once per case."""
    chain: _Chain | None = None
    orphan = None
    for link in links:
        report.events += 1
        if link.case_pk is None:
            if link.case_id != orphan:
                if chain is not None:
                    chain.end(report)
                    chain = None
                orphan = link.case_id
                report.cases += 1
                report.problems.append(
                    Problem(
                        f"case #{orphan}",
                        None,
                        "events exist for a case that does not (its case row was deleted)",
                    )
                )
            continue
        if chain is None or link.case_pk != chain.case.case_pk:
            if chain is not None:
                chain.end(report)
            chain = _Chain(link)
            report.cases += 1
        chain.check(link, report.problems)
    if chain is not None:
        chain.end(report)


BROKEN = (
    "the chain is broken here: its previous hash is not the hash of the event before it (an "
    "event was removed, inserted or reordered)"
)


class _Chain:
    """One case's chain as it is walked: what the next event must continue."""

    __slots__ = (
        "case",
        "expected_seq",
        "head",
        "last_id",
        "last_seq",
        "last_to",
        "ref",
        "workflow",
    )

    def __init__(self, first: ChainLink) -> None:
        assert first.ref is not None
        self.case = first  # its case fields
        self.ref, self.workflow = first.ref, first.workflow or "?"
        self.expected_seq, self.head, self.last_id = 1, GENESIS, -1
        self.last_seq, self.last_to = 0, ""

    def check(self, e: ChainLink, problems: list[Problem]) -> None:
        """The event continues the chain: in sequence, linked to the one before, its stored
        fields hashing to its stored hash."""
        ref, seq, prev, stored = self.ref, e.seq, e.prev_hash, e.hash
        if seq != self.expected_seq:
            what = (
                f"events {self.expected_seq}..{seq - 1} are missing (removed)"
                if seq > self.expected_seq
                else f"seq {seq} out of order"
            )
            problems.append(Problem(ref, seq, what))
        if prev != self.head:
            problems.append(Problem(ref, seq, BROKEN))
        recomputed = chain_hash_text(prev, self._canonical(e))
        if recomputed != stored:
            problems.append(
                Problem(
                    ref,
                    seq,
                    f"the event was changed: its stored fields hash to {recomputed[:12]}…, not {stored[:12]}…",
                )
            )
        if e.id < self.last_id:
            problems.append(
                Problem(ref, seq, "the event's global sequence runs backwards (reordered)")
            )
        self.last_id, self.expected_seq, self.head = e.id, seq + 1, stored
        self.last_seq, self.last_to = seq, e.to_state

    def _canonical(self, e: ChainLink) -> str:
        return canonical_event_text(
            case_ref=self.ref,
            seq=e.seq,
            occurred_at=e.occurred,
            actor=e.actor,
            actor_kind=e.actor_kind,
            trigger=e.trigger,
            from_state=e.from_state,
            to_state=e.to_state,
            workflow=self.workflow,
            workflow_version=e.workflow_version,
            data_json=e.data,
        )

    def end(self, report: VerifyReport) -> None:
        """The case row must agree with its chain's last event."""
        ref, state, version, last_hash = self.ref, self.case[3], self.case[4], self.case[5]
        last_seq, last_to = self.last_seq, self.last_to
        if last_hash != self.head:
            report.problems.append(
                Problem(ref, last_seq, "the case's chain head differs from its last event's hash")
            )
        if version != last_seq:
            report.problems.append(
                Problem(
                    ref,
                    last_seq,
                    f"the case is at version {version} but its last event is seq {last_seq}",
                )
            )
        if state != last_to:
            report.problems.append(
                Problem(ref, last_seq, f"the case is {state} but its last event leads to {last_to}")
            )


def _against_checkpoint(
    views: Views, cp: dict[str, Any], ref: str | None, report: VerifyReport
) -> None:
    heads: dict[str, list[Any]] = cp.get("cases", {})
    if _digest(heads, cp.get("max_event_id")) != cp.get("digest"):
        report.problems.append(
            Problem("checkpoint", None, "the checkpoint file itself was altered (digest mismatch)")
        )
    for case_ref, (seq, h) in heads.items():
        if ref is not None and case_ref != ref:
            continue
        pk = views.events.case_pk(case_ref)
        if pk is None:
            report.problems.append(
                Problem(case_ref, None, "the case was deleted since the checkpoint")
            )
            continue
        got = views.events.hash_at(pk, seq)
        if got is None:
            report.problems.append(
                Problem(
                    case_ref, seq, f"the chain was truncated: seq {seq}, in the checkpoint, is gone"
                )
            )
        elif got != h:
            report.problems.append(
                Problem(
                    case_ref,
                    seq,
                    f"the chain was rewritten: seq {seq}'s hash differs from the checkpoint's "
                    "(recomputed chain)",
                )
            )


def _check_ports(views: Views, report: VerifyReport) -> None:
    """Each point's port state is the last state of its timeline."""
    for p in views.ports.heads():
        report.points += 1
        if p.last_state is None:
            report.problems.append(Problem(p.gsrn, None, "the metering point has no port history"))
        elif p.last_state != p.han_port:
            report.problems.append(
                Problem(
                    p.gsrn, None, f"the port is {p.han_port} but its history ends {p.last_state}"
                )
            )


def _check_consents(views: Views, report: VerifyReport) -> None:
    """The consent timeline holds exactly the rows the events give: none missing, none added,
    none changed (what the events give is kept as a hash a row, so memory stays small). Each
    problem names the case whose event gives (or should give) the row."""
    project = FromEvents()
    expected: dict[tuple[int, str], tuple[int, int | None]] = {}
    for event_case, occurred, data in views.register.consent_events():
        for row in project.rows(event_case, occurred, json.loads(data)):
            expected[(row.consent_id, row.kind)] = (hash(row), row.case_id)
    found: list[tuple[int | None, int, str]] = []  # (case, consent, what)
    for row in views.register.timeline():
        want = expected.pop((row.consent_id, row.kind), None)
        if want is None or want[0] != hash(row):
            why = "no event gives it (added or doubled)" if want is None else "changed"
            when = isoformat_utc(row.at) if row.at is not None else "?"
            by = row.case_id if want is None else want[1]
            found.append((by, row.consent_id, f"its {row.kind} row at {when}: {why}"))
    for (consent_id, kind), (_, by) in expected.items():
        found.append((by, consent_id, f"its {kind} row, which the events give, is missing"))
    refs = views.register.case_refs(c for c, _, _ in found if c is not None)
    for by, consent_id, what in found:
        name = refs.get(by, f"consent #{consent_id}") if by else f"consent #{consent_id}"
        report.problems.append(
            Problem(name, None, f"the consent timeline of consent #{consent_id}: {what}")
        )


# --- checkpoint -------------------------------------------------------------------------------


def _digest(heads: dict[str, Any], max_event_id: Any) -> str:
    body = json.dumps(
        {"cases": heads, "max_event_id": max_event_id}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()


def checkpoint(app: App) -> dict[str, Any]:
    """A digest of every chain head and the global sequence, to keep outside the database."""
    with reading(app.engine) as views:
        heads = {ref: [version, head] for ref, (version, head) in views.events.heads().items()}
        max_id = views.events.max_id()
    return {
        "kind": "hanport-audit-checkpoint",
        "taken_at": isoformat_utc(app.clock.now()),
        "max_event_id": max_id,
        "cases": heads,
        "digest": _digest(heads, max_id),
    }

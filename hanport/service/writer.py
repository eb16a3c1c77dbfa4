"""The one writer: persists a finished decision in the unit of work's transaction.

In this order: ids for the rows the decision creates (so its events and intents can name them),
then the cases — a compare-and-swap on each changed case's version first of all, so a command
that lost a race writes nothing — their events sealed into each case's hash chain, and the
decision's writes grouped by table. The notices are rendered here, into the outbox, once the
case references they show are known. Nothing here decides, and nothing commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from hanport.bootstrap import App
from hanport.calendar import isoformat_utc
from hanport.errors import Conflict
from hanport.notifications.outbox import intent_row
from hanport.storage import consent_timeline
from hanport.storage.hashing import GENESIS, canonical_event_text, canonical_json, chain_hash_text
from hanport.storage.repositories.ports import PortChange
from hanport.storage.uow import Repositories
from hanport.workflows.decider import Decision
from hanport.workflows.model import Case, NewId, resolve
from hanport.workflows.writes import (
    KEEP,
    ConsentChanged,
    ConsentEnded,
    HesCommandRequeued,
    HesCommandSettled,
    MeterInstalled,
    NewConsent,
    NewHesCommand,
    NewMail,
    NewNote,
    NewTimer,
    PortChanged,
    TimersCancelled,
)


def write(app: App, uow: Repositories, decision: Decision) -> None:
    """Persist ``decision``: raises ``Conflict`` (nothing kept) when a case it changes was
    changed by someone else since it was loaded."""
    _allocate(uow, decision)
    by_type: dict[type, list[Any]] = defaultdict(list)
    for w in decision.writes:
        by_type[type(w)].append(w)
    mail = _mail_rows(app, by_type[NewMail])
    timeline = _consent_timeline(decision, by_type[ConsentEnded])
    with uow.db.batch():
        checks = _cases(uow, decision)
        _rows(uow, by_type)
        uow.outbox.insert(mail)
        if timeline:
            uow.consents.timeline(timeline)
    for ref, expected, count in checks:
        if count() != expected:
            who = f"case {ref}" if ref else "a case"
            raise Conflict(f"{who} was changed by someone else meanwhile: nothing written; retry")


def _allocate(uow: Repositories, decision: Decision) -> None:
    new: list[NewId] = [
        w.id for w in decision.writes if isinstance(w, NewTimer | NewHesCommand | NewConsent)
    ]
    counts: dict[str, int] = defaultdict(int)
    for n in new:
        counts[n.table] += 1
    ids = uow.ids.allocate(counts)
    for n in new:
        n.value = ids[n.table].pop(0)


def _consent_timeline(
    decision: Decision, ends: list[ConsentEnded]
) -> list[consent_timeline.ConsentEventRow]:
    """The consent timeline's rows: each consent an event records, then each consent the
    decision ends, by the case whose event says so — or, for one a new consent on its case
    replaces (no event names it), by the case that records the new one. Only commands that
    give or end a consent have any."""
    rows, by = [], {}
    giver = None
    for case, ev in decision.events:
        effects = ev.data.get("effects")
        if not effects or not ("consent_id" in effects or "consent_ended" in effects):
            continue
        data = resolve(ev.data)
        row = consent_timeline.given(int(case.id), ev.occurred_at, data)
        if row is not None:
            rows.append(row)
            giver = giver or int(case.id)
        by.update(dict.fromkeys(consent_timeline.ended_by(data)[0], int(case.id)))
    for e in ends:
        cid = int(e.id)
        rows.append(consent_timeline.ended(cid, e.at, e.reason, by.get(cid, giver)))
    return rows


Check = tuple[str | None, int, Callable[[], int]]


def _cases(uow: Repositories, decision: Decision) -> list[Check]:
    """The cases' rows and events; returns the compare-and-swaps to check (on SQLite each has
    been checked already: a loser stops before writing anything else)."""
    # A case that gives up its point is written before one that takes it (one holder a point).
    ordered = sorted(decision.cases, key=lambda c: (c.holds_port, not c.new))
    changed = [c for c in ordered if not c.new]
    events = _seal(decision)
    checks: list[Check] = []
    inserted = [c for c in ordered if c.new]
    swap = _swap_with_event(uow, decision, changed, inserted, events)
    if swap is not None:
        uow.cases.swap_with_next_event(swap)
        changed = []  # swapped with its first event, below
    if len(changed) <= 3:  # a caseworker's command: the conflict names the case
        for case in changed:
            checks.append((case.ref, 1, uow.cases.compare_and_swap([_cas_row(case, decision)])))
    else:
        cas = uow.cases.compare_and_swap([_cas_row(c, decision) for c in changed])
        checks.append((None, len(changed), cas))
    if uow.db.sqlite:
        for ref, expected, count in checks:
            if count() != expected:
                who = f"case {ref}" if ref else "a case"
                raise Conflict(
                    f"{who} was changed by someone else meanwhile: nothing written; retry"
                )
    if inserted:
        uow.cases.insert([_insert_row(c, decision) for c in inserted])
    uow.ids.settled()
    uow.cases.insert_events(events)
    for case in decision.cases:
        case.loaded_version, case.new = case.version, False
    return checks


def _swap_with_event(
    uow: Repositories,
    decision: Decision,
    changed: list[Case],
    inserted: list[Case],
    events: list[tuple[Any, ...]],
) -> tuple[Any, ...] | None:
    """PostgreSQL, one changed case and no new one (a caseworker's command): the
    compare-and-swap row that goes with its first event (``Cases.insert_events``), in one
    statement that fails when the swap does: nothing to read back before the commit, and the
    events keep their order. None: swapped and checked the ordinary way."""
    if uow.db.sqlite or len(changed) != 1 or inserted or not events:
        return None
    case = changed[0]
    if events[0][0] != case.id:
        return None
    return _cas_row(case, decision)


def _seal(decision: Decision) -> list[tuple[Any, ...]]:
    """The new events, in the order they happened, each chained by hash onto its case's last
    one (every case's head moves on)."""
    rows = []
    for case, ev in decision.events:
        head = case.prev_hash or GENESIS
        data = canonical_json(resolve(ev.data))
        # the canonical event's text around the data's, as ``audit verify`` hashes it
        # (``canonical_json(canonical_event(...))`` without encoding the data twice)
        text = canonical_event_text(
            case_ref=case.ref,
            seq=ev.seq,
            occurred_at=isoformat_utc(ev.occurred_at),
            actor=ev.actor,
            actor_kind=ev.actor_kind,
            trigger=ev.trigger,
            from_state=ev.from_state,
            to_state=ev.to_state,
            workflow=case.workflow,
            workflow_version=case.workflow_version,
            data_json=data,
        )
        case.prev_hash = chain_hash_text(head, text)
        rows.append(
            (
                case.id,
                ev.seq,
                ev.occurred_at,
                ev.actor,
                ev.actor_kind,
                ev.trigger,
                ev.from_state,
                ev.to_state,
                case.workflow_version,
                data,
                head,
                case.prev_hash,
            )
        )
    decision.events = []
    return rows


def _flags(case: Case) -> str:
    return canonical_json(sorted(set(case.flags))) if case.flags else "[]"


def _cas_row(case: Case, decision: Decision) -> tuple[Any, ...]:
    return (
        case.state,
        case.version,
        case.holds_port,
        case.active,
        _flags(case),
        canonical_json(resolve(case.data)),
        case.prev_hash,
        decision.now,
        case.workflow_version,
        int(case.id),
        case.loaded_version,
    )


def _insert_row(case: Case, decision: Decision) -> tuple[Any, ...]:
    return (
        case.id,
        case.ref,
        case.workflow,
        case.workflow_version,
        case.state,
        case.version,
        case.point.id or None,  # a subject's case has no metering point (``NO_POINT``)
        case.customer.pk,
        case.holds_port,
        case.active,
        _flags(case),
        canonical_json(resolve(case.data)),
        case.prev_hash,
        case.created_at,
        decision.now,
    )


def _rows(uow: Repositories, w: dict[type, list[Any]]) -> None:
    """The decision's writes, table by table: inserts before the changes that may name them."""
    notes: list[NewNote] = w[NewNote]
    uow.cases.insert_notes([(int(n.case_id), n.seq, n.kind, n.author, n.body, n.at) for n in notes])
    uow.consents.insert([(int(c.id), resolve(c.values)) for c in w[NewConsent]])
    for ch in w[ConsentChanged]:
        uow.consents.change(int(ch.id), ch.values)
    uow.consents.end([(int(e.id), e.at, e.reason) for e in w[ConsentEnded]])
    timers: list[NewTimer] = w[NewTimer]
    uow.timers.insert(
        [
            (
                int(t.id),
                int(t.case_id),
                t.name,
                t.kind,
                t.trigger,
                t.due_at,
                t.created_at,
                t.started_seq,
            )
            for t in timers
        ]
    )
    cancelled: list[TimersCancelled] = w[TimersCancelled]
    uow.timers.cancel([(int(tid), c.at, c.outcome) for c in cancelled for tid in c.ids])
    hes: list[NewHesCommand] = w[NewHesCommand]
    uow.hes.insert(
        [
            (
                int(h.id),
                int(h.case_id),
                h.point_id,
                h.action,
                h.attempt,
                h.adapter,
                h.not_before,
                h.created_at,
            )
            for h in hes
        ]
    )
    settled: list[HesCommandSettled] = w[HesCommandSettled]
    uow.hes.settle([(int(s.id), s.status, s.at, s.result, s.error) for s in settled])
    requeued: list[HesCommandRequeued] = w[HesCommandRequeued]
    uow.hes.requeue([(int(r.id), r.attempt, r.not_before, r.error) for r in requeued])
    uow.ports.install_meters(
        [(m.point_id, m.meter_number, m.at, str(m.source)) for m in w[MeterInstalled]]
    )
    uow.ports.change([_port(p) for p in w[PortChanged]])


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _port(p: PortChanged) -> PortChange:
    return PortChange(
        p.point_id,
        p.state,
        p.at,
        p.cause,
        p.consent_id is not KEEP,
        _int(p.consent_after),
        _int(p.case_id),
        _int(p.hes_command_id),
        p.meter_number,
    )


def _mail_rows(app: App, mails: list[NewMail]) -> list[dict[str, Any]]:
    """The notices rendered into outbox rows: the outbox holds exactly what will be sent."""
    return [mail_row(app, m) for m in mails]


def mail_row(app: App, m: NewMail) -> dict[str, Any]:
    """One notice rendered into its outbox row (links as placeholders when a link key is
    configured; the tokens are made at delivery)."""
    from hanport.notifications.render import render

    s = app.settings
    domain = s.sender_address.rpartition("@")[2] or "hanport.invalid"
    context = resolve(m.context)
    shown = {**context, "links": bool(s.link_secret), "web_base_url": s.web_base_url}
    rendered = render(m.template, m.language, shown)
    row = intent_row(
        case_id=m.case_id,
        case_ref=m.case_ref,
        seq=m.seq,
        template=m.template,
        language=m.language,
        recipient=m.recipient,
        context=context,
        now=m.at,
        domain=domain,
    )
    row.update(subject=rendered.subject, body_text=rendered.text, body_html=rendered.html)
    return row

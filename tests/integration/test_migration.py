"""Migrating live cases between workflow versions, through the service layer on both backends:
the plan (states mapped, timers kept, cancelled or started from the case's own history), dry run
equal to apply, one migration event in each case's chain, replay and verify afterwards, the new
version's rules from then on, refusals (unmapped states, states acting on entry, final cases,
roles), and reruns."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from hanport import service
from hanport.bootstrap import App
from hanport.errors import NotFound, Refused
from hanport.queries import audit
from hanport.service.commands import MigrateCases
from hanport.workflows.definition import Duration
from tests.support import (
    NORE_POINT,
    NORE_POINT_2,
    START,
    actor,
    advance,
    consent,
    make_app,
    open_case,
)
from tests.time.helpers import case_row, events, timer_rows

T0 = datetime.fromisoformat(START)


def migrate(app: App, who: str = "sup", **kw: Any) -> Any:
    kw.setdefault("workflow", "nore_open")
    kw.setdefault("from_version", 1)
    kw.setdefault("to_version", 2)
    return service.run(app, actor(app, who), MigrateCases(**kw))


def pending(app: App, ref: str) -> dict[str, datetime]:
    return {t["name"]: t["due_at"] for t in timer_rows(app, ref) if t["status"] == "pending"}


@pytest.fixture
def v1_cases(seeded: App) -> dict[str, str]:
    """Two live nore_open v1 cases (the suite pins v1): one waiting for its consent, one with
    its consent in address review."""
    app = seeded
    waiting = open_case(app, actor(app), "nore_open", customer="1001", metering_point=NORE_POINT)
    advance(app, actor(app), waiting.case, "request_consent")
    app.clock.advance(timedelta(hours=2))
    review = open_case(
        app,
        actor(app),
        "nore_open",
        customer="1005",
        metering_point=NORE_POINT_2,
        fields=consent(
            signer_name="Nils Li",
            address="Nedre Dal 9",
            postal_code="3631",
            received_at=app.clock.now().isoformat(),
        ),
    )
    assert review.state == "address_review"
    app.clock.advance(timedelta(hours=1))
    return {"waiting": waiting.case, "review": review.case}


def test_dry_run_equals_apply_and_writes_nothing(seeded: App, v1_cases: dict[str, str]) -> None:
    before = {ref: (case_row(seeded, ref), pending(seeded, ref)) for ref in v1_cases.values()}
    dry = migrate(seeded)
    assert not dry.applied and len(dry.migrated) == 2 and not dry.refused
    for ref in v1_cases.values():
        assert (case_row(seeded, ref), pending(seeded, ref)) == before[ref]
    done = migrate(seeded, apply=True)
    assert done.migrated == dry.migrated
    assert [case_row(seeded, r)["workflow_version"] for r in v1_cases.values()] == [2, 2]


def test_the_plan_keeps_what_v2_declares_the_same(seeded: App, v1_cases: dict[str, str]) -> None:
    waiting, review = v1_cases["waiting"], v1_cases["review"]
    timers_before = pending(seeded, waiting)
    report = migrate(seeded, apply=True)
    plans = {m["case"]: m for m in report.migrated}
    assert plans[waiting]["state_from"] == plans[waiting]["state_to"] == "awaiting_consent"
    assert plans[waiting]["timers_kept"] == ["expire", "remind_consent"]
    assert plans[waiting]["timers_cancelled"] == plans[waiting]["timers_started"] == []
    assert pending(seeded, waiting) == timers_before  # due when they were
    assert plans[review]["state_to"] == "address_review"
    assert "address_review" in case_row(seeded, review)["flags"]
    last = events(seeded, waiting)[-1]
    assert (last["trigger"], last["from_state"], last["to_state"]) == (
        "migrate",
        "awaiting_consent",
        "awaiting_consent",
    )
    assert last["workflow_version"] == 2 and last["actor"] == "sup"
    assert last["data"]["migration"] == {"from_version": 1, "to_version": 2, "mapping": {}}


def test_after_migration_the_case_follows_v2(seeded: App, v1_cases: dict[str, str]) -> None:
    migrate(seeded, apply=True)
    waiting, review = v1_cases["waiting"], v1_cases["review"]
    r = advance(
        seeded,
        actor(seeded),
        waiting,
        "record_consent",
        consent(received_at=seeded.clock.now().isoformat()),
    )
    assert r.state == "objection_window"  # v1 would have gone straight to opening
    # Who asked was never judged under v1: the approval sends it to the identity review.
    r = advance(seeded, actor(seeded, "sup"), review, "approve_address", note="samme bolig")
    assert r.state == "identity_review"
    report = audit.verify(seeded)
    assert report.ok, report.problems
    replays = {r.case: r for r in audit.replay(seeded)}
    for ref in (waiting, review):
        assert not replays[ref].divergences, replays[ref].divergences
        assert replays[ref].workflow_version == 2
        versions = [step["workflow_version"] for step in replays[ref].timeline]
        assert versions[0] == 1 and versions[-1] == 2


def test_a_changed_timer_is_planned_again_from_the_history(
    seeded: App, v1_cases: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hanport import workflows

    v2 = workflows.get("nore_open", 2)
    timers = tuple(
        replace(t, after=Duration(days=3)) if t.name == "remind_consent" else t for t in v2.timers
    )
    changed = replace(v2, version=99, timers=timers)
    monkeypatch.setitem(workflows.WORKFLOWS, ("nore_open", 99), changed)
    waiting = v1_cases["waiting"]
    entered = next(e for e in events(seeded, waiting) if e["to_state"] == "awaiting_consent")
    report = migrate(seeded, to_version=99, cases=(waiting,), apply=True)
    plan = report.migrated[0]
    assert plan["timers_cancelled"] == ["remind_consent"]
    assert [t["name"] for t in plan["timers_started"]] == ["remind_consent"]
    assert pending(seeded, waiting)["remind_consent"] == entered["occurred_at"] + timedelta(days=3)


def test_unmapped_and_entry_states_are_refused_never_guessed(seeded: App) -> None:
    v2_app = make_app(seeded.settings.database_url, workflow_versions={})
    try:
        ref = open_case(
            v2_app,
            actor(v2_app),
            "nore_open",
            customer="1001",
            metering_point=NORE_POINT,
            fields=consent(received_at=v2_app.clock.now().isoformat()),
        ).case
        assert case_row(v2_app, ref)["state"] == "objection_window"
        back = migrate(v2_app, from_version=2, to_version=1, cases=(ref,), apply=True)
        assert back.migrated == []
        assert "objection_window, which nore_open v1 does not have" in back.refused[0]["reason"]
        entry = migrate(
            v2_app,
            from_version=2,
            to_version=1,
            cases=(ref,),
            mapping={"objection_window": "opening"},
            apply=True,
        )
        assert "acts on entry" in entry.refused[0]["reason"]
        with pytest.raises(Refused, match="final"):
            migrate(v2_app, from_version=2, to_version=1, mapping={"objection_window": "cancelled"})
        with pytest.raises(Refused, match="has no state 'nowhere'"):
            migrate(v2_app, from_version=2, to_version=1, mapping={"objection_window": "nowhere"})
        assert case_row(v2_app, ref)["workflow_version"] == 2
        assert [e["trigger"] for e in events(v2_app, ref)][-1] == "record_consent"
    finally:
        v2_app.close()


def test_reruns_skip_what_is_done_and_final_cases_are_listed(
    seeded: App, v1_cases: dict[str, str]
) -> None:
    waiting, review = v1_cases["waiting"], v1_cases["review"]
    migrate(seeded, cases=(waiting,), apply=True)
    again = migrate(seeded, cases=(waiting, review), apply=True)
    assert again.already == [waiting]
    assert [m["case"] for m in again.migrated] == [review]
    assert migrate(seeded, apply=True).migrated == []
    advance(seeded, actor(seeded), review, "reject", {"reason": "nei"})
    final = migrate(seeded, from_version=2, to_version=1, cases=(review, "HAN-2026-999999"))
    assert [r["reason"] for r in final.refused] == [
        f"{review} is rejected (final): only live cases migrate",
        "case HAN-2026-999999 not found",
    ]
    assert len([e for e in events(seeded, waiting) if e["trigger"] == "migrate"]) == 1


def test_only_a_supervisor_migrates(seeded: App, v1_cases: dict[str, str]) -> None:
    for who in ("cw", "aud"):
        with pytest.raises(Refused, match="needs a supervisor"):
            migrate(seeded, who=who, apply=True)
    with pytest.raises(NotFound, match=r"nore_open has no version 7 \(versions: 1, 2\)"):
        migrate(seeded, to_version=7)
    assert case_row(seeded, v1_cases["waiting"])["workflow_version"] == 1


def test_the_evidence_shows_the_versions(seeded: App, v1_cases: dict[str, str]) -> None:
    from hanport.queries.evidence import evidence

    waiting = v1_cases["waiting"]
    migrate(seeded, cases=(waiting,), apply=True)
    advance(seeded, actor(seeded), waiting, "cancel", {"reason": "test"})
    versions = evidence(seeded, waiting)["versions"]
    assert [(v["version"], v["from_seq"], v["to_seq"], v["migrated_by"]) for v in versions] == [
        (1, 1, 2, None),
        (2, 3, 4, "sup"),
    ]

"""The definitions are consistent with the code that runs them: effects and guards exist, every
trigger and field explains itself, the diagrams render, and the runner is one shared machine."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hanport import workflows
from hanport.workflows import intents, render
from hanport.workflows.definition import (
    Duration,
    Field,
    FieldKind,
    Notice,
    State,
    Timer,
    TimerKind,
    Transition,
    Workflow,
)
from hanport.workflows.fragments import END_REASONS, FLAGS
from hanport.workflows.guards import GUARDS
from hanport.workflows.runner import NotAllowed

ALL = sorted(workflows.WORKFLOWS.values(), key=lambda w: w.key)
IDS = [w.key for w in ALL]
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
UNDOCUMENTED_OK = (intents.SetCaseData, intents.ResetHesAttempts)


def all_notices(wf: Workflow) -> list[Notice]:
    return [
        *wf.open_notices,
        *(n for s in wf.states for n in s.notices),
        *(n for t in wf.transitions for n in t.notices),
    ]


def all_intents(wf: Workflow) -> list[Any]:
    return [
        *(i for s in wf.states for i in s.intents),
        *(i for t in wf.transitions for i in t.intents),
    ]


# --- intents and guards exist -----------------------------------------------------------------


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_every_intent_is_a_declared_rule(wf: Workflow) -> None:
    found = all_intents(wf)
    assert found, "a workflow without intents does nothing"
    for intent in found:
        assert type(intent).__module__ == intents.__name__, intent
        assert callable(getattr(intent, "apply", None)), f"{wf.key}: {intent!r} cannot apply"
        assert (type(intent).__doc__ or "").strip() or type(intent) in UNDOCUMENTED_OK, intent


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_end_consent_reasons_are_end_reasons(wf: Workflow) -> None:
    for intent in all_intents(wf):
        if isinstance(intent, intents.EndConsent) and intent.reason:
            assert intent.reason in END_REASONS, intent


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_every_named_guard_exists(wf: Workflow) -> None:
    named = [
        *(g for t in wf.transitions for g in (*t.guards, *t.unless)),
        *(g for n in all_notices(wf) for g in (*n.when, *n.unless)),
    ]
    assert named
    for name in named:
        assert name in GUARDS, f"{wf.key}: unknown guard {name}"


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_flags_are_known(wf: Workflow) -> None:
    for s in wf.states:
        assert s.flag is None or s.flag in FLAGS
    for t in wf.transitions:
        assert set(t.sets_flags) <= set(FLAGS)
        assert set(t.clears_flags) <= set(FLAGS)


# --- help and names -----------------------------------------------------------------------------


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_every_trigger_state_and_timer_has_help(wf: Workflow) -> None:
    assert wf.title.strip()
    for t in wf.transitions:
        assert isinstance(t.help, str) and t.help.strip(), f"{wf.key}: {t.trigger} has no help"
    for s in wf.states:
        assert s.help.strip(), f"{wf.key}: state {s.name} has no help"
    for tm in wf.timers:
        assert tm.help.strip(), f"{wf.key}: timer {tm.name} has no help"


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_every_field_has_help(wf: Workflow) -> None:
    fields = [f for t in wf.transitions for f in t.fields]
    assert fields
    for f in fields:
        assert isinstance(f.help, str) and f.help.strip(), f"{wf.key}: field {f.name} has no help"
        assert SNAKE.match(f.name), f.name
        if f.kind is FieldKind.CHOICE:
            assert f.choices, f"{wf.key}: choice field {f.name} has no choices"
        else:
            assert f.choices == (), f"{wf.key}: {f.name} has choices but is {f.kind}"


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_names_are_snake_case(wf: Workflow) -> None:
    assert SNAKE.match(wf.name)
    for name in (
        *(s.name for s in wf.states),
        *wf.triggers,
        *(tm.name for tm in wf.timers),
        *(n.template for n in all_notices(wf)),
    ):
        assert SNAKE.match(name), f"{wf.key}: {name!r} is not snake_case"


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_a_trigger_has_one_set_of_fields(wf: Workflow) -> None:
    """The CLI asks for a trigger's fields before the guards pick a transition."""
    for trig in wf.triggers:
        shapes = {tuple(t.fields) for t in wf.transitions_for(trig)}
        assert len(shapes) == 1, f"{wf.key}: {trig} takes different fields per transition"


RECORD_CONSENT_FIELDS = {
    "signer_name": (FieldKind.TEXT, True, ()),
    "signer_role": (FieldKind.CHOICE, True, ("subscriber", "power_of_attorney")),
    "address": (FieldKind.TEXT, True, ()),
    "postal_code": (FieldKind.POSTAL_CODE, True, ()),
    "security": (
        FieldKind.CHOICE,
        True,
        ("inside_dwelling", "locked_room", "locked_cabinet", "shared_locked_meter_room"),
    ),
    "channel": (FieldKind.CHOICE, True, ("form", "email", "phone")),
    "from_email": (FieldKind.EMAIL, False, ()),
    "declaration_version": (FieldKind.DECLARATION, True, ()),
    "received_at": (FieldKind.INSTANT, True, ()),
}


@pytest.mark.parametrize("name", ["nore_open", "meter_swap"])
def test_record_consent_fields(name: str) -> None:
    fields = workflows.get(name, 1).fields_for("record_consent")
    assert {f.name: (f.kind, f.required, f.choices) for f in fields} == RECORD_CONSENT_FIELDS
    personal = {f.name for f in fields if f.personal}
    assert personal == {"signer_name", "address", "from_email"}


def test_other_fields_the_design_names() -> None:
    swap = workflows.get("meter_swap", 1)
    assert [f.name for f in swap.fields_for("schedule_visit")] == ["visit_date"]
    assert [f.name for f in swap.fields_for("record_installation")] == [
        "meter_number",
        "installed_at",
    ]
    close = workflows.get("close_port", 1)
    (method,) = close.fields_for("verify_identity")
    assert method.name == "method"
    assert {"callback_registered_phone", "bankid"} <= set(method.choices)
    for wf in ALL:
        (flag,) = wf.fields_for("clear_flag")
        assert flag.choices == FLAGS


# --- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_mermaid(wf: Workflow) -> None:
    out = render.mermaid(wf)
    assert out.startswith("stateDiagram-v2")
    for s in wf.states:
        if not s.final:
            assert re.search(rf"\b{s.name}\b", out), f"{wf.key}: {s.name} not drawn"
        else:
            assert f"{s.name} --> [*]" in out
    assert f"[*] --> {wf.initial}" in out


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_mermaid_highlight(wf: Workflow) -> None:
    out = render.mermaid(wf, highlight=[(wf.initial, "cancelled")])
    assert out.startswith("stateDiagram-v2")
    assert f"class {wf.initial} taken" in out
    assert "class cancelled taken" in out


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_text_mentions_every_trigger_state_and_timer(wf: Workflow) -> None:
    out = render.text(wf)
    assert out.startswith(f"{wf.name} v{wf.version}")
    for trig in wf.triggers:
        assert re.search(rf"\b{trig}\b", out), f"{wf.key}: {trig} missing from text"
    for s in wf.states:
        assert re.search(rf"\b{s.name}\b", out)
    for tm in wf.timers:
        assert re.search(rf"\b{tm.name}\b", out)


# --- names, lookup and the runner ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("record-consent", "record_consent"),
        ("record_consent", "record_consent"),
        ("nore-open", "nore_open"),
        ("close-port", "close_port"),
        (" meter-swap ", "meter_swap"),
        ("acknowledge-energipilot", "acknowledge_energipilot"),
    ],
)
def test_canonical_name(given: str, canonical: str) -> None:
    assert workflows.canonical_name(given) == canonical


@pytest.mark.parametrize("name", ["nore-open", "meter-swap", "close-port"])
def test_workflow_names_with_dashes(name: str) -> None:
    assert workflows.get(name) is workflows.get(name.replace("-", "_"))
    assert workflows.get(name, 1).name == name.replace("-", "_")


def test_trigger_names_with_dashes_reach_the_runner() -> None:
    runner = workflows.runner(workflows.canonical_name("nore-open"), 1)
    d = runner.decide("requested", workflows.canonical_name("request-consent"), {})
    assert d.dest == "awaiting_consent"
    d = runner.decide("address_review", workflows.canonical_name("approve-address"), {})
    assert d.dest == "opening"


@pytest.mark.parametrize(("name", "version"), sorted(workflows.WORKFLOWS))
def test_one_runner_per_version(name: str, version: int) -> None:
    r = workflows.runner(name, version)
    assert r is workflows.runner(name, version)
    assert r.workflow is workflows.WORKFLOWS[(name, version)]
    assert len(r.machine.models) == 0


def test_runners_differ_between_workflows() -> None:
    runners = {id(workflows.runner(n, v)) for n, v in workflows.WORKFLOWS}
    assert len(runners) == len(workflows.WORKFLOWS)


MATCH = {
    "consent_address": "h:a",
    "installation_address": "h:a",
    "channel": "form",
    "from_email": None,
    "registered_email": "h:e",
}


def test_runner_attaches_no_models_and_keeps_no_state() -> None:
    runner = workflows.runner("nore_open", 1)
    for _ in range(200):
        assert runner.decide("requested", "record_consent", MATCH).dest == "opening"
        assert runner.decide("opening", "confirm_open", {}).dest == "confirmed"
        # the previous decision ended in ``confirmed``; this one starts where it is told to
        assert runner.decide("requested", "request_consent", {}).dest == "awaiting_consent"
        with pytest.raises(NotAllowed):
            runner.decide("confirmed", "request_consent", {})
        assert runner.decide("awaiting_consent", "expire", {}).dest == "expired"
    assert len(runner.machine.models) == 0


def test_decisions_do_not_leak_facts_or_guards() -> None:
    runner = workflows.runner("nore_open", 1)
    first = runner.decide("requested", "record_consent", MATCH)
    assert first.dest == "opening"
    assert set(first.guards) == {"address_matches", "sender_verified"}
    # no facts now: the earlier match must not be reused
    second = runner.decide("requested", "record_consent", {})
    assert second.dest == "address_review"
    assert second.guards["address_matches"]["result"] is False
    assert second.guards["address_matches"]["inputs"] == {
        "consent_address": None,
        "installation_address": None,
    }
    third = runner.decide("requested", "cancel", {})
    assert third.guards == {}
    assert first.guards["address_matches"]["result"] is True  # earlier decisions unchanged


def test_a_refusal_does_not_leak_into_the_next_decision() -> None:
    runner = workflows.runner("meter_swap", 1)
    with pytest.raises(NotAllowed):
        runner.decide("requested", "enqueue", {"energipilot": True, "energipilot_ack": False})
    with pytest.raises(NotAllowed):
        runner.decide("queued", "enqueue", {})
    d = runner.decide("requested", "enqueue", {"energipilot": False, "energipilot_ack": False})
    assert (d.source, d.dest) == ("requested", "queued")
    assert d.guards == {
        "energipilot_cleared": {
            "inputs": {"energipilot": False, "energipilot_ack": False},
            "result": True,
        }
    }


def test_the_decision_names_a_declared_transition() -> None:
    for (name, version), wf in workflows.WORKFLOWS.items():
        runner = workflows.runner(name, version)
        for s in wf.states:
            if not s.final:
                d = runner.decide(s.name, "clear_flag", {})
                assert d.transition in wf.transitions
                assert d.transition.dest is None
                assert d.dest == s.name


INTERNAL = {
    "remind_consent",
    "clear_flag",
    "flag_mail_dead",
    "flag_no_email",
    "sla_breached",
    "swap_overdue",
}


@pytest.mark.parametrize("wf", ALL, ids=IDS)
def test_events_that_keep_the_state_do_not_reenter_it(wf: Workflow) -> None:
    """An internal transition keeps the state's timers running: a reminder must not restart the
    30-day expiry (nor itself), a breach must not restart the HES timeout."""
    for t in wf.transitions:
        if t.trigger in INTERNAL:
            assert t.dest is None, f"{wf.key}: {t.trigger} re-enters its state"


def test_concurrent_decisions_stay_independent() -> None:
    runner = workflows.runner("close_port", 1)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("requested", "verify_identity", {}, "closing"),
        ("scheduled", "rollback", {}, "cancelled"),
        ("closing", "confirm_close", {}, "closed"),
        ("closing", "report_failure", {"hes_failures": 0, "hes_max_attempts": 3}, "closing"),
        (
            "closing",
            "report_failure",
            {"hes_failures": 2, "hes_max_attempts": 3},
            "needs_attention",
        ),
        ("needs_attention", "retry", {}, "closing"),
    ]

    def run(i: int) -> tuple[str, str]:
        state, trigger, facts, dest = cases[i % len(cases)]
        return runner.decide(state, trigger, facts).dest, dest

    with ThreadPoolExecutor(max_workers=8) as pool:
        for got, want in pool.map(run, range(600)):
            assert got == want
    assert len(runner.machine.models) == 0


# --- the declarations refuse to be inconsistent -------------------------------------------------


def _minimal(**kw: Any) -> Workflow:
    options: dict[str, Any] = {
        "name": "demo",
        "version": 1,
        "title": "Demo",
        "initial": "a",
        "states": (State("a", "A"), State("b", "B", final=True)),
        "transitions": (Transition("go", ("a",), "b", "Go"),),
        **kw,
    }
    return Workflow(**options)


def test_a_consistent_definition_builds() -> None:
    wf = _minimal()
    assert wf.key == "demo@1"
    assert wf.final_states == ("b",)
    assert wf.allowed("a") == ("go",)


@pytest.mark.parametrize(
    "kw",
    [
        {"states": (State("a", "A"), State("a", "again"))},
        {"initial": "nowhere"},
        {"transitions": (Transition("go", ("a",), "nowhere", "Go"),)},
        {"transitions": (Transition("go", ("nowhere",), "b", "Go"),)},
        {"auto_triggers": ("fly",)},
        {"timers": (Timer("t", TimerKind.CASE, "fly", "T", after=Duration(days=1)),)},
        {"timers": (Timer("t", TimerKind.STATE, "go", "T", after=Duration(days=1), state="z"),)},
    ],
    ids=[
        "duplicate-state",
        "unknown-initial",
        "unknown-dest",
        "unknown-source",
        "unknown-auto-trigger",
        "timer-unknown-trigger",
        "timer-unknown-state",
    ],
)
def test_an_inconsistent_definition_is_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _minimal(**kw)


def test_fields_for_is_the_union_in_declaration_order() -> None:
    x = Field("x", FieldKind.TEXT, "X")
    y = Field("y", FieldKind.TEXT, "Y")
    wf = _minimal(
        transitions=(
            Transition("go", ("a",), "b", "Go", fields=(x,)),
            Transition("go", ("a",), "b", "Go too", fields=(y, x)),
        )
    )
    assert wf.fields_for("go") == (x, y)

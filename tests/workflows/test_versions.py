"""Released workflow versions never change (their fingerprints are recorded), each version names
the notices it sends, and the diff between two versions says what changed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from hanport import workflows
from hanport.workflows import diff, render
from hanport.workflows.definition import Notice, Role
from hanport.workflows.released import RELEASED
from hanport.workflows.versions import fingerprint, notices, released_problems

V1, V2 = workflows.get("nore_open", 1), workflows.get("nore_open", 2)


def test_every_declared_version_is_released_and_unchanged() -> None:
    assert released_problems(tuple(workflows.WORKFLOWS.values()), RELEASED) == []
    assert set(RELEASED) == {wf.key for wf in workflows.WORKFLOWS.values()}


def test_a_changed_released_definition_is_named() -> None:
    first = V1.states[0]
    changed = dataclasses.replace(V1, states=(dataclasses.replace(first, help="x"), *V1.states[1:]))
    problems = released_problems((changed, V2), RELEASED)
    # close_port@1 and @2, meter_swap@1 and privacy_request@1 are missing; nore_open@1 changed
    assert len(problems) == 5
    assert problems[3].startswith("nore_open@1 was released with fingerprint")
    assert "declare version 2 beside it instead" in problems[3]


def test_the_fingerprint_is_stable_across_processes() -> None:
    code = "from hanport import workflows as w; from hanport.workflows.versions import " \
        "fingerprint as f; print(f(w.get('nore_open', 2)))"  # fmt: skip
    seeds = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": s},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for s in ("1", "2")
    ]
    assert seeds == [fingerprint(V2)] * 2


def test_any_change_moves_the_fingerprint() -> None:
    t = V2.transitions[0]
    for change in (
        {"guards": (*t.guards, "has_email_on_file")},
        {"notices": (*t.notices, Notice("port_opened"))},
        {"also": (*t.also, Role.AUDITOR)},
    ):
        rest = V2.transitions[1:]
        other = dataclasses.replace(V2, transitions=(dataclasses.replace(t, **change), *rest))
        assert fingerprint(other) != fingerprint(V2)


def test_each_version_names_its_notices() -> None:
    added = set(notices(V2)) - set(notices(V1))
    assert added == {"identity_review", "objection_received", "objection_window"}
    assert "port_opened" in notices(V1)


def test_the_diff_of_nore_open_1_to_2() -> None:
    d = diff.diff(V1, V2)
    assert d.of("state", "added") == {"identity_review", "objected", "objection_window"}
    assert d.of("trigger", "added") == {"confirm_identity", "object", "window_closed"}
    assert {"record_consent", "approve_address", "reject"} <= d.of("trigger", "changed")
    assert d.of("timer", "added") == {"objection_window"}
    assert d.of("notice", "added") == {"identity_review", "objection_received", "objection_window"}
    assert not d.of("state", "removed") and not d.of("trigger", "removed")
    shown = diff.text(d)
    assert "  + objection_window" in shown
    assert "~ record_consent  (guards added: email_from_registered, identity_plain;" in shown
    reverse = diff.diff(V2, V1)
    assert reverse.of("state", "removed") == d.of("state", "added")


def test_an_identical_version_has_no_changes() -> None:
    assert diff.diff(V1, V1).changes == ()
    assert diff.text(diff.diff(V1, V1)).startswith("nore_open v1 → v1: 0 changes")


def test_the_mermaid_diff_marks_what_changed() -> None:
    out = render.mermaid_diff(V1, V2, diff.diff(V1, V2))
    assert out.startswith("stateDiagram-v2\n")
    assert "    class objection_window added" in out
    assert "    objection_window --> opening: window_closed (new)" in out
    assert "    address_review --> opening: approve_address (removed)" in out
    back = render.mermaid_diff(V2, V1, diff.diff(V2, V1))
    assert "    class objected removed" in back

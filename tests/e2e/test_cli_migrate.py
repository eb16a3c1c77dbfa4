"""``hanport workflow migrate`` at the command line: dry run and apply print the same plan,
exit 6 lists the refused cases, usage mistakes are exit 2 and a caseworker is refused (exit 4)."""

from __future__ import annotations

from tests.e2e.cli import Hanport, consent_sets
from tests.support import NORE_POINT, NORE_POINT_2

MIGRATE = ("workflow", "migrate", "nore-open", "--from", "1", "--to", "2")


def _two_v1_cases(hp: Hanport) -> tuple[str, str]:
    waiting = hp.call(
        "case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT
    ).ok()
    ref = waiting.json["case"]
    hp.call("case", "advance", ref, "request-consent").ok()
    other = hp.call(
        "case", "open", "nore-open", "--customer", "1005", "--metering-point", NORE_POINT_2
    ).ok()
    return ref, other.json["case"]


def test_dry_run_then_apply(hp: Hanport) -> None:
    a, b = _two_v1_cases(hp)
    dry = hp.call(*MIGRATE, "--all", "--dry-run", user="sup", as_json=False).ok()
    assert dry.out.startswith("DRY RUN — nothing was changed")
    assert "would move 2 cases, 0 refused" in dry.out
    assert f"{a}  awaiting_consent → awaiting_consent  kept expire, remind_consent" in dry.out
    plan = hp.call(*MIGRATE, "--all", "--dry-run", user="sup").ok().json
    done = hp.call(*MIGRATE, "--all", "--apply", user="sup").ok().json
    assert done["migrated"] == plan["migrated"] and done["applied"] and not plan["applied"]
    shown = hp.call("case", "show", a, user="sup", as_json=False).ok().out
    assert shown.startswith(f"{a}  nore_open v2")
    assert "migrate" in shown
    again = hp.call(*MIGRATE, "--case", a, "--case", b, "--apply", user="sup").ok().json
    assert again["already_migrated"] == [a, b] and again["migrated"] == []
    assert (
        "all as recorded" in hp.call("audit", "replay", "--all", user="aud", as_json=False).ok().out
    )


def test_refused_cases_are_listed_with_exit_6(hp: Hanport) -> None:
    ref = hp.call(
        "case", "open", "nore-open", "--customer", "1001", "--metering-point", NORE_POINT,
        *consent_sets(),
    ).ok().json["case"]  # fmt: skip
    # A v1 case in opening maps to opening; the unknown case is listed, the rest is done.
    r = hp.call(*MIGRATE, "--case", ref, "--case", "HAN-2026-999999", "--apply", user="sup")
    assert r.code == 6, str(r)
    assert r.json["refused"] == [
        {"case": "HAN-2026-999999", "reason": "case HAN-2026-999999 not found"}
    ]
    assert "hanport: HAN-2026-999999: case HAN-2026-999999 not found" in r.err
    assert [m["case"] for m in r.json["migrated"]] == [ref]


def test_mistakes(hp: Hanport) -> None:
    _two_v1_cases(hp)
    hp.refused(2, *MIGRATE, "--all", user="sup", says="exactly one of --dry-run and --apply")
    hp.refused(2, *MIGRATE, "--dry-run", user="sup", says="--all or --case")
    hp.refused(2, *MIGRATE, "--all", "--dry-run", "--map", "x", user="sup", says="OLD=NEW")
    hp.refused(4, *MIGRATE, "--all", "--apply", user="cw", says="needs a supervisor")
    hp.refused(
        3, "workflow", "migrate", "nore-open", "--from", "1", "--to", "5", "--all", "--apply",
        user="sup", says="versions: 1, 2",
    )  # fmt: skip
    hp.refused(
        4, *MIGRATE, "--all", "--apply", "--map", "opening=confirmed", user="sup", says="final"
    )

"""The project's promises about itself: the quick start, CI, the demo, the schema head."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_readme_quick_start_has_exactly_two_commands() -> None:
    cmds = quick_start()
    assert len(cmds) == 2, cmds
    assert all("\n" not in c for c in cmds)
    assert "hanport demo" in cmds[0]
    assert "pytest" in cmds[1]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert quick_start()[1] in ci
    assert "HANPORT_REQUIRE_POSTGRES=1" in ci


def test_schema_head_matches_migrations() -> None:
    from storage import migrate
    from storage.schema import SCHEMA_HEAD

    assert migrate.head() == SCHEMA_HEAD


def test_demo_reaches_every_expected_state(tmp_path: Path) -> None:
    from hanport.cli.main import cli

    result = CliRunner().invoke(cli, ["--json", "demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    assert report["ok"] and not report["problems"]
    assert {c["state"] for c in report["cases"]} >= {"confirmed", "rejected", "closed", "cancelled"}

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
    assert "HANPORT_REQUIRE_BROWSER=1" in ci and "apt-get install -y -q chromium" in ci


def test_schema_head_matches_migrations() -> None:
    from hanport.storage import migrate
    from hanport.storage.schema import SCHEMA_HEAD

    assert migrate.head() == SCHEMA_HEAD


def test_demo_reaches_every_expected_state(tmp_path: Path) -> None:
    from hanport.entrypoints.cli.main import cli

    result = CliRunner().invoke(cli, ["--json", "demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    import json

    report = json.loads(result.output)
    assert report["ok"] and not report["problems"]
    assert {c["state"] for c in report["cases"]} >= {"confirmed", "rejected", "closed", "cancelled"}


GIVEN_FOLDERS = ("storage", "workflows", "notifications", "templates")


def test_given_folders_are_imported_only_under_the_hanport_namespace() -> None:
    """The given top-level folders are linked into the package (``hanport/storage`` →
    ``../storage``…): nothing may import them under their bare names, which would load a second
    copy (and claim a global name an installed wheel must not)."""
    import sys

    import hanport.storage.tables  # noqa: F401 - the namespaced copy is the one in use

    for name in GIVEN_FOLDERS:
        assert name not in sys.modules, f"{name} was imported as a top-level package"
        link = ROOT / "hanport" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()


def test_the_wheel_installs_only_the_hanport_package(tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("hanport-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"hanport"}
    for name in GIVEN_FOLDERS:
        assert any(n.startswith(f"hanport/{name}/") for n in names), name
    assert "hanport/storage/migrations/versions/0001_initial_schema.py" in names
    assert "hanport/templates/mail/nb/port_opened.j2" in names

"""Documentation that cannot drift: the generated references are current, every command,
trigger and notice is documented, and the README's tour runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hanport import workflows
from hanport.entrypoints.cli import reference
from hanport.notifications.render import notices

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(reference.FILES))
def test_generated_reference_is_current(name: str) -> None:
    current = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert current == reference.FILES[name](), (
        f"docs/{name} is out of date: run `python -m hanport.entrypoints.cli.reference`"
    )


def test_every_command_is_in_the_cli_reference() -> None:
    from hanport.entrypoints.cli.main import cli

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for path, cmd in reference._walk(cli, ["hanport"]):
        assert f"## `{' '.join(path)}`" in text
        assert (cmd.help or "").strip(), f"{' '.join(path)} has no help"


def test_every_trigger_is_documented() -> None:
    text = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    for wf in workflows.WORKFLOWS.values():
        for t in wf.transitions:
            assert t.help.strip(), f"{wf.name}.{t.trigger} has no help"
            assert re.search(rf"\b{t.trigger}\b", text), (
                f"{wf.name}.{t.trigger} is not in docs/workflows.md"
            )


def test_every_notice_is_documented() -> None:
    text = (ROOT / "docs" / "notices.md").read_text(encoding="utf-8")
    missing = [n for n in notices() if f"`{n}`" not in text]
    assert not missing, f"not in docs/notices.md: {missing}"


def _tour_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = text.split("## Tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", tour, flags=re.S)


def test_readme_tour_runs_as_written(tmp_path: Path) -> None:
    """The README's command blocks, run in order after the demo, in a shell."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANPORT_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    hanport = bin_dir / "hanport"
    if not hanport.exists():  # running from a source tree without the console script
        (tmp_path / "bin").mkdir()
        hanport = tmp_path / "bin" / "hanport"
        hanport.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hanport "$@"\n')
        hanport.chmod(0o755)
        env["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    demo = subprocess.run(
        ["hanport", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    script = "set -e\n" + "\n".join(_tour_blocks()) + "\n"
    run = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "all intact" in run.stdout and "all as recorded" in run.stdout
    assert (tmp_path / "evidence.html").exists()

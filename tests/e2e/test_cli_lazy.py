"""The command line imports a command group only when it is used, and says the same as if it
imported them all: the lazy table's short help is the group's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hanport.entrypoints.cli.main import COMMANDS, cli, whole_summary


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_lazy_table_names_the_command_and_its_short_help(name: str) -> None:
    command = cli.commands[name]
    assert command.name == name
    # the summary a listing shows: the first sentence of the group's help, whole
    assert command.get_short_help_str(10) == whole_summary(COMMANDS[name].short_help)
    assert COMMANDS[name].short_help.startswith(command.get_short_help_str(10))


def _modules_after(*args: str) -> set[str]:
    """The hanport and library modules a fresh ``hanport ARGS`` process has imported."""
    code = (
        "import sys\n"
        "from hanport.entrypoints.cli.main import cli\n"
        f"cli.main({list(args)!r}, prog_name='hanport', standalone_mode=False)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_top_level_help_imports_no_command_group_and_no_database_library() -> None:
    modules = _modules_after("--help")
    assert not {m for m in modules if m.startswith("hanport.entrypoints.cli.")} - {
        "hanport.entrypoints.cli.main",
        "hanport.entrypoints.cli.context",
        "hanport.entrypoints.cli.lazy",
    }
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "sqlmodel", "jinja2")}


def test_a_group_help_imports_that_group_only() -> None:
    modules = _modules_after("case", "--help")
    assert "hanport.entrypoints.cli.case" in modules
    assert "hanport.entrypoints.cli.audit" not in modules


def test_completion_still_offers_every_group() -> None:
    from click.shell_completion import ShellComplete

    complete = ShellComplete(cli, {}, "hanport", "_HANPORT_COMPLETE")
    names = [c.value for c in complete.get_completions([], "")]
    assert set(COMMANDS) <= set(names)
    assert [c.value for c in complete.get_completions(["case"], "sh")] == ["show"]

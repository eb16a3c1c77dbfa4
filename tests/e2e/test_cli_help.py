"""Every command, option and argument of ``hanport`` explains itself."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest

from hanport.entrypoints.cli.main import cli
from tests.e2e.cli import Hanport


def _walk(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, group
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _walk(cmd, (*path, name))
        else:
            yield (*path, name), cmd


COMMANDS = list(_walk(cli))
IDS = [" ".join(p) or "hanport" for p, _ in COMMANDS]


def test_the_tree_has_the_contracts_commands() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    expected = {
        "case open nore-open", "case open meter-swap", "case open close-port", "case list",
        "case show", "case advance", "customer show", "customer update", "import customers",
        "import metering-points", "workflow show", "db upgrade",
    }  # fmt: skip
    assert expected <= paths, expected - paths


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_command_has_help(path: tuple[str, ...], cmd: click.Command) -> None:
    assert (cmd.help or "").strip(), f"hanport {' '.join(path)} has no help text"
    assert cmd.get_short_help_str(limit=80).strip()


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_every_option_and_argument_has_help(path: tuple[str, ...], cmd: click.Command) -> None:
    where = f"hanport {' '.join(path)}".strip()
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{where} {param.opts[0]} has no help"
        else:
            assert isinstance(param, click.Argument)
            # The name the usage line shows: the metavar if one is set, else the upper-cased name.
            name = param.metavar or (param.name or "").upper()
            assert re.search(rf"\b{re.escape(name)}\b", cmd.help or ""), (
                f"{where}: the help text does not mention the argument {name}"
            )


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=IDS)
def test_help_option_prints_usage(
    empty: Hanport, path: tuple[str, ...], cmd: click.Command
) -> None:
    r = empty.call(*path, "--help", user=None, as_json=False)
    assert r.code == 0, str(r)
    assert r.out.startswith(f"Usage: hanport {' '.join(path)}".rstrip()), str(r)
    for param in cmd.params:
        if isinstance(param, click.Option):
            assert param.opts[0] in r.out, (param.opts[0], r.out)
    # Nothing was created by asking for help.
    assert not empty.db_path.exists()


def test_top_level_help_lists_exit_codes(empty: Hanport) -> None:
    r = empty.run("--help", user=None, as_json=False)
    assert r.code == 0, str(r)
    text = " ".join(r.out.split())
    assert "Exit codes" in text
    for code, words in [
        (0, "success"), (1, "unexpected"), (2, "usage"), (3, "not found"), (4, "refused"),
        (5, "conflict"), (6, "done with rejected rows"), (7, "audit"),
    ]:  # fmt: skip
        assert re.search(rf"\b{code} {words}", text), (code, words, r.out)
    for group in ("case", "customer", "import", "workflow"):
        assert re.search(rf"^\s+{group}\s", r.out, re.M), group
    for option in ("--db", "--as", "--json", "--now"):
        assert option in r.out

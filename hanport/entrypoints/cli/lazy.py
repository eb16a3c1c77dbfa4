"""A click group that imports a command's module only when the command is used.

``hanport`` knows its command groups by name → ``"module:attribute"`` and a short help; running
``hanport case show X`` imports ``hanport.entrypoints.cli.case`` and no other command module, and
``hanport --help`` lists the groups from their short help without importing any of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from gettext import gettext as _
from typing import Any, NamedTuple

import click


class Lazy(NamedTuple):
    """Where a command lives (``"package.module:attribute"``) and its short help, which must be
    the first sentence of the command's own help (a test holds the two together)."""

    target: str
    short_help: str


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands: the names are known at once, each command is imported on first access.

    Iterating gives the names without importing anything; ``[name]``, ``.get``, ``.values()`` and
    ``.items()`` import what they return (as click's ``get_command`` and a walk of the tree do).
    ``prepare`` is called once on every command this mapping imports."""

    def __init__(
        self, lazy: Mapping[str, Lazy], prepare: Callable[[click.Command], None] | None = None
    ) -> None:
        self.lazy = dict(lazy)
        self.prepare = prepare
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            if name not in self.lazy:
                raise KeyError(name)
            self.loaded[name] = self._load(name)
        return self.loaded[name]

    def _load(self, name: str) -> click.Command:
        module, _, attribute = self.lazy[name].target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[name].target} is not a click command")
        if self.prepare is not None:
            self.prepare(command)
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self.loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self.lazy and name not in self.loaded:
            raise KeyError(name)
        self.lazy.pop(name, None)
        self.loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self.lazy
        yield from (name for name in self.loaded if name not in self.lazy)

    def __len__(self) -> int:
        return len(self.lazy.keys() | self.loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self.lazy or name in self.loaded


class LazyGroup(click.Group):
    """A ``click.Group`` whose subcommands are a :class:`LazyCommands`: resolving a command
    imports its module; listing names, unknown-command errors and the group's ``--help`` do not."""

    commands: LazyCommands

    def __init__(
        self,
        name: str | None = None,
        *,
        lazy: Mapping[str, Lazy],
        prepare: Callable[[click.Command], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, commands=LazyCommands(lazy, prepare), **kwargs)

    def short_help_of(self, name: str) -> click.Command:
        """The command if it is already imported, else a stand-in carrying its short help."""
        loaded = self.commands.loaded.get(name)
        if loaded is not None:
            return loaded
        short = self.commands.lazy[name].short_help
        return click.Command(name, help=short, short_help=short)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As ``click.Group.format_commands``, from the stand-ins: the same rows, no imports."""
        rows = [(name, self.short_help_of(name)) for name in self.list_commands(ctx)]
        rows = [(name, cmd) for name, cmd in rows if not cmd.hidden]
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section(_("Commands")):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

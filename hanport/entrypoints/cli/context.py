"""What every command shares: the lazily built application, the actor, and output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # the application is built, and its modules imported, only when a command runs
    from hanport.bootstrap import App
    from hanport.workflows.definition import Actor


@dataclass
class CliState:
    db: str | None = None
    user: str | None = None
    json: bool = False
    now: str | None = None
    _app: App | None = field(default=None, repr=False)

    def app(self, *, now: str | None = None, simulated: bool | None = None) -> App:
        if self._app is None:
            from hanport import config
            from hanport.bootstrap import bootstrap

            settings = config.load(database_url=self.db)
            self._app = bootstrap(settings, now=now or self.now, simulated=simulated)
        return self._app

    def actor(self) -> Actor:
        from hanport.service.roles import resolve

        return resolve(self.app(), self.user)

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def emit(self, data: Any, human: str | None = None) -> None:
        """Print JSON with ``--json``, else the human form."""
        if self.json:
            click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        elif human is not None:
            click.echo(human)


pass_state = click.make_pass_decorator(CliState)

F = TypeVar("F", bound=Callable[..., Any])


def personal_options(command: F) -> F:
    """``--personal`` and ``--purpose`` for a command that can show personal data."""
    command = click.option(
        "--purpose",
        metavar="TEXT",
        help="Why you read this personal data (kept in the access log; default: your role's "
        "work, e.g. casework or audit).",
    )(command)
    return click.option(
        "--personal",
        is_flag=True,
        help="Show the personal data an auditor or the data-protection officer does not see "
        "by default (the read is logged).",
    )(command)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    head = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    lines = [head] + [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def warn(message: str) -> None:
    click.echo(click.style(f"warning: {message}", fg="yellow"), err=True)


def is_tty() -> bool:
    return sys.stdout.isatty()


def check_out(out: Path | None) -> None:
    """Refuse an ``--out`` file that could not be written, before any work: its folder must
    exist and be writable (nothing is written)."""
    if out is None:
        return
    from hanport.errors import Refused

    folder = out.absolute().parent
    if not folder.is_dir():
        raise Refused(f"--out {out}: the folder {folder} does not exist; nothing written")
    if not os.access(folder, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise Refused(f"--out {out}: may not be written here; nothing written")


def write_out(out: Path, text: str) -> None:
    """Write ``out`` whole or not at all (a temporary file beside it, renamed over it)."""
    from hanport.errors import Refused

    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, out)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise Refused(
            f"--out {out}: could not be written ({exc.strerror}); nothing written"
        ) from exc

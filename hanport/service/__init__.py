"""The service layer: the only way to change anything in hanport.

A tool outside the package (the CLI, the scheduler, the demo, a benchmark, the web intake) builds
a command from :mod:`hanport.service.commands` and runs it::

    from hanport.service import run
    from hanport.service.commands import Advance, OpenCase

    result = run(app, actor, OpenCase("nore_open", customer="20001", metering_point=gsrn))
    run(app, actor, Advance(result.case, "confirm_open"))

Each command has one handler (``hanport.service.handlers.HANDLERS``): it loads what the command
needs in one read, lets the workflows decide, hands the decision to the writer and commits.
"""

from __future__ import annotations

from typing import Any

from hanport.bootstrap import App
from hanport.workflows.definition import Actor


def run(app: App, actor: Actor, command: Any) -> Any:
    """Run ``command`` as ``actor`` and return its handler's result."""
    from hanport.service.handlers import HANDLERS
    from hanport.service.processing import processing

    handler = HANDLERS.get(type(command))
    if handler is None:
        raise TypeError(f"no handler for {type(command).__name__}")
    with processing(app, actor, command):
        return handler(app, actor, command)

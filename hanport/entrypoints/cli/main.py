"""``hanport``: the command line. Errors go to stderr in plain words, one line; exit codes:
0 success · 1 unexpected (a bug; ``--debug`` prints the traceback) · 2 usage · 3 not found ·
4 refused or bad input · 5 conflict, unreachable or disk full (retry) · 6 rejected rows ·
7 audit problem."""

from __future__ import annotations

import sys
import traceback

import click

from hanport.entrypoints.cli.context import CliState
from hanport.entrypoints.cli.lazy import Lazy, LazyGroup
from hanport.errors import EXIT_UNEXPECTED, HanportError

EXIT_CODES = """Exit codes: 0 success (also "already applied") · 1 unexpected error (a bug: --debug
shows the traceback) · 2 usage · 3 not found · 4 refused or bad input: a guard, a field, a file, the
database URL, an --out path, the configuration (nothing changed) · 5 conflict, database
unreachable or its disk full (retry) · 6 done with rejected rows · 7 audit found a problem."""


def _cli(module: str, short_help: str, attribute: str = "group") -> Lazy:
    return Lazy(f"hanport.entrypoints.cli.{module}:{attribute}", short_help)


# Each module of ``hanport.entrypoints.cli`` contributes one command group, imported when it runs
# (or its own help is asked for); the short help is the first sentence of the group's help.
COMMANDS: dict[str, Lazy] = {
    "audit": _cli(
        "audit",
        "Audit the history: verify, checkpoint, replay, port timeline, export, the access log.",
    ),
    "batch": _cli("batch", "Batches: apply the Elhub-derived terminations and moves file."),
    "case": _cli("case", "Cases: open, list, show, advance."),
    "consent": _cli(
        "consent", "The consent register: every consent as the history stood at any moment."
    ),
    "customer": _cli(
        "customer",
        "Customers: show one, update contact details and language, export everything held "
        "about one (an access request) or erase it (art. 17).",
    ),
    "db": _cli("db", "Create a database, migrate its schema."),
    "demo": _cli("demo", "Run the end-to-end demo on a fresh SQLite database and print its story."),
    "hes": _cli(
        "hes",
        "HES commands: what is still out, and the vendor's answer to a manual command left by "
        "an ended case (a live case's command is answered with `case advance`).",
    ),
    "intake": _cli(
        "intake",
        "Web intakes: list them, show one (the form as typed, logged), resolve one under review.",
    ),
    "import": _cli("imports", "Import the registry from CSV (UTF-8, ';'-separated, header row)."),
    "mail": _cli("mail", "The mail outbox: list, show, send now, retry a dead mail."),
    "privacy": _cli(
        "privacy",
        "Privacy: data subjects' requests (GDPR art. 15–18), the erasure ledger, applying it "
        "again after a restore, what retention says should go now, and the cleared values out "
        "of the database's files (vacuum).",
    ),
    "report": _cli("report", "Reports from the case histories: the three-working-day SLA."),
    "scheduler": _cli(
        "scheduler",
        "Run the scheduler service: tick every minute, the nightly batch slot; "
        "stops on SIGTERM/SIGINT.",
    ),
    "serve": _cli(
        "serve",
        "Serve the customer web intake (order, swap, close, status pages) on the database; "
        "/healthz and /readyz on the public port, Prometheus metrics on --metrics-port only.",
    ),
    "tick": _cli(
        "tick", "Fire due timers, dispatch HES commands, apply acknowledgements, send mail — once."
    ),
    "workflow": _cli(
        "workflow",
        "Show workflow definitions (states, triggers, timers, notices), their versions and what "
        "changed between them; migrate live cases between versions.",
    ),
}


# ``--debug`` was given: an error's traceback goes to stderr too (reset by every ``main``).
_debug = {"on": False}


def _set_debug(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _debug["on"] = True


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_object(CliState).json = True  # type: ignore[union-attr]


def whole_summary(help_text: str) -> str:
    """A command's summary in a listing: the first sentence of its help, whole (click would cut
    it to the width left and end it with "...")."""
    words: list[str] = []
    for word in help_text.split("\n\n", 1)[0].split():
        words.append(word)
        if word.endswith("."):
            break
    return " ".join(words)


# The global flags every command also accepts after its own arguments.
_LOCAL_FLAGS = (
    ("--json", "as_json_local", _set_json, "Print JSON on stdout (same as hanport --json)."),
    (
        "--debug",
        "debug_local",
        _set_debug,
        "On an error, print its traceback too (same as hanport --debug).",
    ),
)


def accept_json(command: click.Command) -> None:
    """Accept ``--json`` and ``--debug`` after the command too (``hanport case show X --json``):
    added to every command of a group as the group is imported. Its summary in a listing is made whole."""
    if command.help and not command.short_help:
        command.short_help = whole_summary(command.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_json(sub)
    elif not any(p.name == "as_json_local" for p in command.params):
        for flag, name, callback, help_text in _LOCAL_FLAGS:
            command.params.append(
                click.Option(
                    [flag, name],
                    is_flag=True,
                    expose_value=False,
                    callback=callback,
                    help=help_text,
                )
            )


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    prepare=accept_json,
    help="hanport: HAN-port cases for a grid company — opening, meter swaps, closing, audits.\n\n"
    + EXIT_CODES,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    metavar="URL",
    help="Database URL (default: HANPORT_DATABASE_URL or sqlite:///hanport.db).",
)
@click.option(
    "--as",
    "user",
    metavar="USER",
    help="Act as USER (or HANPORT_USER): only on a simulated-clock database, or for a service "
    "account allowed to impersonate. Else you act as your login (your PostgreSQL role).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout instead of tables.")
@click.option(
    "--now", metavar="ISO", help="Simulated time (only on a database with a simulated clock)."
)
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_set_debug,
    help="On an error, print its traceback to stderr too.",
)
@click.pass_context
def cli(
    ctx: click.Context, db: str | None, user: str | None, as_json: bool, now: str | None
) -> None:
    ctx.obj = CliState(db=db, user=user, json=as_json, now=now)
    ctx.call_on_close(ctx.obj.close)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _database_error(exc: BaseException) -> HanportError | None:
    """A database error that left the command outside a transaction (at connect, migrating, in
    a reader) — unreachable, its disk full, a database that does not exist — in the CLI's
    terms; None: not a database error the storage layer knows."""
    from hanport.service.unit import database_error

    return database_error(exc)


def _fail(exc: BaseException, message: str, code: int) -> None:
    click.echo(message, err=True)
    if _debug["on"]:
        traceback.print_exception(exc, file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    _debug["on"] = False
    try:
        code = cli.main(args=argv, prog_name="hanport", standalone_mode=False)
    except HanportError as exc:
        _fail(exc, f"hanport: {exc}", exc.exit_code)
    except click.exceptions.Abort:
        click.echo("hanport: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last resort: a database error we know, or a bug
        named = _database_error(exc)
        if named is not None:
            _fail(exc, f"hanport: {named}", named.exit_code)
        _fail(
            exc,
            f"hanport: unexpected error: {type(exc).__name__}: {_first_line(exc)} "
            "(a bug: run with --debug for the traceback)",
            EXIT_UNEXPECTED,
        )
    sys.exit(code if isinstance(code, int) else 0)

"""Driving the real ``hanport`` command line from the end-to-end tests.

``Hanport.run`` starts ``python -m hanport …`` as a subprocess (the real entry point, a fresh
interpreter, only the environment it is given); ``Hanport.call`` runs
``hanport.entrypoints.cli.main.main([...])`` in this process, with the same environment and the same exit-code
mapping, for the many small bad-input cases. Both return a :class:`Run`.

``Hanport.dump`` reads every table of the SQLite file directly, so a test can show that a refused
command changed nothing at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import (
    CUSTOMERS_CSV,
    HOLE_METER,
    HOLE_POINT,
    NORE_METER,
    NORE_METER_2,
    NORE_OPEN_METER,
    NORE_OPEN_POINT,
    NORE_POINT,
    NORE_POINT_2,
    PINNED,
    POINTS_CSV,
    RINGERIKE_METER,
    RINGERIKE_POINT,
    START,
    TEST_PEPPER,
    consent,
)

__all__ = [
    "CUSTOMERS_CSV",
    "HOLE_METER",
    "HOLE_POINT",
    "NORE_METER",
    "NORE_METER_2",
    "NORE_OPEN_METER",
    "NORE_OPEN_POINT",
    "NORE_POINT",
    "NORE_POINT_2",
    "POINTS_CSV",
    "RINGERIKE_METER",
    "RINGERIKE_POINT",
    "ROLES",
    "START",
    "Hanport",
    "Run",
    "consent",
    "consent_sets",
    "meter_number",
]

ROOT = Path(__file__).resolve().parents[2]
ROLES = "cw=caseworker,sup=supervisor,aud=auditor"
# Tables whose content a refused command may legitimately touch: ``meta`` holds the salt and the
# simulated clock's time, written by every bootstrap.
VOLATILE_TABLES = ("meta",)


@dataclass(frozen=True)
class Run:
    """One command's outcome."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.out)
        except json.JSONDecodeError as exc:  # pragma: no cover - a failing test explains itself
            raise AssertionError(f"stdout of {self} is not JSON: {exc}") from None

    def __str__(self) -> str:
        return (
            f"hanport {' '.join(self.args)} → exit {self.code}\n"
            f"--- stdout\n{self.out}\n--- stderr\n{self.err}"
        )

    def ok(self) -> Run:
        assert self.code == 0, str(self)
        return self


def consent_sets(**over: str) -> list[str]:
    """``--set`` options for a valid consent for NORE_POINT (customer 1001), with overrides."""
    out: list[str] = []
    for k, v in consent(**over).items():
        out += ["--set", f"{k}={v}"]
    return out


def meter_number(body: str) -> str:
    """A meter number that passes the GS1 mod-10 check: ``body`` plus its check digit."""
    from stdnum import ean

    return body + ean.calc_check_digit(body)


class Hanport:
    """The CLI on one database: a SQLite file in ``folder`` unless ``url`` names another."""

    def __init__(
        self,
        folder: Path,
        *,
        url: str | None = None,
        simulated: bool = True,
        now: str | None = START,
        init: bool = True,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.db_path = folder / "h.db"
        self.url = url or f"sqlite:///{self.db_path}"
        config = folder / "hanport.toml"  # an empty file: no ./hanport.toml of the caller applies
        if not config.exists():
            config.write_text("", encoding="utf-8")
        self.env: dict[str, str] = {
            "HANPORT_DATABASE_URL": self.url,
            "HANPORT_ROLES": ROLES,
            **PINNED,
            "HANPORT_PEPPER": TEST_PEPPER,
            "HANPORT_CONFIG": str(config),
            "HANPORT_MAILDIR": str(folder / "maildir"),
        }
        if simulated and now:
            self.env["HANPORT_NOW"] = now
        if init and url is None and not self.db_path.exists():
            clock = ("--simulated-clock",) if simulated else ()
            made = self.call("db", "init", *clock, user=None)
            assert made.code == 0, made.err

    # --- running -------------------------------------------------------------------------------

    def argv(self, args: tuple[str, ...], user: str | None, as_json: bool) -> list[str]:
        head: list[str] = []
        if user is not None:
            head += ["--as", user]
        if as_json:
            head.append("--json")
        return head + [str(a) for a in args]

    def _environ(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("HANPORT_")}
        return {**base, **self.env}

    def run(self, *args: str | Path, user: str | None = "cw", as_json: bool = True) -> Run:
        """``python -m hanport …`` in a subprocess."""
        argv = self.argv(tuple(map(str, args)), user, as_json)
        proc = subprocess.run(
            [sys.executable, "-m", "hanport", *argv],
            env={**self._environ(), "PYTHONPATH": str(ROOT)},
            cwd=self.folder,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )
        return Run(tuple(argv), proc.returncode, proc.stdout, proc.stderr)

    def call(self, *args: str | Path, user: str | None = "cw", as_json: bool = True) -> Run:
        """``hanport.entrypoints.cli.main.main([...])`` in this process (same environment, same exit codes)."""
        from hanport.entrypoints.cli.main import main

        argv = self.argv(tuple(map(str, args)), user, as_json)
        out, err = io.StringIO(), io.StringIO()
        code: int | str | None = None
        with (
            self._patched_environ(),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code
            else:  # pragma: no cover - main() always exits
                raise AssertionError(
                    "hanport.entrypoints.cli.main.main() returned instead of exiting"
                )
        if code is None:
            code = 0
        assert isinstance(code, int), f"exit code {code!r} is not a number"
        return Run(tuple(argv), code, out.getvalue(), err.getvalue())

    @contextlib.contextmanager
    def _patched_environ(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self._environ())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    # --- files ---------------------------------------------------------------------------------

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8", newline="")
        return path

    def copy_db_from(self, other: Path) -> None:
        for suffix in ("", "-wal", "-shm"):
            src = other.with_name(other.name + suffix)
            if src.exists():
                shutil.copyfile(src, self.db_path.with_name(self.db_path.name + suffix))

    # --- looking at the database directly -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def tables(self) -> list[str]:
        return [
            r[0]
            for r in self.query(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]

    def counts(self) -> dict[str, int]:
        return {t: self.query(f'SELECT count(*) FROM "{t}"')[0][0] for t in self.tables()}

    def dump(self) -> dict[str, list[str]]:
        """Every row of every table (but ``meta``), as sorted reprs."""
        return {
            t: sorted(repr(r) for r in self.query(f'SELECT * FROM "{t}"'))
            for t in self.tables()
            if t not in VOLATILE_TABLES
        }

    def case_version(self, ref: str) -> tuple[str, int]:
        rows = self.query("SELECT state, version FROM cases WHERE ref = ?", ref)
        assert rows, f"case {ref} not in the database"
        return rows[0][0], rows[0][1]

    def refused(
        self,
        code: int,
        *args: str | Path,
        says: tuple[str, ...] | str = (),
        user: str | None = "cw",
        case: str | None = None,
        subprocess_run: bool = False,
    ) -> Run:
        """Run a command that must fail with ``code``, say each of ``says`` on stderr (case
        folded), print nothing on stdout, and change nothing in the database (every table's
        rows, and ``case``'s state and version)."""
        before = self.dump()
        version = self.case_version(case) if case else None
        r = (self.run if subprocess_run else self.call)(*args, user=user)
        assert r.code == code, f"expected exit {code}\n{r}"
        assert r.err.strip(), f"no message on stderr\n{r}"
        assert not r.out.strip(), f"a refused command printed on stdout\n{r}"
        for word in (says,) if isinstance(says, str) else says:
            assert word.lower() in r.err.lower(), f"stderr does not mention {word!r}\n{r}"
        after = self.dump()
        changed = {t for t in before if before[t] != after.get(t)}
        assert not changed, f"tables changed by a refused command: {sorted(changed)}\n{r}"
        if case:
            assert self.case_version(case) == version, f"case {case} changed\n{r}"
        return r

    # --- shortcuts -----------------------------------------------------------------------------

    def import_registry(self, *, subprocess_run: bool = True) -> tuple[Run, Run]:
        go = self.run if subprocess_run else self.call
        c = go("import", "customers", self.write("customers.csv", CUSTOMERS_CSV))
        p = go("import", "metering-points", self.write("points.csv", POINTS_CSV))
        return c, p

    def open_nore(self, *extra: str, point: str = NORE_POINT, customer: str = "1001") -> str:
        """Open a nore_open case in this process; return its reference."""
        r = self.call(
            "case", "open", "nore-open", "--metering-point", point, "--customer", customer, *extra
        ).ok()
        return str(r.json["case"])

    def advance(self, ref: str, trigger: str, *extra: str, user: str = "cw") -> Run:
        return self.call("case", "advance", ref, trigger, *extra, user=user)

    def show(self, ref: str) -> dict[str, Any]:
        return dict(self.call("case", "show", ref).ok().json)

"""Operator mistakes: each one gets a clear one-line message and its own exit code — never
``unexpected error`` (exit 1), which is left for a true bug — and changes nothing.

A wrong database URL (no scheme, another database, a missing folder, a PostgreSQL database or
login that does not exist) and an unwritable ``--out`` are refused (4); a database that cannot
be reached or whose disk is full says "retry" (5). Most run in-process
(``hanport.entrypoints.cli.main.main``), a few through ``python -m hanport``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from tests.e2e.cli import CUSTOMERS_CSV, Hanport, Run

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _refused(r: Run, code: int, *says: str) -> None:
    assert r.code == code, f"expected exit {code}\n{r}"
    assert not r.out.strip(), f"a refused command printed on stdout\n{r}"
    err = r.err.strip()
    assert len(err.splitlines()) == 1, f"not one line\n{r}"
    for word in says:
        assert word.lower() in err.lower(), f"stderr does not mention {word!r}\n{r}"
    for internal in ("unexpected error", "Traceback", "sqlalche.me", "(psycopg.", "(sqlite3."):
        assert internal.lower() not in err.lower(), f"stderr shows {internal!r}\n{r}"


def _need_postgres() -> None:
    from tests.conftest import REQUIRE_PG, _pg_available

    problem = _pg_available()
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem + " (HANPORT_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)


# --- the database URL -----------------------------------------------------------------------


def test_postgres_database_that_does_not_exist(tmp_path: Path) -> None:
    _need_postgres()
    hp = Hanport(tmp_path, url=f"{PG_SERVER}/no_such_db")
    r = hp.run("case", "list")
    _refused(r, 4, 'database "no_such_db" does not exist', "127.0.0.1:5432", "createdb")


def test_postgres_login_that_does_not_exist(tmp_path: Path) -> None:
    _need_postgres()
    hp = Hanport(tmp_path, url="postgresql://no_such_role@127.0.0.1:5432/test")
    _refused(hp.call("case", "list"), 4, "refused the login", 'role "no_such_role"')


def test_postgres_server_unreachable_names_the_host(tmp_path: Path) -> None:
    hp = Hanport(tmp_path, url="postgresql://postgres@127.0.0.1:1/test")
    r = hp.call("case", "list")
    _refused(r, 5, "PostgreSQL server at 127.0.0.1:1", "could not be reached", "retry")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("day.db", ("no scheme", "sqlite:///day.db", "postgresql://")),
        ("mysql://me@db/hanport", ("unsupported", "mysql", "sqlite", "postgresql")),
        ("postgresql+psycopg2://me@db/x", ("unsupported", "psycopg2", "postgresql")),
        ("sqlite:///missing/dir/x.db", ("folder missing/dir", "does not exist")),
    ],
)
def test_unusable_url_is_refused(tmp_path: Path, url: str, says: tuple[str, ...]) -> None:
    hp = Hanport(tmp_path, init=False)
    _refused(hp.call("--db", url, "case", "list"), 4, *says)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hanport.toml"], "something written"


def test_unusable_url_never_shows_the_password(tmp_path: Path) -> None:
    hp = Hanport(tmp_path, init=False)
    r = hp.call("--db", "mysql://me:s3cret@db/hanport", "case", "list")
    _refused(r, 4, "unsupported")
    assert "s3cret" not in r.err


def test_url_without_scheme_by_subprocess(tmp_path: Path) -> None:
    hp = Hanport(tmp_path, init=False)
    hp.env["HANPORT_DATABASE_URL"] = "day.db"
    _refused(hp.run("tick"), 4, "sqlite:///day.db")
    assert not (tmp_path / "day.db").exists()


# --- the configuration ----------------------------------------------------------------------


def test_unknown_role_in_the_configuration_lists_the_roles(hp: Hanport) -> None:
    hp.env["HANPORT_ROLES"] = "cw=caseworker,nattjobb=batch"
    before = hp.dump()
    _refused(hp.call("case", "list"), 4, "unknown role 'batch'", "caseworker, supervisor")
    assert hp.dump() == before


def test_setting_that_is_not_a_number(hp: Hanport) -> None:
    hp.env["HANPORT_HES_MAX_ATTEMPTS"] = "three"
    _refused(hp.call("case", "list"), 4, "HANPORT_HES_MAX_ATTEMPTS", "'three'", "whole number")


# --- output files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("audit", "export", "{case}", "--out"),
        ("audit", "export", "{case}", "--format", "json", "--out"),
        ("audit", "checkpoint", "--out"),
    ],
)
def test_out_in_a_missing_folder_is_refused(hp: Hanport, command: tuple[str, ...]) -> None:
    case = hp.open_nore()
    out = hp.folder / "missing" / "x.html"
    args = [a.format(case=case) for a in command] + [str(out)]
    before = hp.dump()
    _refused(hp.call(*args, user="aud"), 4, f"--out {out}", "does not exist", "nothing written")
    assert not out.parent.exists()
    assert hp.dump() == before


def test_out_in_a_missing_folder_by_subprocess(hp: Hanport) -> None:
    case = hp.open_nore()
    r = hp.run("audit", "export", case, "--out", "/missing/x.html", user="aud")
    _refused(r, 4, "--out /missing/x.html", "folder /missing does not exist")
    assert not Path("/missing").exists()


def test_out_is_written_whole(hp: Hanport) -> None:
    """A good ``--out`` is written (through a temporary file renamed over it, none left)."""
    case = hp.open_nore()
    out = hp.folder / "e.html"
    out.write_text("old", encoding="utf-8")
    hp.call("audit", "export", case, "--out", out, user="aud").ok()
    assert out.read_text(encoding="utf-8").startswith("<!")
    assert not [p for p in hp.folder.iterdir() if p.name.endswith(".part")]


# --- a full disk ----------------------------------------------------------------------------


def _many_customers(n: int) -> str:
    header = CUSTOMERS_CSV.splitlines()[0]
    rows = [
        f"{5000 + i};Kunde {i:05d};k{i}@example.no;;Gate {i};3630;Rødberg;nb;no" for i in range(n)
    ]
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def full_at_this_size(hp: Hanport) -> Iterator[None]:
    """Every new SQLite connection of this process may not grow the database beyond its size
    now (``PRAGMA max_page_count``): a write that needs another page fails with a genuine
    SQLITE_FULL "database or disk is full" from SQLite itself — the database is not mocked."""
    pages = sqlite3.connect(hp.db_path).execute("PRAGMA page_count").fetchone()[0]

    def limit(dbapi_conn: Any, _record: Any) -> None:
        if isinstance(dbapi_conn, sqlite3.Connection):
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(Pool, "connect", limit)
    try:
        yield
    finally:
        event.remove(Pool, "connect", limit)


def test_disk_full_says_so_and_a_retry_is_safe(hp: Hanport, full_at_this_size: None) -> None:
    """SQLITE_FULL (see ``full_at_this_size``): "the disk is full", nothing written, retry (5)."""
    f = hp.write("many.csv", _many_customers(3000))
    before = hp.dump()
    r = hp.call("import", "customers", f)
    _refused(r, 5, "disk of the SQLite file", "is full", "nothing was written", "retry is safe")
    assert hp.dump() == before


def test_disk_full_for_real_on_a_small_file_system(hp: Hanport) -> None:
    """A tmpfs of 3 MiB filled to the brim holds the database (mounting needs root: skipped
    elsewhere); the import fails for want of space, then succeeds once space is freed."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    fs = hp.folder / "fs"
    fs.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(fs)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        small = Hanport(hp.folder / "small", url=f"sqlite:///{fs / 'h.db'}")
        small.run("db", "init", "--simulated-clock", user=None).ok()  # made on the small disk
        filler = fs / "filler"
        with filler.open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError:  # ENOSPC: the file system is full
                pass
        f = small.write("many.csv", _many_customers(1000))
        r = small.run("import", "customers", f)
        _refused(r, 5, "is full", "nothing was written", "retry is safe")
        filler.unlink()
        assert small.run("import", "customers", f).ok().json["inserted"] == 1000
    finally:
        subprocess.run(["umount", "-l", str(fs)], check=True)


def test_postgres_disk_full_is_named(tmp_path: Path) -> None:
    """PostgreSQL's disk_full (SQLSTATE 53100), raised by the server itself, is named as a full
    disk: the storage layer's translation of a real driver error."""
    _need_postgres()
    from sqlalchemy import text

    from hanport.storage.engine import create_engine
    from hanport.storage.errors import DiskFull, translate

    engine = create_engine(f"{PG_SERVER}/test", pool=False)
    try:
        with pytest.raises(Exception) as raised, engine.connect() as conn:
            conn.execute(
                text(
                    'DO $$ BEGIN RAISE EXCEPTION \'could not extend file "base/1/2": '
                    "No space left on device' USING ERRCODE = 'disk_full'; END $$"
                )
            )
    finally:
        engine.dispose()
    mapped = translate(raised.value)
    assert isinstance(mapped, DiskFull), raised.value
    assert "PostgreSQL server at 127.0.0.1:5432 is full" in str(mapped)


# --- a true bug -----------------------------------------------------------------------------


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> None:
    """``case list`` of ours raises a RuntimeError: a bug, as far as the CLI can tell."""
    from hanport.queries import cases

    def boom(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cases, "list_cases", boom)


def test_a_bug_is_one_line_with_a_hint(hp: Hanport, broken: None) -> None:
    r = hp.call("case", "list")
    assert r.code == 1, r
    assert r.err.strip() == (
        "hanport: unexpected error: RuntimeError: boom (a bug: run with --debug for the traceback)"
    ), r


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_prints_the_traceback(hp: Hanport, broken: None, where: str) -> None:
    args = ("--debug", "case", "list") if where == "before" else ("case", "list", "--debug")
    r = hp.call(*args)
    assert r.code == 1, r
    assert r.err.startswith("hanport: unexpected error: RuntimeError: boom"), r
    assert "Traceback (most recent call last)" in r.err and "in boom" in r.err, r


def test_debug_shows_a_refusals_cause(tmp_path: Path) -> None:
    r = Hanport(tmp_path, init=False).call("--debug", "--db", "day.db", "case", "list")
    assert r.code == 4, r
    assert "Traceback" in r.err and "no scheme" in r.err.splitlines()[0], r

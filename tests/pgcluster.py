"""A throw-away PostgreSQL cluster that asks for passwords (scram-sha-256 on every connection).

The shared test server trusts every local connection, so a test there cannot show that a login
needs its password. :func:`running_cluster` makes a new cluster in a temporary folder
(``initdb``), listening only on 127.0.0.1 on a free port, starts it, and always stops it
(``pg_ctl stop -m immediate``) and removes the folder afterwards.

PostgreSQL refuses to run as root: as root, ``initdb`` and ``pg_ctl`` run as the ``postgres``
operating-system user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import pytest

from tests.conftest import REQUIRE_PG

WAIT = "30"  # seconds pg_ctl waits for the server to start or stop


def _unavailable(reason: str) -> NoReturn:
    if REQUIRE_PG:
        pytest.fail(reason + " (HANPORT_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin`` (Debian and Ubuntu)."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=_version, reverse=True)
    for c in candidates:
        if c and all((Path(c) / tool).is_file() for tool in ("initdb", "pg_ctl")):
            return Path(c)
    return None


def _version(bindir: str) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` → (15,): newest first when sorted in reverse."""
    return tuple(int(n) for n in re.findall(r"\d+", Path(bindir).parent.name))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its superuser is ``postgres`` with ``password``."""

    bindir: Path
    folder: Path
    port: int
    password: str

    def url(self, user: str, password: str | None, database: str = "hanport") -> str:
        secret = f":{quote(password, safe='')}" if password is not None else ""
        return f"postgresql://{quote(user, safe='')}{secret}@127.0.0.1:{self.port}/{database}"

    def psql(self, *args: str, database: str = "hanport") -> subprocess.CompletedProcess[str]:
        """``psql`` as the superuser, stopping at the first error."""
        psql = self.bindir / "psql"
        env = {
            **os.environ,
            "PGPASSWORD": self.password,
            "PGPASSFILE": str(self.folder / "no-pgpass"),
        }
        return subprocess.run(
            [str(psql if psql.exists() else "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
             *args],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(_as_postgres(argv), capture_output=True, text=True, timeout=90)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _configure(data: Path, folder: Path, port: int) -> None:
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{folder}'",
        "password_encryption": "'scram-sha-256'",
        "fsync": "off",  # a test cluster: speed over durability
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "'16MB'",
        "max_connections": "30",
    }
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write("\n# tests/pgcluster.py\n")
        conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
    (data / "pg_hba.conf").write_text(
        "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n",
        encoding="utf-8",
    )


def _make_folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="hanport-pgpass-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    return folder


def _initdb(cluster: Cluster, data: Path) -> None:
    pwfile = cluster.folder / "pw"
    pwfile.write_text(cluster.password + "\n", encoding="utf-8")
    os.chmod(pwfile, 0o600)
    if os.geteuid() == 0:
        shutil.chown(pwfile, "postgres", "postgres")
    try:
        _run([str(cluster.bindir / "initdb"), "-D", str(data), "-U", "postgres", "-E", "UTF8",
              "--no-locale", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"],
             "initdb")  # fmt: skip
    finally:
        pwfile.unlink()
    _configure(data, cluster.folder, cluster.port)


@contextmanager
def running_cluster() -> Iterator[Cluster]:
    """A new cluster with password authentication only, stopped and removed afterwards."""
    bindir = find_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no postgres user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            _unavailable("running as root and runuser is missing: cannot start PostgreSQL")
    folder = _make_folder()
    data, log = folder / "data", folder / "server.log"
    cluster = Cluster(bindir, folder, free_port(), secrets.token_hex(16))
    started = False
    try:
        try:
            _initdb(cluster, data)
            started = True
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", WAIT,
                  "start"], "pg_ctl start")  # fmt: skip
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"could not start a PostgreSQL cluster: {exc}\n{tail}")
        yield cluster
    finally:
        if started:
            subprocess.run(
                _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                              "-w", "-t", WAIT, "stop"]),
                capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)

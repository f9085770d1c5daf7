"""A throwaway PostgreSQL server for the store tests, from the Debian server packages.

Started once per test session on a free loopback port in a temporary directory, as the `postgres`
user when we are root (PostgreSQL refuses to run as root), and stopped at session end. Where the
binaries are missing or the server cannot start, the tests that need it are skipped with the
reason; `.ci/run` installs the package, so in CI they run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresInstance:
    """A running server this test controls: `stop()` and `start()` it to test an outage."""

    url: str
    _pg_ctl: Callable[..., subprocess.CompletedProcess[str]]

    def stop(self) -> None:
        done = self._pg_ctl("-m", "immediate", "-w", "stop")
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        done = self._pg_ctl("-w", "-t", "30", "start")
        assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh server's `postgres` database."""
    with postgres_instance() as instance:
        yield instance.url


@contextlib.contextmanager
def postgres_instance() -> Iterator[PostgresInstance]:
    """A fresh server (its `postgres` database) that the caller may stop and start."""
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                     key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not initdbs:
        raise PostgresUnavailable("PostgreSQL server binaries not found under "
                                  "/usr/lib/postgresql/*/bin (apt-get install postgresql)")
    bindir = Path(initdbs[-1]).parent
    as_root = os.geteuid() == 0
    if as_root and not shutil.which("runuser"):
        raise PostgresUnavailable("running as root without runuser to drop to 'postgres'")
    base = Path(tempfile.mkdtemp(prefix="lcds-pg-"))
    data = base / "data"
    if as_root:
        shutil.chown(base, "postgres", "postgres")

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", "postgres", "--", *cmd] if as_root else list(cmd)
        return subprocess.run(full, capture_output=True, text=True, timeout=60, cwd=base)

    port = _free_port()
    options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")

    def pg_ctl(*args: str) -> subprocess.CompletedProcess[str]:
        head, tail = (args[:-1], args[-1:])  # the action ("start", "stop") comes last
        extra = ("-o", options, "-l", str(base / "server.log")) if tail == ("start",) else ()
        return run(str(bindir / "pg_ctl"), "-D", str(data), *extra, *head, *tail)

    try:
        done = run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                   "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {done.stderr.strip()[-300:]}")
        done = pg_ctl("-w", "-t", "30", "start")
        if done.returncode != 0:
            log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {(done.stderr + log)[-300:]}")
        try:
            yield PostgresInstance(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
                                   pg_ctl)
        finally:
            pg_ctl("-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server for one test; dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    dsn = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""A throwaway PostgreSQL server from the installed binaries, for the tests and benchmarks.

pytest-postgresql's executor runs `pg_ctl initdb` and `pg_ctl start` into a temporary
directory, with the socket there too. `initdb` refuses to run as root (CI does), so as
root every `pg_ctl` call goes through a small wrapper that runs it as `nobody`, and the
directory is handed to that user.

The tests' server (`running_server(durable=False)`) runs without fsync: it is thrown away
with the session, no test kills the server itself (crash tests kill the workers, which the
server outlives), and every fresh database copied from the template would otherwise wait
for a checkpoint written to disk. Benchmarks keep the durable defaults.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
SERVER_OPTIONS = "-c max_connections=300 -c shared_buffers=64MB"
THROWAWAY_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
"""For a server whose data nobody needs after a crash of the machine: the tests'."""


def find_pg_ctl() -> str | None:
    """`PG_CTL` if set (a path; one that does not exist means none), else `pg_ctl` on PATH,
    else the newest Debian/Ubuntu install (`/usr/lib/postgresql/N/bin`)."""
    if "PG_CTL" in os.environ:
        given = os.environ["PG_CTL"]
        return given if os.path.isfile(given) else None
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, pg_ctl: str, durable: bool = True) -> None:
        from pytest_postgresql.executors import PostgreSQLExecutor

        self.root = Path(tempfile.mkdtemp(prefix="lapor-pg-"))
        executable = pg_ctl
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            wrapper = self.root / "pg_ctl"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {UNPRIVILEGED_USER} -- "{pg_ctl}" "$@"\n')
            wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            executable = str(wrapper)
        self.port = _free_port()
        self.user = "postgres"
        self.executor = PostgreSQLExecutor(
            executable=executable, host="127.0.0.1", port=self.port, datadir=str(self.root / "data"),
            unixsocketdir=str(self.root), logfile=str(self.root / "server.log"), startparams="-w",
            dbname="postgres", user=self.user, timeout=120,
            postgres_options=SERVER_OPTIONS if durable else f"{SERVER_OPTIONS} {THROWAWAY_OPTIONS}",
        )

    def start(self) -> PostgresServer:
        """Returns once the server takes connections. The executor returns as soon as the
        TCP port answers, which PostgreSQL does while still "starting up" (and refusing
        every connection); `pg_ctl start -w`, its launcher, exits only once it is ready."""
        self.executor.start()
        launcher = self.executor.process
        if launcher is not None and launcher.wait(120) != 0:
            raise RuntimeError(f"pg_ctl start failed ({launcher.returncode}); see {self.root / 'server.log'}")
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """Over the Unix socket in the server's directory."""
        return f"postgresql://{self.user}@/{database}?host={self.root}&port={self.port}"


@contextlib.contextmanager
def running_server(durable: bool = True) -> Iterator[PostgresServer]:
    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        raise RuntimeError("PostgreSQL's server binaries (pg_ctl) are not installed: apt-get install postgresql")
    for attempt in range(3):  # the free port may be taken by another process before the server binds it
        server = PostgresServer(pg_ctl, durable)
        try:
            server.start()
            break
        except Exception:
            server.stop()
            if attempt == 2:
                raise
    try:
        yield server
    finally:
        server.stop()

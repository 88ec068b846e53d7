"""A throwaway PostgreSQL cluster for journal tests, or a clear skip when there is none.

The cluster lives in a temporary folder, listens on a free 127.0.0.1 port with its unix socket in
that folder, trusts local connections, and is stopped and deleted at the end of the test session.
initdb refuses to run as root; as root we run the server tools as the `postgres` user (through
`runuser` or `su`), otherwise we skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")


def _find_bin_dir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    for pattern in PG_BIN_GLOBS:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
                return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _runner() -> tuple[list[str], str] | None:
    """The command prefix that runs server tools as a non-root user, and that user's name."""
    if os.geteuid() != 0:
        return [], pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], "postgres"
    if shutil.which("su"):
        return ["su", "postgres", "-s", "/bin/sh", "-c"], "postgres"
    return None


class PgCluster:
    """A running cluster; `new_database()` gives each test a fresh, empty database."""

    def __init__(self, bin_dir: Path, prefix: list[str], user: str) -> None:
        self.bin_dir, self.prefix, self.user = bin_dir, prefix, user
        self.root = Path(tempfile.mkdtemp(prefix="qt-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if prefix:
            shutil.chown(self.root, user="postgres")

    def _run(self, *args: str) -> None:
        command = [*self.prefix, shlex.join(args)] if self.prefix[:1] == ["su"] else [*self.prefix, *args]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-o", options, "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = f"qt_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bin_dir = _find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL not available: initdb/pg_ctl not on PATH nor in /usr/lib/postgresql/*/bin")
    runner = _runner()
    if runner is None:
        pytest.skip("PostgreSQL not available: running as root and no `postgres` user (initdb refuses root)")
    cluster = PgCluster(bin_dir, *runner)
    try:
        cluster.start()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(cluster.root, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start: {exc} {detail.decode(errors='replace')[-300:]}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A `postgresql+psycopg://` URL of a fresh database on the session's throwaway cluster."""
    return pg_cluster.new_database()

"""A throwaway PostgreSQL server on loopback for the tests, started from Debian's binaries.

``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` user (``runuser``), on a
data directory that user owns. Every test gets a database of its own. Where no server can be started the reason is
returned and the PostgreSQL variants of the tests are skipped with it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One server for the test session; :meth:`new_database` hands out empty databases."""

    def __init__(self) -> None:
        self.bin = _binaries()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pruningbench-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> str | None:
        """Start the server; None when it runs, else why it cannot."""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "psycopg is not installed (pip install 'pruningbench[postgres]')"
        if self.bin is None:
            return "no PostgreSQL server binaries (Debian package postgresql; make test installs it when root)"
        if self.as_root:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                return "running as root and there is no postgres user to run the server as"
            os.chown(self.root, user.pw_uid, user.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c max_connections=200"
            self._run("pg_ctl", "-w", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "start")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            detail = getattr(error, "stderr", b"") or b""
            return f"PostgreSQL did not start: {error} {detail.decode(errors='replace').strip()[:200]}"
        return None

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        """The URL of a new, empty database on the server."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

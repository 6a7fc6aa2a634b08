"""A private PostgreSQL 15 cluster a test may stop and start (never the machine's own server
at 127.0.0.1:5432): ``initdb`` into a temporary directory, trust authentication, listening on
a free loopback port and a unix socket in that directory, database ``test``. As root, every
server command runs as the ``postgres`` OS user (``runuser``), which owns the directory.

``PrivateServer.close`` always stops it (``pg_ctl stop -m fast``, else SIGKILL of the
postmaster by its PID) and removes the directory. Without the binaries the test skips with
one line saying so. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(os.environ.get("VIGIL_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SKIP_REASON = "private PostgreSQL server tests skipped: "
COMMAND_TIMEOUT_S = 120.0  # a busy 2-core machine; pg_ctl -w itself waits at most 60 s


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateServer:
    """See the module docstring; ``url`` is libpq's URL of database ``test``."""

    def __init__(self) -> None:
        missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (BIN / name).exists()]
        if missing:
            pytest.skip(SKIP_REASON + f"no {', '.join(missing)} in {BIN} "
                        "(apt-get install postgresql-15)")
        self._as: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip(SKIP_REASON + "running as root and there is no postgres user")
            self._as = ["runuser", "-u", "postgres", "--"]
            self._owner = (user.pw_uid, user.pw_gid)
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.data = self.dir / "data"
        self.logfile = self.dir / "server.log"
        self.pid: int | None = None
        self.port = 0
        try:
            if self._owner is not None:
                os.chown(self.dir, *self._owner)
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--no-sync")
            for _ in range(5):  # another process may take the free port first
                self.port = _free_port()
                if self.start(check=False):
                    break
            else:
                raise AssertionError("the private server did not start:\n" + self.log_tail())
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute("CREATE DATABASE test")
        except BaseException:
            self.close()
            raise

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/test"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self._as, str(BIN / tool), *args], cwd=self.dir,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{tool} failed ({done.returncode}): {done.stdout}"
                                 f"{done.stderr}\n{self.log_tail()}")
        return done

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def start(self, *, check: bool = True) -> bool:
        """``pg_ctl start -w`` on ``port``: True once it accepts connections."""
        options = (f"-k {self.dir} -c listen_addresses=127.0.0.1 -p {self.port} "
                   "-c max_connections=60 -c shared_buffers=16MB")
        done = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                         "-l", str(self.logfile), "-o", options, check=check)
        if done.returncode != 0:
            return False
        with contextlib.suppress(OSError, ValueError, IndexError):
            self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return True

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: clients are disconnected, it is gone when this returns."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data))

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        """Stop the server whatever state it is in, then remove its directory."""
        if self.data.exists() and self.running():
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "stop", "-w", "-t", "30", "-m", "fast", "-D",
                          str(self.data), check=False)
            if self.pid is not None and self.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
                    time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def private_server() -> Iterator[PrivateServer]:
    server = PrivateServer()
    try:
        yield server
    finally:
        server.close()


__all__ = ["PrivateServer", "private_server"]

"""Throwaway local redis-server and PostgreSQL instances for tests and the benchmark.

Shared by ``tests/processor/conftest.py`` and ``bench/processor_bench.py`` so both
exercise the real engines the same way. Everything binds to 127.0.0.1 on a free
port, uses a password (so AUTH / SCRAM are exercised) and lives in a temp dir.
Not used by the Lambda at runtime.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import glob
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from processor.config import DbSettings, RedisSettings

_EXTRA_BIN_DIRS = ("/usr/local/bin", "/usr/sbin", "/usr/bin")
# Debian keeps PostgreSQL's server binaries off PATH, one directory per major version.
_POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
REDIS_INSTALL_HINT = "redis-server not found: install it (e.g. `apt-get install -y redis-server`)"
POSTGRES_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL 15 "
    "(e.g. `apt-get install -y postgresql-15`) or put its bin directory on PATH"
)


class ServerUnavailable(RuntimeError):
    """Raised when the binaries needed to start a server are missing."""


def find_binary(name: str) -> Optional[str]:
    """Locate a server binary on PATH or in the usual Debian locations."""
    found = shutil.which(name)
    if found:
        return found
    debian_postgres = sorted(glob.glob(_POSTGRES_BIN_GLOB), reverse=True)
    for directory in (*_EXTRA_BIN_DIRS, *debian_postgres):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, proc: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start within {timeout}s")


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _unprivileged_user() -> Optional[str]:
    """PostgreSQL refuses to run as root; pick a system account to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable("running as root and no 'postgres'/'nobody' user to run PostgreSQL as")


@dataclass
class RedisServer:
    """A redis-server child process with ``requirepass`` and no persistence."""

    password: str = "test-redis-auth-token"
    port: int = field(default_factory=free_port)
    _proc: Optional[subprocess.Popen] = field(default=None, init=False, repr=False)
    _binary: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        binary = find_binary("redis-server")
        if binary is None:
            raise ServerUnavailable(REDIS_INSTALL_HINT)
        self._binary = binary

    @property
    def settings(self) -> RedisSettings:
        return RedisSettings(host="127.0.0.1", port=self.port, auth_token=self.password, tls=False)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "RedisServer":
        if self.running:
            return self
        args = [
            self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--requirepass", self.password, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning",
        ]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_port(self.port, 10.0, self._proc)
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


@dataclass
class PostgresServer:
    """A PostgreSQL cluster created with initdb in a temp dir, password auth over TCP.

    ``durable=False`` turns off fsync for fast tests; the benchmark keeps the
    defaults so per-record commits cost what they would on a real server.
    """

    password: str = "test-pg-password"
    user: str = "monitor"
    dbname: str = "transactions"
    durable: bool = False
    port: int = field(default_factory=free_port)
    _datadir: Optional[Path] = field(default=None, init=False, repr=False)
    _bindir: Path = field(default=Path("."), init=False, repr=False)
    _run_as: Optional[str] = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise ServerUnavailable(POSTGRES_INSTALL_HINT)
        self._bindir = Path(pg_ctl).parent
        self._run_as = _unprivileged_user()

    @property
    def settings(self) -> DbSettings:
        return DbSettings(
            host="127.0.0.1", port=self.port, dbname=self.dbname,
            username=self.user, password=self.password, ssl=False,
        )

    def _run(self, *args: str) -> None:
        subprocess.run(
            list(args), check=True, user=self._run_as,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/",
        )

    def _init(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="processor-pg-"))
        datadir = base / "data"
        pwfile = base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(base, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self._bindir / "initdb"), "-D", str(datadir), "-U", self.user,
            "--pwfile", str(pwfile), "--auth", "scram-sha-256", "--no-sync",
            "--encoding", "UTF8", "--locale", "C",
        )
        pwfile.unlink()
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n")
            conf.write(f"unix_socket_directories = '{base}'\nmax_connections = 40\n")
            if not self.durable:
                # fsync off is safe against a server crash (the OS keeps the pages),
                # which is all the outage tests simulate.
                conf.write("fsync = off\nfull_page_writes = off\n")
        self._datadir = datadir

    @property
    def running(self) -> bool:
        return self._datadir is not None and port_open(self.port)

    def start(self) -> "PostgresServer":
        """Start (creating the cluster on first use); a no-op if already running."""
        if self.running:
            return self
        first = self._datadir is None
        if first:
            self._init()
        assert self._datadir is not None
        self._run(
            str(self._bindir / "pg_ctl"), "-D", str(self._datadir), "-w", "-t", "30",
            "-l", str(self._datadir.parent / "server.log"), "start",
        )
        _wait_for_port(self.port, 10.0)
        if first:
            self._create_database()
        return self

    def _create_database(self) -> None:
        import pg8000.native

        conn = pg8000.native.Connection(
            user=self.user, password=self.password, host="127.0.0.1", port=self.port,
            database="postgres",
        )
        try:
            conn.run(f'CREATE DATABASE "{self.dbname}"')  # identifier is our own constant
        finally:
            conn.close()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode='immediate'`` simulates a crash / network loss."""
        if self._datadir is None:
            return
        subprocess.run(
            [str(self._bindir / "pg_ctl"), "-D", str(self._datadir), "-m", mode, "-w", "stop"],
            user=self._run_as, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/",
        )

    def destroy(self) -> None:
        """Stop the server and remove its data directory."""
        self.stop("immediate")
        if self._datadir is not None:
            shutil.rmtree(self._datadir.parent, ignore_errors=True)
            self._datadir = None

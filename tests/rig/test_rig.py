"""The test rig is production-like: these tests pin what RDS / ElastiCache would refuse.

If one of these fails, the processor tests that use the rig no longer prove anything about TLS, SCRAM,
roles or ACLs. Servers start once for this module's session; a missing engine makes the tests fail
(``ServerUnavailable`` with an install hint), never skip.
"""

from __future__ import annotations

import socket
import ssl
import time
import warnings
from collections.abc import Iterator

import pg8000.native
import pytest
import redis

from tests.support import servers
from tests.support.fake_tls import RecordingTLSServer
from tests.support.servers import PostgresServer, RedisServer, TestCA, acl_user_line, client_tls_context

pytestmark = pytest.mark.integration

APP_USER = "txn-processor"
APP_PASSWORD = "rig-app-password-1"
# Shaped like an ElastiCache access string (leading "on"); the rig strips it for the aclfile line.
APP_ACL_RULES = "on ~txn:* -@all +ping +get +set +eval"


@pytest.fixture(scope="session")
def other_ca() -> Iterator[TestCA]:
    """A second CA nobody trusts."""
    ca = TestCA()
    yield ca
    ca.cleanup()


@pytest.fixture(scope="session")
def rig_pg(rig_ca: TestCA) -> Iterator[PostgresServer]:
    server = PostgresServer(rig_ca)  # ServerUnavailable propagates: the test errors, it does not skip
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def rig_redis(rig_ca: TestCA) -> Iterator[RedisServer]:
    server = RedisServer(rig_ca, acl_rules=APP_ACL_RULES, user=APP_USER, password=APP_PASSWORD)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def redis_admin(rig_redis: RedisServer) -> Iterator[redis.Redis]:
    rig_redis.start()
    client = rig_redis.client()
    client.flushall()
    yield client
    client.close()


def _sqlstate(exc: BaseException) -> str:
    return exc.args[0]["C"]


def _wait_for_log(server: PostgresServer, text: str, timeout: float = 5.0) -> bool:
    """The backend logs after it has sent the alert, so the line can lag the client's error a little."""
    deadline = time.monotonic() + timeout
    while text not in server.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _legacy_tls_context(ca_file: str, maximum: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that is willing to speak TLS 1.0/1.1 (OpenSSL's security level 0 allows them)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca_file)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = maximum
    return context


def _tls_1_1_context(ca_file: str) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _legacy_tls_context(ca_file, ssl.TLSVersion.TLSv1_1)


# --------------------------------------------------------------------------------------------------
# PostgreSQL: RDS with rds.force_ssl=1
# --------------------------------------------------------------------------------------------------


def test_postgres_refuses_a_connection_without_tls(rig_pg: PostgresServer) -> None:
    # pg8000: ssl_context=False is plain text; None would be opportunistic, unverified TLS.
    with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
        pg8000.native.Connection(
            user=rig_pg.master_user,
            password=rig_pg.master_password,
            host=rig_pg.host,
            port=rig_pg.port,
            database=rig_pg.dbname,
            ssl_context=False,
            timeout=10,
        )
    assert _sqlstate(caught.value) == "28000"
    assert "no encryption" in caught.value.args[0]["M"]


def test_postgres_refuses_tls_1_1(rig_pg: PostgresServer) -> None:
    params = dict(
        user=rig_pg.master_user,
        password=rig_pg.master_password,
        host=rig_pg.host,
        port=rig_pg.port,
        database=rig_pg.dbname,
        timeout=10,
    )
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        pg8000.native.Connection(**params, ssl_context=_tls_1_1_context(rig_pg.ca_file))
    assert _wait_for_log(rig_pg, "could not accept SSL connection: unsupported protocol")

    # Control: the same permissive client capped at TLS 1.2 gets in, so only the version was refused.
    conn = pg8000.native.Connection(**params, ssl_context=_legacy_tls_context(rig_pg.ca_file, ssl.TLSVersion.TLSv1_2))
    try:
        assert conn.run("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [["TLSv1.2"]]
    finally:
        conn.close()


def test_postgres_session_is_verified_tls_and_logged(rig_pg: PostgresServer) -> None:
    conn = rig_pg.connect(rig_pg.master_user, rig_pg.master_password)
    try:
        [[use_ssl, version]] = conn.run("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        conn.close()
    assert use_ssl is True
    assert version in ("TLSv1.2", "TLSv1.3")
    assert _wait_for_log(
        rig_pg, f"connection authorized: user={rig_pg.master_user} database={rig_pg.dbname} SSL enabled"
    )


def test_postgres_client_refuses_a_server_it_does_not_trust(
    rig_pg: PostgresServer,
    other_ca: TestCA,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        pg8000.native.Connection(
            user=rig_pg.master_user,
            password=rig_pg.master_password,
            host=rig_pg.host,
            port=rig_pg.port,
            database=rig_pg.dbname,
            ssl_context=client_tls_context(other_ca.ca_file),
            timeout=10,
        )


def test_postgres_settings_and_hba_match_rds(rig_pg: PostgresServer) -> None:
    conn = rig_pg.admin()
    try:
        rules = conn.run("SELECT type, auth_method, address FROM pg_hba_file_rules")
        settings = dict(
            conn.run(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(:names)",
                names=["ssl", "ssl_min_protocol_version", "password_encryption", "listen_addresses", "log_connections"],
            )
        )
    finally:
        conn.close()
    assert rules == [["hostssl", "scram-sha-256", "127.0.0.1"]]
    assert settings == {
        "ssl": "on",
        "ssl_min_protocol_version": "TLSv1.2",
        "password_encryption": "scram-sha-256",
        "listen_addresses": "127.0.0.1",
        "log_connections": "on",
    }


def test_postgres_is_productions_major(rig_pg: PostgresServer) -> None:
    """RDS runs PostgreSQL 16 (`engine_version = "16"`), whose CREATEROLE rules differ from 15's."""
    conn = rig_pg.admin()
    try:
        [[version]] = conn.run("SELECT current_setting('server_version_num')::int")
    finally:
        conn.close()
    assert version // 10000 == servers.POSTGRES_MAJOR == 16


def test_postgres_master_user_is_like_the_rds_master(rig_pg: PostgresServer) -> None:
    conn = rig_pg.admin()
    try:
        [[superuser, createrole, createdb, login]] = conn.run(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = :r",
            r=rig_pg.master_user,
        )
        # USAGE: has the role's privileges; SET: may become it. The master must be neither in rds_iam
        # (on RDS that would make it log in with IAM tokens only), only able to grant it.
        [[in_rds_superuser, uses_rds_iam, sets_rds_iam]] = conn.run(
            "SELECT pg_has_role(:r, 'rds_superuser', 'USAGE'), pg_has_role(:r, 'rds_iam', 'USAGE'),"
            " pg_has_role(:r, 'rds_iam', 'SET')",
            r=rig_pg.master_user,
        )
        memberships = conn.run(
            "SELECT r.rolname, a.admin_option, a.inherit_option, a.set_option FROM pg_auth_members a"
            " JOIN pg_roles r ON r.oid = a.roleid WHERE a.member = to_regrole(:r)",
            r=rig_pg.master_user,
        )
        [[owner]] = conn.run("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :d", d=rig_pg.dbname)
        [[password_hash]] = conn.run("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=rig_pg.master_user)
    finally:
        conn.close()
    assert (superuser, createrole, createdb, login) == (False, True, True, True)
    assert (in_rds_superuser, uses_rds_iam, sets_rds_iam) == (True, False, False)
    assert memberships == [["rds_superuser", False, True, True]]  # RDS: WITH INHERIT TRUE, no ADMIN
    assert owner == rig_pg.master_user
    assert password_hash.startswith("SCRAM-SHA-256$")


def test_postgres_rds_superuser_holds_what_rds_16_gives_it(rig_pg: PostgresServer) -> None:
    conn = rig_pg.admin()
    try:
        held = conn.run(
            "SELECT r.rolname, a.admin_option, a.inherit_option, a.set_option FROM pg_auth_members a"
            " JOIN pg_roles r ON r.oid = a.roleid WHERE a.member = 'rds_superuser'::regrole ORDER BY 1"
        )
    finally:
        conn.close()
    assert held == sorted(
        [[role, True, True, True] for role in servers.RDS_SUPERUSER_ADMIN_OF] + [["rds_iam", True, False, False]]
    )


def test_postgres_has_the_rds_predefined_roles(rig_pg: PostgresServer) -> None:
    conn = rig_pg.admin()
    try:
        roles = dict(conn.run("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'rds\\_%'"))
    finally:
        conn.close()
    assert roles == {"rds_iam": False, "rds_superuser": False, "rds_password": False, "rds_replication": False}


def test_postgres_wrong_password_fails_with_28p01(rig_pg: PostgresServer) -> None:
    with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
        rig_pg.connect(rig_pg.master_user, "not-the-password")
    assert _sqlstate(caught.value) == "28P01"


def test_postgres_master_can_create_a_login_role_and_grant_rds_iam(rig_pg: PostgresServer) -> None:
    """What the migration does as master; the rig then sets a password so the role can log in."""
    master = rig_pg.connect(rig_pg.master_user, rig_pg.master_password)
    try:
        master.run("CREATE ROLE rig_probe LOGIN")
        master.run("GRANT rds_iam TO rig_probe")
        rig_pg.set_password("rig_probe", "probe-pass-1")
        probe = rig_pg.connect("rig_probe", "probe-pass-1")
        try:
            assert probe.run("SELECT current_user, pg_has_role('rds_iam', 'MEMBER')") == [["rig_probe", True]]
        finally:
            probe.close()
    finally:
        master.run("DROP ROLE IF EXISTS rig_probe")
        master.close()


def test_postgres_16_master_grants_only_roles_it_administers(rig_pg: PostgresServer) -> None:
    """PostgreSQL 16's CREATEROLE: the master may not hand out a predefined role it holds no ADMIN OPTION on
    (on 15 it could), nor make a role a member of one it did not create."""
    master = rig_pg.connect(rig_pg.master_user, rig_pg.master_password)
    try:
        master.run("CREATE ROLE rig_probe NOLOGIN")
        for role in ("pg_read_server_files", "pg_execute_server_program"):
            with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
                master.run(f"GRANT {role} TO rig_probe")
            assert _sqlstate(caught.value) == "42501"
            assert (
                caught.value.args[0]["D"] == f'Only roles with the ADMIN option on role "{role}" may grant this role.'
            )
        master.run("GRANT pg_monitor TO rig_probe")  # rds_superuser holds ADMIN OPTION on it
    finally:
        master.run("DROP ROLE IF EXISTS rig_probe")
        master.close()


def test_postgres_survives_a_crash_and_restart(rig_pg: PostgresServer) -> None:
    conn = rig_pg.connect(rig_pg.master_user, rig_pg.master_password)
    conn.run("CREATE TABLE IF NOT EXISTS rig_probe (n int)")
    conn.run("INSERT INTO rig_probe VALUES (1)")
    conn.close()
    rig_pg.stop("immediate")
    assert not rig_pg.running
    rig_pg.start()
    conn = rig_pg.connect(rig_pg.master_user, rig_pg.master_password)
    try:
        assert conn.run("SELECT count(*) FROM rig_probe") == [[1]]
    finally:
        conn.run("DROP TABLE rig_probe")
        conn.close()


# --------------------------------------------------------------------------------------------------
# Redis: ElastiCache with in-transit encryption and RBAC
# --------------------------------------------------------------------------------------------------


def test_redis_has_no_plain_port(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    # redis-py 5.2.1 decodes CONFIG GET and ACL GETUSER replies even without decode_responses.
    assert redis_admin.config_get("port") == {"port": "0"}
    assert redis_admin.config_get("tls-port") == {"tls-port": str(rig_redis.port)}
    plain = redis.Redis(
        host=rig_redis.host,
        port=rig_redis.port,
        username=APP_USER,
        password=APP_PASSWORD,
        socket_timeout=3,
        socket_connect_timeout=3,
    )
    with pytest.raises(redis.exceptions.ConnectionError):
        plain.ping()
    plain.close()


def test_redis_default_user_cannot_authenticate(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    anonymous = rig_redis.client(user="default")  # no password: no AUTH is sent
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    as_default = rig_redis.client(user="default", password="anything")
    with pytest.raises(redis.exceptions.AuthenticationError):
        as_default.ping()
    as_default.close()
    unauthenticated = redis.Redis(
        host=rig_redis.host,
        port=rig_redis.port,
        ssl=True,
        ssl_ca_certs=rig_redis.ca_file,
        ssl_check_hostname=True,
        ssl_cert_reqs="required",
    )  # sends no AUTH at all
    with pytest.raises(redis.exceptions.AuthenticationError, match="Authentication required"):
        unauthenticated.ping()
    unauthenticated.close()
    flags = redis_admin.acl_getuser("default")["flags"]
    assert "off" in flags and "nopass" in flags  # like ElastiCache's default user here: off, no password to keep


def test_redis_app_user_wrong_password_fails(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    client = rig_redis.client(user=APP_USER, password="not-the-password")
    with pytest.raises(redis.exceptions.AuthenticationError):
        client.ping()
    client.close()


def test_redis_app_user_is_limited_to_its_rules(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    app = rig_redis.client(user=APP_USER)
    try:
        assert app.ping() is True
        assert app.set("txn:1", "v") is True
        assert app.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "txn:2", "w") == b"OK"
        for denied in (
            app.flushall,
            lambda: app.keys("*"),
            lambda: app.set("other:1", "v"),
            lambda: app.expire("txn:1", 10),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                denied()
        # Commands inside a script are checked against the same rules (EXPIRE is not granted).
        with pytest.raises(redis.exceptions.ResponseError, match="can't run this command"):
            app.eval("return redis.call('EXPIRE', KEYS[1], 10)", 1, "txn:1")
    finally:
        app.close()
    assert redis_admin.get("txn:2") == b"w"
    assert redis_admin.ttl("txn:1") == -1


def test_redis_client_refuses_a_server_it_does_not_trust(rig_redis: RedisServer, other_ca: TestCA) -> None:
    client = rig_redis.client(user=APP_USER, ca_file=other_ca.ca_file)
    with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client.ping()
    client.close()


def test_redis_refuses_tls_1_1(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    def handshake(context: ssl.SSLContext) -> str:
        with socket.create_connection((rig_redis.host, rig_redis.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=rig_redis.host) as tls:
                return str(tls.version())

    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        handshake(_tls_1_1_context(rig_redis.ca_file))
    assert handshake(_legacy_tls_context(rig_redis.ca_file, ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"


def test_redis_kill_loses_everything(rig_redis: RedisServer, redis_admin: redis.Redis) -> None:
    redis_admin.set("txn:lost", "1")
    rig_redis.kill()
    assert not rig_redis.running
    rig_redis.start()
    fresh = rig_redis.client()
    try:
        assert fresh.dbsize() == 0
    finally:
        fresh.close()


@pytest.mark.parametrize("rules", ["on ~txn:* -@all +ping", "~txn:* -@all +ping"])
def test_acl_line_accepts_access_strings_with_or_without_on(rules: str) -> None:
    assert acl_user_line("app", "pw", rules) == "user app on >pw ~txn:* -@all +ping"


def test_acl_line_rejects_whitespace_in_the_password() -> None:
    with pytest.raises(ValueError, match="password must be non-empty without whitespace"):
        acl_user_line("app", "two words", "~* +@all")


# --------------------------------------------------------------------------------------------------
# Missing engines fail loudly
# --------------------------------------------------------------------------------------------------


def test_missing_binaries_raise_with_an_install_hint(
    rig_ca: TestCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(servers, "find_binary", lambda name: None)
    monkeypatch.setattr(servers, "POSTGRES_BIN_DIR", rig_ca.directory / "no-such-dir")
    with pytest.raises(servers.ServerUnavailable, match=r"PostgreSQL 16 .* run `make setup`"):
        PostgresServer(rig_ca)
    with pytest.raises(servers.ServerUnavailable, match="apt-get install -y redis-server"):
        RedisServer(rig_ca, acl_rules="~* +@all", user="u", password="p")


def test_postgres_of_another_major_is_refused(rig_ca: TestCA, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A PostgreSQL 15 where the project's 16 should be is an error, not a quietly weaker rig."""
    for name in ("initdb", "pg_ctl", "postgres"):
        fake = tmp_path / name
        fake.write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 15.18'\n", encoding="utf-8")
        fake.chmod(0o755)
    monkeypatch.setattr(servers, "POSTGRES_BIN_DIR", tmp_path)
    with pytest.raises(servers.ServerUnavailable, match=r"runs PostgreSQL 16 .* holds postgres \(PostgreSQL\) 15\.18"):
        PostgresServer(rig_ca)


# --------------------------------------------------------------------------------------------------
# The recording fake: a client that refuses the certificate sends nothing
# --------------------------------------------------------------------------------------------------


def _pg_client(port: int, ca_file: str) -> None:
    pg8000.native.Connection(
        user="txn_writer",
        password="secret-password",
        host="127.0.0.1",
        port=port,
        database="transactions",
        ssl_context=client_tls_context(ca_file),
        timeout=3,
    )


def _redis_client(port: int, ca_file: str) -> None:
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        username=APP_USER,
        password="secret-password",
        ssl=True,
        ssl_ca_certs=ca_file,
        ssl_check_hostname=True,
        ssl_min_version=ssl.TLSVersion.TLSv1_2,
        socket_timeout=3,
    )
    try:
        client.ping()
    finally:
        client.close()


_CLIENTS = {"postgres": _pg_client, "redis": _redis_client}


@pytest.mark.parametrize("protocol", ["postgres", "redis"])
@pytest.mark.parametrize("problem", ["wrong host name", "untrusted CA"])
def test_client_refusing_the_certificate_sends_nothing(
    protocol: str,
    problem: str,
    rig_ca: TestCA,
    other_ca: TestCA,
) -> None:
    cert, key = (
        rig_ca.issue("db.example.invalid")
        if problem == "wrong host name"
        else (other_ca.server_cert_file, other_ca.server_key_file)
    )
    with RecordingTLSServer(cert, key, protocol) as fake:
        with pytest.raises(
            (ssl.SSLCertVerificationError, redis.exceptions.ConnectionError), match="CERTIFICATE_VERIFY_FAILED"
        ):
            _CLIENTS[protocol](fake.port, rig_ca.ca_file)
    assert fake.connections == 1
    assert fake.handshake_completed is False
    assert fake.received == b""


@pytest.mark.parametrize("protocol", ["postgres", "redis"])
def test_recording_server_sees_what_a_trusting_client_sends(protocol: str, rig_ca: TestCA) -> None:
    """Control for the test above: with a valid certificate the fake does record the client's bytes."""
    with RecordingTLSServer(rig_ca.server_cert_file, rig_ca.server_key_file, protocol) as fake:
        with pytest.raises((pg8000.exceptions.InterfaceError, redis.exceptions.ConnectionError)):
            _CLIENTS[protocol](fake.port, rig_ca.ca_file)
    assert fake.handshake_completed is True
    expected = b"user\x00txn_writer" if protocol == "postgres" else b"secret-password"
    assert expected in fake.received

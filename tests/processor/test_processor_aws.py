"""The Lambda entry point as AWS runs it: secrets from the emulator's Secrets Manager in the
constructs' shapes, verified TLS to both stores, the application role and the Redis ACL user."""

from __future__ import annotations

import json
import ssl
from urllib.parse import parse_qs, urlparse

import boto3
import pg8000.exceptions
import pytest
import redis
import scramp
from conftest import REDIS_PASSWORD, REDIS_USER
from lambda_env import create_secrets, lambda_env
from txn_events import failed_ids, kinesis_event, txn_doc

from processor import handler as handler_module
from processor import pg_store, redis_store
from processor.config import DbSettings, RedisSettings
from processor.contract import APP_DB_USER, AUTH_IAM, AUTH_PASSWORD
from tests.support.fake_tls import RecordingTLSServer
from tests.support.servers import TestCA


@pytest.mark.integration
def test_lambda_entry_point_reads_its_secrets_once_and_never_the_master_secret(
    aws_env, settings, pg_server, redis_server, pg_conn, monkeypatch, capsys, entry_point
):
    env = create_secrets(pg_server, redis_server)
    lambda_env(
        monkeypatch,
        env,
        RULE_MAX_TXNS_PER_HOUR="3",
        RULE_MAX_DAILY_TOTAL="1000000",
        RULE_MAX_SINGLE_AMOUNT="500000",
        ENVIRONMENT="staging",
    )
    read: list = []
    client = boto3.client("secretsmanager")
    real_get = client.get_secret_value

    def get_secret_value(SecretId):
        read.append(SecretId)
        return real_get(SecretId=SecretId)

    client.get_secret_value = get_secret_value
    monkeypatch.setattr(handler_module.aws_secrets, "_secrets_client", lambda: client)
    docs = [txn_doc(n, customer_id="hot") for n in range(4)] + [txn_doc(n) for n in range(4, 100)]
    assert failed_ids(entry_point(kinesis_event(docs), None)) == []
    processor = handler_module._container_processor
    assert (processor.settings.db.username, processor.settings.environment) == (APP_DB_USER, "staging")
    assert failed_ids(entry_point(kinesis_event(docs), None)) == []
    assert handler_module._container_processor is processor  # cached for the container
    assert sorted(read) == sorted(
        [env["DB_CONNECTION_SECRET_ARN"], env["DB_PASSWORD_SECRET_ARN"], env["REDIS_PASSWORD_SECRET_ARN"]]
    )
    assert env["_MASTER_SECRET_ARN"] not in read
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 100
    # The server sees the application role's session, over TLS.
    admin = pg_server.admin()  # the rig's superuser sees every session's TLS state
    try:
        assert (
            admin.run(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
                " WHERE a.usename = 'txn_writer' AND s.ssl AND s.version IN ('TLSv1.2', 'TLSv1.3')"
            )[0][0]
            >= 1
        )
    finally:
        admin.close()


@pytest.mark.integration
def test_a_rejected_redis_login_fails_the_batch_and_the_next_invocation_starts_afresh(
    aws_env, settings, pg_server, redis_server, pg_conn, monkeypatch, entry_point
):
    env = create_secrets(pg_server, redis_server)
    sm = boto3.client("secretsmanager")
    stale = {"username": REDIS_USER, "password": "stale-password-0123456789"}
    sm.put_secret_value(SecretId=env["REDIS_PASSWORD_SECRET_ARN"], SecretString=json.dumps(stale))
    lambda_env(
        monkeypatch,
        env,
        RULE_MAX_TXNS_PER_HOUR="10",
        RULE_MAX_DAILY_TOTAL="1000000",
        RULE_MAX_SINGLE_AMOUNT="500000",
        ENVIRONMENT="dev",
    )
    event = kinesis_event([txn_doc(n) for n in range(50)])

    assert len(failed_ids(entry_point(event, None))) == 50  # retried, not lost
    assert handler_module._container_processor is None  # settings and secrets will be read again
    sm.put_secret_value(
        SecretId=env["REDIS_PASSWORD_SECRET_ARN"], SecretString=json.dumps({**stale, "password": REDIS_PASSWORD})
    )
    assert failed_ids(entry_point(event, None)) == []
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 50


@pytest.mark.integration
def test_migration_function_reads_the_master_secret_and_is_idempotent(
    aws_env, pg_server, redis_server, pg_conn, monkeypatch
):
    from processor.contract import RetentionPolicy
    from processor.migrate import handle, migrations_checksum

    env = create_secrets(pg_server, redis_server)
    monkeypatch.setenv("DB_CONNECTION_SECRET_ARN", env["DB_CONNECTION_SECRET_ARN"])
    monkeypatch.setenv("DB_CA_BUNDLE", pg_server.ca_file)
    assert handle({"checksum": migrations_checksum()}) == {"applied": [], "checksum": migrations_checksum()}
    with pytest.raises(Exception, match="invoked for migrations 0000, but this bundle carries"):
        handle({"checksum": "0000"})
    # What Terraform sends on deploy: the checksum and the configured retention, which it sets as the policy.
    policy = RetentionPolicy(transaction_retention_months=36, alert_retention_days=400)
    done = handle({"checksum": migrations_checksum(), "retention": policy.as_dict()})
    assert done == {"applied": [], "checksum": migrations_checksum(), "retention": policy.as_dict()}
    assert pg_conn.run("SELECT transaction_retention_months, alert_retention_days FROM maintenance_policy") == [
        [36, 400]
    ]
    # The daily upkeep is no longer the master's: it runs in its own function as txn_maintainer.
    with pytest.raises(Exception, match="event key 'action' must be 'migrate', got 'maintain'"):
        handle({"action": "maintain"})
    with pytest.raises(Exception, match=r"unknown event key\(s\) \['today'\]"):
        handle({"today": "2099-01-01"})
    with pytest.raises(Exception, match="retention.partition_drop_grace_days must be a whole number from 1 to 3650"):
        handle({"retention": {**policy.as_dict(), "partition_drop_grace_days": 0}})


def test_iam_auth_signs_a_token_for_the_app_role_with_the_function_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "session",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # credentials as a fresh Lambda container sees them
    settings = DbSettings(
        "db.example.internal", 5432, "transactions", APP_DB_USER, auth=AUTH_IAM, region="ap-northeast-1"
    )
    token = pg_store.iam_auth_token(settings)
    url = urlparse("https://" + token)
    query = parse_qs(url.query)
    assert url.hostname == "db.example.internal" and url.port == 5432
    assert query["Action"] == ["connect"] and query["DBUser"] == [APP_DB_USER]
    assert (
        query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
        and "/ap-northeast-1/rds-db/" in query["X-Amz-Credential"][0]
    )
    assert query["X-Amz-Expires"] == ["900"] and query["X-Amz-Security-Token"] == ["session"]


@pytest.mark.integration
def test_iam_token_goes_to_the_server_as_the_password_over_tls(pg_server, monkeypatch):
    """On the rig the role has a password, so the token is refused: by the server, after TLS."""
    monkeypatch.setattr(pg_store, "iam_auth_token", lambda settings: "rds-iam-token-for-" + settings.username)
    settings = DbSettings(
        pg_server.host,
        pg_server.port,
        pg_server.dbname,
        APP_DB_USER,
        auth=AUTH_IAM,
        region="ap-northeast-1",
        ca_file=pg_server.ca_file,
    )
    with pytest.raises(pg8000.exceptions.DatabaseError) as err:
        pg_store.connect(settings)
    assert err.value.args[0]["C"] == "28P01"
    assert 'password authentication failed for user "txn_writer"' in pg_server.log_text()


@pytest.mark.integration
def test_scram_uses_channel_binding_over_tls(pg_server, monkeypatch):
    """SCRAM-SHA-256-PLUS binds the login to this TLS session (pg8000 1.31.2 could not log in at all)."""
    mechanisms: list = []
    original = scramp.ScramClient.__init__

    def spy(self, mechanisms_offered, *args, **kwargs):
        original(self, mechanisms_offered, *args, **kwargs)
        mechanisms.append(self.mechanism_name)

    monkeypatch.setattr(scramp.ScramClient, "__init__", spy)
    from conftest import app_settings

    conn = pg_store.connect(app_settings(pg_server))
    try:
        assert conn.run("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [
            [APP_DB_USER, True]
        ]
    finally:
        conn.close()
    assert mechanisms == ["SCRAM-SHA-256-PLUS"]


@pytest.mark.integration
@pytest.mark.parametrize("case", ["untrusted CA", "another host name"])
def test_postgres_server_with_a_bad_certificate_never_receives_the_password(rig_ca, case):
    other = TestCA()
    try:
        cert, key = other.issue("127.0.0.1") if case == "untrusted CA" else rig_ca.issue("db.elsewhere.example")
        with RecordingTLSServer(cert, key, "postgres") as server:
            settings = DbSettings(
                "127.0.0.1", server.port, "transactions", APP_DB_USER, password="must-not-leak", ca_file=rig_ca.ca_file
            )
            with pytest.raises(ssl.SSLCertVerificationError):
                pg_store.connect(settings)
    finally:
        other.cleanup()
    assert not server.handshake_completed and server.received == b""


@pytest.mark.integration
@pytest.mark.parametrize("auth", [AUTH_PASSWORD, AUTH_IAM])
@pytest.mark.parametrize("case", ["untrusted CA", "another host name"])
def test_redis_server_with_a_bad_certificate_never_receives_the_password_or_token(
    rig_ca, trust_rig_ca, case, auth, monkeypatch
):
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)
    other = TestCA()
    try:
        cert, key = other.issue("127.0.0.1") if case == "untrusted CA" else rig_ca.issue("cache.elsewhere.example")
        with RecordingTLSServer(cert, key, "redis") as server:
            client = redis_store.connect(
                RedisSettings(
                    "127.0.0.1",
                    server.port,
                    REDIS_USER,
                    password="must-not-leak" if auth == AUTH_PASSWORD else None,
                    auth=auth,
                    cache_name="japancart-dev-history",
                    region="ap-northeast-1",
                )
            )
            with pytest.raises(redis.exceptions.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
                client.ping()
    finally:
        other.cleanup()
    assert not server.handshake_completed and server.received == b""


@pytest.mark.integration
def test_redis_user_may_do_only_what_the_processor_needs(redis_server, trust_rig_ca):
    client = redis_store.connect(
        RedisSettings(redis_server.host, redis_server.port, REDIS_USER, password=REDIS_PASSWORD)
    )
    try:
        assert client.ping()
        for command in (("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "maxmemory"), ("SET", "other:key", "1")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.execute_command(*command)
    finally:
        client.close()


def test_put_all_batches_at_most_500_and_retries_throttled_records():
    class FakeKinesis:
        """Stands in for the Kinesis API only (not a data store) to exercise retry logic."""

        def __init__(self):
            self.calls = []

        def put_records(self, StreamName, Records):
            self.calls.append(len(Records))
            if len(self.calls) == 1:
                return {"FailedRecordCount": 1, "Records": [{"ErrorCode": "Throttled"}] + [{}] * (len(Records) - 1)}
            return {"FailedRecordCount": 0, "Records": [{}] * len(Records)}

    from operator_tools.produce import put_all

    fake = FakeKinesis()
    records = [{"Data": b"x", "PartitionKey": "k"}] * 1200
    assert put_all(fake, "s", records, rate=1e9, sleep=lambda s: None) == 0
    assert fake.calls == [500, 1, 500, 200]

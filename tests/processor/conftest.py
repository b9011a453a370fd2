"""Fixtures for the transaction processor: the production-parity rig (tests/support/servers.py).

PostgreSQL and Redis run TLS-only with a throwaway CA, SCRAM-SHA-256 and ACL users, as RDS and
ElastiCache do. The schema is applied by the migration code as the (non-superuser) master user;
the processor then connects as the application role ``txn_writer`` (given a password here,
IAM tokens on RDS) and as the Redis user with exactly the construct's access string. A missing
engine fails the tests with an install hint; nothing here skips or mocks a store.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from txn_events import STREAM_ARN  # noqa: E402

from processor.config import DbSettings, RedisSettings, RuleThresholds, Settings  # noqa: E402
from processor.contract import APP_DB_USER, AUTH_PASSWORD, REDIS_ACL_RULES  # noqa: E402
from tests.support.pipeline import APP_DB_PASSWORD, REDIS_PASSWORD, REDIS_USER, migrate  # noqa: E402
from tests.support.servers import PostgresServer, RedisServer, TestCA  # noqa: E402

TABLES = "transactions, transaction_ids, rejected_transactions, transaction_conflicts, customer_windows, rule_alerts"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs local redis-server and PostgreSQL binaries (started by fixtures)"
    )


def app_settings(server: PostgresServer) -> DbSettings:
    return DbSettings(
        server.host,
        server.port,
        server.dbname,
        APP_DB_USER,
        auth=AUTH_PASSWORD,
        password=APP_DB_PASSWORD,
        ca_file=server.ca_file,
    )


@pytest.fixture(scope="session")
def pg_server(rig_ca: TestCA) -> Iterator[PostgresServer]:
    """RDS-like PostgreSQL, migrated by the migration code as the master user."""
    server = PostgresServer(rig_ca)
    server.start()
    migrate(server)
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis_server(rig_ca: TestCA) -> Iterator[RedisServer]:
    server = RedisServer(rig_ca, acl_rules=REDIS_ACL_RULES, user=REDIS_USER, password=REDIS_PASSWORD)
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def trust_rig_ca(rig_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> str:
    """The processor checks Redis against the default trust store, as in Lambda; here that is the rig CA."""
    monkeypatch.setenv("SSL_CERT_FILE", rig_ca.ca_file)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return rig_ca.ca_file


@pytest.fixture
def redis_client(redis_server: RedisServer):
    """The rig's observer (all rights) on a running, empty server."""
    redis_server.start()
    client = redis_server.client(decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def pg_conn(pg_server: PostgresServer):
    """The master user's connection to an empty database (restarted if a previous test stopped it)."""
    pg_server.start()
    conn = pg_server.connect(pg_server.master_user, pg_server.master_password)
    conn.run(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    yield conn
    try:
        conn.close()
    except Exception:  # a test stopped the server under it
        pass


@pytest.fixture
def clean_stores(pg_conn, redis_client) -> Callable[[], None]:
    """Empty both stores again (property tests run many examples in one test)."""

    def clean() -> None:
        pg_conn.run(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        redis_client.flushall()

    return clean


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at a freshly reset moto with dummy credentials and an empty secret cache."""
    import urllib.request

    from processor import aws_secrets

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "AWS_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws_secrets.clear_cache()
    yield moto_endpoint
    aws_secrets.clear_cache()


@pytest.fixture
def settings(redis_client, pg_conn, redis_server: RedisServer, pg_server: PostgresServer, trust_rig_ca):
    """The processor's settings for the rig (stores already emptied), with small rule thresholds."""
    return Settings(
        db=app_settings(pg_server),
        redis=RedisSettings(redis_server.host, redis_server.port, REDIS_USER, password=REDIS_PASSWORD),
        thresholds=RuleThresholds(
            max_txns_per_hour=5, max_daily_total=Decimal(100000), max_single_amount=Decimal(50000)
        ),
        history_ttl_seconds=86400,
        metric_namespace="JapanCart/TransactionMonitoring",
        environment="dev",
        stream_arn=STREAM_ARN,
    )


@pytest.fixture
def run_batch(settings, pg_conn):
    """A handler bound to ``settings``; EMF lines it prints are collected in ``.metrics``."""
    from processor.handler import make_handler

    lines: list = []
    handler = make_handler(settings, emit=lines.append)
    handler.metrics = lines  # type: ignore[attr-defined]
    handler.admin = pg_conn  # type: ignore[attr-defined]
    yield handler
    handler.processor.close()  # type: ignore[attr-defined]


@pytest.fixture
def entry_point(monkeypatch):
    """A fresh container for processor.handler.handle; closed afterwards."""
    from processor import handler as handler_module

    monkeypatch.setattr(handler_module, "_container_processor", None)
    yield handler_module.handle
    if handler_module._container_processor is not None:
        handler_module._container_processor.close()

"""Fixtures for the transaction processor: real redis-server and PostgreSQL.

Servers start once per session (per xdist worker) on free loopback ports and are
stopped at the end. If the binaries are missing the integration tests skip with
a message saying what to install; nothing here mocks Redis or PostgreSQL.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:  # the lead owns the root pytest config
    sys.path.insert(0, str(_REPO_ROOT))

from processor.testing_servers import PostgresServer, RedisServer, ServerUnavailable  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs local redis-server and PostgreSQL binaries (started by fixtures)")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def redis_client(redis_server: RedisServer):
    """A client on a running, empty server (restarted if a previous test stopped it)."""
    from processor import redis_store

    redis_server.start()
    client = redis_store.connect(redis_server.settings)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def pg_conn(pg_server: PostgresServer):
    """A migrated, empty database (restarted if a previous test stopped it)."""
    from processor import pg_store
    from processor.migrate import apply_migrations

    pg_server.start()
    conn = pg_store.connect(pg_server.settings)
    apply_migrations(conn)
    conn.run("TRUNCATE transactions, rejected_transactions, transaction_alerts RESTART IDENTITY")
    yield conn
    conn.close()



@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's in-process server on a free loopback port (Secrets Manager, Kinesis)."""
    from moto.server import ThreadedMotoServer

    from processor.testing_servers import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at a freshly reset moto with dummy credentials and an empty secret cache."""
    import urllib.request

    from processor import aws_secrets

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()

    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "ap-northeast-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    aws_secrets.clear_cache()
    yield moto_endpoint
    aws_secrets.clear_cache()


@pytest.fixture
def settings(redis_client, pg_conn, redis_server: RedisServer, pg_server: PostgresServer):
    """Settings for the local servers (already emptied) with small rule thresholds."""
    from decimal import Decimal

    from processor.config import RuleThresholds, Settings

    return Settings(
        db=pg_server.settings, redis=redis_server.settings,
        thresholds=RuleThresholds(max_txns_per_hour=5, max_daily_total=Decimal(100000),
                                  max_single_amount=Decimal(50000)),
        history_ttl_seconds=86400, metric_namespace="JapanCart/TransactionMonitoring",
        environment="dev",
    )


@pytest.fixture
def run_batch(settings):
    """A handler bound to ``settings``; EMF lines it prints are collected in ``.metrics``."""
    from processor.handler import make_handler

    lines: list = []
    handler = make_handler(settings, emit=lines.append)
    handler.metrics = lines  # type: ignore[attr-defined]
    yield handler
    handler.processor.close()  # type: ignore[attr-defined]

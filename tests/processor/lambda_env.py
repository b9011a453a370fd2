"""The processor's Lambda environment on the rig: secrets in the emulator, in the constructs' shapes."""

from __future__ import annotations

import json

import boto3
import pytest

from processor import handler as handler_module
from processor import redis_store
from processor.config import APP_DB_USER

from conftest import APP_DB_PASSWORD, REDIS_PASSWORD


def create_secrets(pg_server, redis_server) -> dict:
    """Exactly the JSON the constructs write (connection + Redis), plus the rig's app-role password
    in the shape of an RDS-managed secret (on RDS the processor uses IAM tokens instead)."""
    sm = boto3.client("secretsmanager")
    managed = sm.create_secret(Name="rds!db-local", SecretString=json.dumps(
        {"username": pg_server.master_user, "password": pg_server.master_password}))["ARN"]
    connection = sm.create_secret(Name="japancart/dev/db-connection", SecretString=json.dumps({
        "engine": "postgres", "host": pg_server.host, "port": pg_server.port, "dbname": pg_server.dbname,
        "username": pg_server.master_user, "password_secret_arn": managed, "app_username": APP_DB_USER}))["ARN"]
    app_password = sm.create_secret(Name="rig/txn-writer", SecretString=json.dumps(
        {"username": APP_DB_USER, "password": APP_DB_PASSWORD}))["ARN"]
    redis_secret = sm.create_secret(Name="japancart/dev/redis-auth", SecretString=json.dumps({
        "host": redis_server.host, "port": redis_server.port, "username": redis_store.REDIS_USER,
        "password": REDIS_PASSWORD, "tls": True}))["ARN"]
    return {"DB_CONNECTION_SECRET_ARN": connection, "REDIS_SECRET_ARN": redis_secret, "DB_AUTH": "password",
            "DB_PASSWORD_SECRET_ARN": app_password, "DB_CA_BUNDLE": pg_server.ca_file,
            "HISTORY_TTL_SECONDS": "86400", "METRIC_NAMESPACE": "JapanCart/TransactionMonitoring",
            "_MASTER_SECRET_ARN": managed}


def lambda_env(monkeypatch, env: dict, **overrides: str) -> None:
    for name, value in {**env, **overrides}.items():
        if not name.startswith("_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def entry_point(monkeypatch):
    """A fresh container for processor.handler.handle; closed afterwards."""
    monkeypatch.setattr(handler_module, "_container_processor", None)
    yield handler_module.handle
    if handler_module._container_processor is not None:
        handler_module._container_processor.close()



"""Environment/secret parsing and the EMF metric document (no servers)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from processor.config import RDS_CA_BUNDLE, maintainer_db_settings, master_db_settings, settings_from_env
from processor.contract import ConfigError
from processor.metrics import emit_batch

DB_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-conn"
PW_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rds!db-123"
REDIS_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rig/redis-app"
SECRETS = {
    DB_ARN: json.dumps(
        {
            "engine": "postgres",
            "host": "db.internal",
            "port": 5432,
            "dbname": "txns",
            "username": "monitor",
            "password_secret_arn": PW_ARN,
            "app_username": "txn_writer",
            "maintainer_username": "txn_maintainer",
        }
    ),
    PW_ARN: json.dumps({"username": "monitor", "password": "s3cret-pw"}),
    REDIS_ARN: json.dumps({"username": "japancart-staging-history-processor", "password": "rig-pw"}),
}
ENV = {
    "DB_CONNECTION_SECRET_ARN": DB_ARN,
    "REDIS_HOST": "master.japancart-staging-history.abc123.apne1.cache.amazonaws.com",
    "REDIS_PORT": "6379",
    "REDIS_USER": "japancart-staging-history-processor",
    "REDIS_CACHE_NAME": "japancart-staging-history",
    "REDIS_AUTH": "iam",
    "RULE_MAX_TXNS_PER_HOUR": "10",
    "RULE_MAX_DAILY_TOTAL": "500000",
    "RULE_MAX_SINGLE_AMOUNT": "200000.5",
    "METRIC_NAMESPACE": "JapanCart/TransactionMonitoring",
    "ENVIRONMENT": "staging",
    "HISTORY_TTL_SECONDS": "86400",
    "DB_AUTH": "iam",
    "AWS_REGION": "ap-northeast-1",
    "STREAM_ARN": "arn:aws:kinesis:ap-northeast-1:123456789012:stream/japancart-staging-transactions",
}


def reading(secrets: dict):
    """A secret fetcher that records which ARNs were read."""
    read: list = []

    def fetch(arn: str) -> str:
        read.append(arn)
        return secrets[arn]

    fetch.read = read  # type: ignore[attr-defined]
    return fetch


def test_full_environment_parses():
    fetch = reading(SECRETS)
    settings = settings_from_env(ENV, fetch)
    assert settings.history_ttl_seconds == 86400
    assert settings.thresholds.max_txns_per_hour == 10
    assert settings.thresholds.max_single_amount == Decimal("200000.5")
    db = settings.db
    assert (db.host, db.port, db.dbname, db.username, db.auth, db.region, db.password) == (
        "db.internal",
        5432,
        "txns",
        "txn_writer",
        "iam",
        "ap-northeast-1",
        None,
    )
    assert db.ca_file == RDS_CA_BUNDLE
    redis = settings.redis
    assert (redis.host, redis.port, redis.username, redis.auth, redis.cache_name, redis.region, redis.password) == (
        "master.japancart-staging-history.abc123.apne1.cache.amazonaws.com",
        6379,
        "japancart-staging-history-processor",
        "iam",
        "japancart-staging-history",
        "ap-northeast-1",
        None,
    )
    assert fetch.read == [DB_ARN]  # IAM for both stores: the connection secret is all it reads
    assert PW_ARN not in fetch.read  # the processor never reads the master secret
    assert settings.stream_arn == ENV["STREAM_ARN"]


def test_redis_password_mode_reads_the_rig_password_for_the_named_user():
    env = {**ENV, "REDIS_AUTH": "password", "REDIS_PASSWORD_SECRET_ARN": REDIS_ARN}
    fetch = reading(SECRETS)
    redis = settings_from_env(env, fetch).redis
    assert (redis.username, redis.password, redis.auth) == ("japancart-staging-history-processor", "rig-pw", "password")
    assert "rig-pw" not in repr(redis)
    assert REDIS_ARN in fetch.read
    wrong = {**SECRETS, REDIS_ARN: json.dumps({"username": "someone-else", "password": "x"})}
    with pytest.raises(
        ConfigError,
        match=f"secret {REDIS_ARN} key 'username' must be 'japancart-staging-history-processor', got 'someone-else'",
    ):
        settings_from_env(env, wrong.__getitem__)


def test_plain_variables_are_checked_before_any_secret_is_read():
    fetch = reading(SECRETS)
    with pytest.raises(ConfigError, match="REDIS_PORT must be a port from 1 to 65535, got '70000'"):
        settings_from_env({**ENV, "REDIS_PORT": "70000"}, fetch)
    assert fetch.read == []


def test_migration_settings_use_the_master_secret():
    db = master_db_settings({"DB_CONNECTION_SECRET_ARN": DB_ARN}, SECRETS.__getitem__)
    assert (db.username, db.password, db.auth) == ("monitor", "s3cret-pw", "password")
    assert "s3cret-pw" not in repr(db)


def test_password_auth_reads_only_the_named_secret_for_the_app_role():
    app_arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:app"
    secrets = {**SECRETS, app_arn: json.dumps({"username": "txn_writer", "password": "app-pw"})}
    env = {**ENV, "DB_AUTH": "password", "DB_PASSWORD_SECRET_ARN": app_arn, "DB_CA_BUNDLE": "/tmp/ca.pem"}
    db = settings_from_env(env, secrets.__getitem__).db
    assert (db.username, db.password, db.ca_file) == ("txn_writer", "app-pw", "/tmp/ca.pem")
    wrong = {**secrets, app_arn: json.dumps({"username": "monitor", "password": "x"})}
    with pytest.raises(ConfigError, match=f"secret {app_arn} key 'username' must be 'txn_writer', got 'monitor'"):
        settings_from_env(env, wrong.__getitem__)


def test_maintenance_settings_are_the_maintainer_role_with_iam_tokens_never_the_master():
    fetch = reading(SECRETS)
    db = maintainer_db_settings(
        {"DB_CONNECTION_SECRET_ARN": DB_ARN, "DB_AUTH": "iam", "AWS_REGION": "ap-northeast-1"}, fetch
    )
    assert (db.username, db.auth, db.password, db.region) == ("txn_maintainer", "iam", None, "ap-northeast-1")
    assert fetch.read == [DB_ARN]
    without = {DB_ARN: json.dumps({**json.loads(SECRETS[DB_ARN]), "maintainer_username": ""})}
    with pytest.raises(ConfigError, match=f"secret {DB_ARN} is missing key 'maintainer_username'"):
        maintainer_db_settings(
            {"DB_CONNECTION_SECRET_ARN": DB_ARN, "DB_AUTH": "iam", "AWS_REGION": "x"}, without.__getitem__
        )


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("RULE_MAX_TXNS_PER_HOUR", "ten", "RULE_MAX_TXNS_PER_HOUR must be a positive integer, got 'ten'"),
        ("RULE_MAX_TXNS_PER_HOUR", "0", "RULE_MAX_TXNS_PER_HOUR must be a positive integer, got '0'"),
        ("RULE_MAX_DAILY_TOTAL", "lots", "RULE_MAX_DAILY_TOTAL must be a positive number, got 'lots'"),
        ("RULE_MAX_SINGLE_AMOUNT", "-1", "RULE_MAX_SINGLE_AMOUNT must be a positive number, got '-1'"),
        ("HISTORY_TTL_SECONDS", "1.5", "HISTORY_TTL_SECONDS must be a positive integer, got '1.5'"),
        ("ENVIRONMENT", "qa", "ENVIRONMENT must be one of dev, staging, prod, got 'qa'"),
        ("REDIS_HOST", "", "environment variable REDIS_HOST is required but not set"),
        ("REDIS_HOST", "redis://h:6379", "REDIS_HOST must be a host name, got 'redis://h:6379'"),
        ("REDIS_PORT", "six", "REDIS_PORT must be a positive integer, got 'six'"),
        ("REDIS_PORT", "0", "REDIS_PORT must be a positive integer, got '0'"),
        ("REDIS_PORT", "65536", "REDIS_PORT must be a port from 1 to 65535, got '65536'"),
        ("REDIS_USER", "", "environment variable REDIS_USER is required but not set"),
        (
            "REDIS_USER",
            "TxnProcessor",
            "REDIS_USER must be an ElastiCache IAM user id (lowercase letters, digits and "
            "hyphens, starting with a letter), got 'TxnProcessor'",
        ),
        ("REDIS_CACHE_NAME", "", "environment variable REDIS_CACHE_NAME is required but not set"),
        (
            "REDIS_CACHE_NAME",
            "japancart--history",
            "REDIS_CACHE_NAME must be a replication group id (1-40 lowercase "
            "letters, digits and single hyphens, starting with a letter), "
            "got 'japancart--history'",
        ),
        ("REDIS_AUTH", "", "environment variable REDIS_AUTH is required but not set"),
        ("REDIS_AUTH", "token", "REDIS_AUTH must be 'iam' or 'password', got 'token'"),
        ("REDIS_PASSWORD_SECRET_ARN", "x", None),  # ignored in iam mode
        ("HISTORY_TTL_SECONDS", "", "environment variable HISTORY_TTL_SECONDS is required but not set"),
        (
            "HISTORY_TTL_SECONDS",
            "3600",
            "HISTORY_TTL_SECONDS must be at least 86400 (the longest rule window), got '3600'",
        ),
        ("DB_AUTH", "trust", "DB_AUTH must be 'iam' or 'password', got 'trust'"),
        ("DB_AUTH", "", "environment variable DB_AUTH is required but not set"),
        ("METRIC_NAMESPACE", "", "environment variable METRIC_NAMESPACE is required but not set"),
        ("AWS_REGION", "", "REDIS_AUTH=iam needs AWS_REGION"),
        ("STREAM_ARN", "", "environment variable STREAM_ARN is required but not set"),
        (
            "STREAM_ARN",
            "japancart-dev-transactions",
            "STREAM_ARN must be a Kinesis stream ARN like "
            "arn:aws:kinesis:<region>:<account>:stream/<name>, got 'japancart-dev-transactions'",
        ),
        (
            "STREAM_ARN",
            "arn:aws:sqs:ap-northeast-1:123456789012:transactions",
            "STREAM_ARN must be a Kinesis stream ARN",
        ),
    ],
)
def test_bad_variable_is_named_with_its_value(name, value, message):
    if message is None:
        assert settings_from_env({**ENV, name: value}, SECRETS.__getitem__).redis.auth == "iam"
        return
    with pytest.raises(ConfigError) as err:
        settings_from_env({**ENV, name: value}, SECRETS.__getitem__)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"REDIS_AUTH": "password"}, "environment variable REDIS_PASSWORD_SECRET_ARN is required but not set"),
        (
            {
                "REDIS_AUTH": "password",
                "REDIS_PASSWORD_SECRET_ARN": REDIS_ARN,
                "DB_AUTH": "password",
                "DB_PASSWORD_SECRET_ARN": "",
            },
            "environment variable DB_PASSWORD_SECRET_ARN is required but not set",
        ),
        (
            {"AWS_REGION": "", "REDIS_AUTH": "password", "REDIS_PASSWORD_SECRET_ARN": REDIS_ARN},
            "DB_AUTH=iam needs AWS_REGION",
        ),
    ],
)
def test_each_mode_names_what_it_lacks(env, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_env({**ENV, **env}, SECRETS.__getitem__)


def test_secret_missing_key_is_named():
    env = {**ENV, "REDIS_AUTH": "password", "REDIS_PASSWORD_SECRET_ARN": REDIS_ARN}
    secrets = {**SECRETS, REDIS_ARN: json.dumps({"username": "japancart-staging-history-processor"})}
    with pytest.raises(ConfigError, match=f"secret {REDIS_ARN} is missing key 'password'"):
        settings_from_env(env, secrets.__getitem__)


def test_emf_document_has_both_dimension_sets():
    lines: list = []
    emit_batch(
        "JapanCart/TransactionMonitoring",
        "prod",
        ["max_single_amount", "max_txns_per_hour", "max_single_amount"],
        0,
        1764000000000,
        lines.append,
    )
    docs = [json.loads(line) for line in lines]
    assert [(d["Rule"], d["RuleHits"]) for d in docs] == [("max_single_amount", 2), ("max_txns_per_hour", 1)]
    directive = docs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "JapanCart/TransactionMonitoring",
        "Dimensions": [["Environment"], ["Environment", "Rule"]],
        "Metrics": [{"Name": "RuleHits", "Unit": "Count"}],
    }
    assert docs[0]["Environment"] == "prod" and docs[0]["_aws"]["Timestamp"] == 1764000000000


def test_conflicts_are_a_metric_of_their_own():
    lines: list = []
    emit_batch("JapanCart/TransactionMonitoring", "dev", [], 2, 1764000000000, lines.append)
    [doc] = [json.loads(line) for line in lines]
    assert doc["TransactionConflicts"] == 2 and doc["Environment"] == "dev"
    assert doc["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "TransactionConflicts", "Unit": "Count"}]

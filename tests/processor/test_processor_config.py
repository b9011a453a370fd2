"""Environment/secret parsing and the EMF metric document (no servers)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from processor.config import ConfigError, settings_from_env
from processor.metrics import emit_rule_hits

DB_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-conn"
PW_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:rds!db-123"
REDIS_ARN = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:redis"
SECRETS = {
    DB_ARN: json.dumps({"engine": "postgres", "host": "db.internal", "port": 5432, "dbname": "txns",
                        "username": "monitor", "password_secret_arn": PW_ARN}),
    PW_ARN: json.dumps({"username": "monitor", "password": "s3cret-pw"}),
    REDIS_ARN: json.dumps({"host": "redis.internal", "port": 6379, "auth_token": "tok", "tls": True}),
}
ENV = {
    "DB_CONNECTION_SECRET_ARN": DB_ARN, "REDIS_SECRET_ARN": REDIS_ARN,
    "RULE_MAX_TXNS_PER_HOUR": "10", "RULE_MAX_DAILY_TOTAL": "500000", "RULE_MAX_SINGLE_AMOUNT": "200000.5",
    "METRIC_NAMESPACE": "JapanCart/TransactionMonitoring", "ENVIRONMENT": "staging",
}


def test_full_environment_parses():
    settings = settings_from_env(ENV, SECRETS.__getitem__)
    assert settings.history_ttl_seconds == 86400
    assert settings.thresholds.max_txns_per_hour == 10
    assert settings.thresholds.max_single_amount == Decimal("200000.5")
    assert (settings.db.host, settings.db.port, settings.db.password) == ("db.internal", 5432, "s3cret-pw")
    assert settings.redis.tls is True and settings.redis.auth_token == "tok"
    assert "s3cret-pw" not in repr(settings) and "tok" not in repr(settings.redis)


@pytest.mark.parametrize("name, value, message", [
    ("RULE_MAX_TXNS_PER_HOUR", "ten", "RULE_MAX_TXNS_PER_HOUR must be a positive integer, got 'ten'"),
    ("RULE_MAX_TXNS_PER_HOUR", "0", "RULE_MAX_TXNS_PER_HOUR must be a positive integer, got '0'"),
    ("RULE_MAX_DAILY_TOTAL", "lots", "RULE_MAX_DAILY_TOTAL must be a positive number, got 'lots'"),
    ("RULE_MAX_SINGLE_AMOUNT", "-1", "RULE_MAX_SINGLE_AMOUNT must be a positive number, got '-1'"),
    ("HISTORY_TTL_SECONDS", "1.5", "HISTORY_TTL_SECONDS must be a positive integer, got '1.5'"),
    ("ENVIRONMENT", "qa", "ENVIRONMENT must be one of dev, staging, prod, got 'qa'"),
    ("REDIS_SECRET_ARN", "", "environment variable REDIS_SECRET_ARN is required but not set"),
])
def test_bad_variable_is_named_with_its_value(name, value, message):
    with pytest.raises(ConfigError) as err:
        settings_from_env({**ENV, name: value}, SECRETS.__getitem__)
    assert message in str(err.value)


def test_secret_missing_key_is_named():
    secrets = {**SECRETS, PW_ARN: json.dumps({"username": "monitor"})}
    with pytest.raises(ConfigError, match=f"secret {PW_ARN} is missing key 'password'"):
        settings_from_env(ENV, secrets.__getitem__)


def test_emf_document_has_both_dimension_sets():
    lines: list = []
    emit_rule_hits("JapanCart/TransactionMonitoring", "prod",
                   ["max_single_amount", "max_txns_per_hour", "max_single_amount"], 1764000000000, lines.append)
    docs = [json.loads(line) for line in lines]
    assert [(d["Rule"], d["RuleHits"]) for d in docs] == [("max_single_amount", 2), ("max_txns_per_hour", 1)]
    directive = docs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive == {"Namespace": "JapanCart/TransactionMonitoring",
                         "Dimensions": [["Environment"], ["Environment", "Rule"]],
                         "Metrics": [{"Name": "RuleHits", "Unit": "Count"}]}
    assert docs[0]["Environment"] == "prod" and docs[0]["_aws"]["Timestamp"] == 1764000000000

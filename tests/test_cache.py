"""Cache: Redis 7 with RBAC users, encryption, failover, volatile-ttl, windows, slow log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from constructs_lib.cache import CacheSettings, TransactionCacheProps
from constructs_lib.validation import ConfigError
from environments import synth_environment
from processor.redis_store import ACL_RULES, REDIS_USER


def test_replication_group_is_encrypted_and_uses_rbac(dev) -> None:
    key_ref = dev.key_ref("data")
    _, group = dev.one("aws_elasticache_replication_group")
    assert group["engine"] == "redis" and group["engine_version"].startswith("7.")
    assert group["at_rest_encryption_enabled"] == "true" and group["kms_key_id"] == key_ref
    assert group["transit_encryption_enabled"] is True
    user_group_key, _ = dev.one("aws_elasticache_user_group")
    assert group["user_group_ids"] == [dev.ref("aws_elasticache_user_group", user_group_key, "user_group_id")]
    assert "auth_token" not in group
    assert "number_cache_clusters" not in group and group["num_cache_clusters"] == 2
    assert group["automatic_failover_enabled"] is True and group["multi_az_enabled"] is True


def test_user_group_holds_a_disabled_default_user_and_the_application_user(dev) -> None:
    group_key, group = dev.one("aws_elasticache_user_group")
    assert (group["engine"], group["user_group_id"]) == ("redis", "japancart-dev-history")
    default_key, default = dev.one("aws_elasticache_user", user_name="default")
    app_key, app = dev.one("aws_elasticache_user", user_name=REDIS_USER)
    assert group["user_ids"] == [dev.ref("aws_elasticache_user", default_key, "user_id"),
                                 dev.ref("aws_elasticache_user", app_key, "user_id")]
    assert len(dev.resources("aws_elasticache_user")) == 2
    # Disabled: "off" first, no commands, no key patterns.
    assert default["access_string"] == "off -@all"
    assert default["user_id"] == "japancart-dev-history-default" and default["engine"] == "redis"
    assert app["access_string"] == f"on {ACL_RULES}" and app["user_id"] == "japancart-dev-history-app"
    for user in (default, app):
        assert user["authentication_mode"]["type"] == "password" and "passwords" not in user
        (password_ref,) = user["authentication_mode"]["passwords"]
        password_key = password_ref.split(".")[1]
        password = dev.resources("random_password")[password_key]
        assert password["length"] == 64 and password["special"] is False
    assert default["authentication_mode"]["passwords"] != app["authentication_mode"]["passwords"]


def test_parameter_group_evicts_by_ttl(dev) -> None:
    group_key, group = dev.one("aws_elasticache_parameter_group")
    assert group["family"] == "redis7"
    assert group["parameter"] == [{"name": "maxmemory-policy", "value": "volatile-ttl"}]
    _, replication = dev.one("aws_elasticache_replication_group")
    assert replication["parameter_group_name"] == dev.ref("aws_elasticache_parameter_group", group_key, "name")


def test_snapshots_windows_and_slow_log(dev) -> None:
    _, group = dev.one("aws_elasticache_replication_group")
    assert group["snapshot_retention_limit"] == 1
    assert (group["snapshot_window"], group["maintenance_window"]) == ("15:00-16:00", "sun:17:00-sun:18:00")
    log_key, log_group = dev.one("aws_cloudwatch_log_group", name="/elasticache/japancart-dev-history/slow-log")
    assert group["log_delivery_configuration"] == [{
        "destination": dev.ref("aws_cloudwatch_log_group", log_key, "name"), "destination_type": "cloudwatch-logs",
        "log_format": "json", "log_type": "slow-log"}]
    assert "kms_key_id" in log_group


def test_auth_secret_hands_the_application_its_user_password_and_endpoint(dev) -> None:
    secret_key, secret = dev.one("aws_secretsmanager_secret", name="japancart/dev/redis-auth")
    _, version = dev.one("aws_secretsmanager_secret_version",
                         secret_id=dev.ref("aws_secretsmanager_secret", secret_key, "id"))
    value = version["secret_string"]
    group_key, _ = dev.one("aws_elasticache_replication_group")
    _, app = dev.one("aws_elasticache_user", user_name=REDIS_USER)
    (app_password_ref,) = app["authentication_mode"]["passwords"]
    # The contract's shape: {"host", "port", "username", "password", "tls": true}; nothing else.
    assert value.startswith("${jsonencode(") and value.count(" = ") == 5
    assert f'"host" = aws_elasticache_replication_group.{group_key}.primary_endpoint_address' in value
    assert '"port" = 6379' in value and f'"username" = "{REDIS_USER}"' in value
    assert f'"password" = {app_password_ref[2:-1]}' in value and '"tls" = true' in value
    _, default = dev.one("aws_elasticache_user", user_name="default")
    assert default["authentication_mode"]["passwords"][0][2:-1] not in value


def test_single_node_cache_runs_without_failover(tmp_path: Path) -> None:
    stack = synth_environment(tmp_path, cache={"num_nodes": 1, "automatic_failover": False})
    _, group = stack.one("aws_elasticache_replication_group")
    assert (group["num_cache_clusters"], group["automatic_failover_enabled"], group["multi_az_enabled"]) == (1, False, False)
    alarms = stack.resources("aws_cloudwatch_metric_alarm").values()
    members = {a["dimensions"]["CacheClusterId"] for a in alarms if "CacheClusterId" in a["dimensions"]}
    assert members == {"japancart-dev-history-001"}


def cache_props(**overrides):
    from unittest.mock import MagicMock

    networking = MagicMock(availability_zone_count=2)
    values = dict(name="japancart-dev-history", settings=CacheSettings(), keys=MagicMock(), networking=networking,
                  clients=MagicMock(), auth_secret_name="japancart/dev/redis-auth", app_user_name=REDIS_USER,
                  app_access_rules=ACL_RULES)
    return TransactionCacheProps(**{**values, **overrides})


@pytest.mark.parametrize("overrides, message", [
    ({"app_user_name": "default"}, "app_user_name must be a user other than 'default'"),
    ({"app_user_name": "txn processor"}, "app_user_name must be a Redis user name"),
    ({"app_access_rules": "on ~* +@all"}, "app_access_rules must be Redis ACL key and command rules without on/off"),
    ({"app_access_rules": "~* +@all >secret"}, "app_access_rules must be Redis ACL key and command rules"),
    ({"app_access_rules": ""}, "app_access_rules must be Redis ACL key and command rules"),
])
def test_fails_when_the_application_user_is_not_a_plain_rbac_user(overrides, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        cache_props(**overrides)
    assert message in str(raised.value)

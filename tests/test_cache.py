"""Cache: Redis 7 with RBAC users, encryption, failover, volatile-ttl, windows, slow log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bare_stack import admitted, required_only, with_defaults
from constructs_lib.cache import TransactionCache, TransactionCacheProps
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


def cache_props(**overrides: Any) -> TransactionCacheProps:
    return required_only(TransactionCacheProps, "bare-history", **overrides)


def test_defaults_are_encrypted_multi_az_private_and_closed() -> None:
    stack = with_defaults(lambda bare: TransactionCache(bare.stack, "cache", TransactionCacheProps(
        name="bare-history", keys=bare.keys, networking=bare.network)))
    _, group = stack.one("aws_elasticache_replication_group")
    assert group["at_rest_encryption_enabled"] == "true" and group["kms_key_id"] == stack.key_ref("data")
    assert group["transit_encryption_enabled"] is True and "auth_token" not in group
    assert (group["num_cache_clusters"], group["automatic_failover_enabled"], group["multi_az_enabled"]) == (2, True, True)
    assert (group["engine_version"], group["node_type"], group["snapshot_retention_limit"]) == ("7.1", "cache.t4g.small", 7)
    store_key, _ = stack.one("aws_security_group", name="bare-history-cache")
    assert group["security_group_ids"] == [stack.ref("aws_security_group", store_key, "id")]
    assert admitted(stack, store_key) == [], "nothing is admitted until allow_from names a client group"
    _, secret = stack.one("aws_secretsmanager_secret", name="bare-history/redis-auth")
    assert secret["recovery_window_in_days"] == 30 and secret["kms_key_id"] == stack.key_ref("secrets")
    _, app = stack.one("aws_elasticache_user", user_name=REDIS_USER)
    assert app["access_string"] == f"on {ACL_RULES}"


@pytest.mark.parametrize("overrides, message", [
    pytest.param({"name": "Bare_History"}, "name must be a replication group id", id="name-not-lowercase"),
    pytest.param({"name": "a" * 36}, "name must be a replication group id", id="name-too-long"),
    pytest.param({"num_nodes": 2.5}, "num_nodes must be a whole number from 1 to 6, got 2.5", id="fractional-nodes"),
    pytest.param({"num_nodes": 1}, "num_nodes must be at least 2 when automatic_failover is on",
                 id="one-node-with-failover"),
    pytest.param({"automatic_failover": "yes"}, "automatic_failover must be true or false", id="failover-not-bool"),
    pytest.param({"auth_secret_name": "no spaces"}, "auth_secret_name must be a Secrets Manager name",
                 id="secret-name-malformed"),
    pytest.param({"app_user_name": "default"}, "app_user_name must be a user other than 'default'",
                 id="app-user-is-default"),
    pytest.param({"app_user_name": "txn processor"}, "app_user_name must be a Redis user name", id="app-user-malformed"),
    pytest.param({"app_access_rules": "on ~* +@all"},
                 "app_access_rules must be Redis ACL key and command rules without on/off", id="rules-enable-user"),
    pytest.param({"app_access_rules": "~* +@all >secret"}, "app_access_rules must be Redis ACL key and command rules",
                 id="rules-set-password"),
    pytest.param({"app_access_rules": ""}, "app_access_rules must be Redis ACL key and command rules", id="rules-empty"),
])
def test_fails_when_a_prop_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        cache_props(**overrides)
    assert message in str(raised.value)

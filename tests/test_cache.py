"""Cache: Redis 7 with RBAC users, encryption, failover, volatile-ttl, windows, slow log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bare_stack import admitted, required_only, with_defaults
from environments import synth_environment

from constructs_lib.cache import TransactionCache, TransactionCacheProps
from processor.contract import REDIS_ACL_RULES, ConfigError

APP_USER = "japancart-dev-history-processor"


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
    app_key, app = dev.one("aws_elasticache_user", user_name=APP_USER)
    assert group["user_ids"] == [
        dev.ref("aws_elasticache_user", default_key, "user_id"),
        dev.ref("aws_elasticache_user", app_key, "user_id"),
    ]
    assert len(dev.resources("aws_elasticache_user")) == 2
    # Disabled ("off" first, no commands, no key patterns) and without any password to keep.
    assert default["access_string"] == "off -@all" and default["no_password_required"] is True
    assert default["user_id"] == "japancart-dev-history-default" and default["engine"] == "redis"
    assert "authentication_mode" not in default and "passwords" not in default
    # The application signs in with IAM auth tokens: its id is its name (ElastiCache requires it for IAM users).
    assert app["access_string"] == f"on {REDIS_ACL_RULES}"
    assert app["user_id"] == app["user_name"] == APP_USER
    assert app["authentication_mode"] == {"type": "iam"} and "passwords" not in app
    assert "no_password_required" not in app
    # The IAM user is new (id and address; the password user was `-app`); the default user keeps its id and
    # address and is changed in place (ElastiCache will not delete a default user a group holds).
    assert default_key.startswith("cache_default-user_") and app_key.startswith("cache_iam-app-user_")


def test_no_password_and_no_secret_for_redis(dev) -> None:
    assert not dev.resources("random_password")
    assert [s["name"] for s in dev.resources("aws_secretsmanager_secret").values()] == ["japancart/dev/db-connection"]


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
    assert group["log_delivery_configuration"] == [
        {
            "destination": dev.ref("aws_cloudwatch_log_group", log_key, "name"),
            "destination_type": "cloudwatch-logs",
            "log_format": "json",
            "log_type": "slow-log",
        }
    ]
    assert "kms_key_id" in log_group


def test_grant_connect_allows_elasticache_connect_on_the_group_as_the_app_user_only() -> None:
    from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocument

    from constructs_lib.grants import PolicyGrantee

    def build(bare) -> None:
        cache = TransactionCache(bare.stack, "cache", cache_props(keys=bare.keys, networking=bare.network))
        grantee = PolicyGrantee()
        cache.grant_connect(grantee)
        DataAwsIamPolicyDocument(bare.stack, "granted", statement=grantee.statements())
        assert cache.app_user_name == "bare-history-processor" and cache.replication_group_id == "bare-history"

    stack = with_defaults(build)
    group_key, _ = stack.one("aws_elasticache_replication_group")
    user_key, _ = stack.one("aws_elasticache_user", user_name="bare-history-processor")
    [document] = [d for key, d in stack.data("aws_iam_policy_document").items() if key.startswith("granted")]
    assert document["statement"] == [
        {
            "sid": "SignInToTheHistoryAsTheAppUser",
            "actions": ["elasticache:Connect"],
            "resources": [
                stack.ref("aws_elasticache_replication_group", group_key, "arn"),
                stack.ref("aws_elasticache_user", user_key, "arn"),
            ],
        }
    ]


def test_single_node_cache_runs_without_failover(tmp_path: Path) -> None:
    stack = synth_environment(tmp_path, cache={"num_nodes": 1, "automatic_failover": False})
    _, group = stack.one("aws_elasticache_replication_group")
    assert (group["num_cache_clusters"], group["automatic_failover_enabled"], group["multi_az_enabled"]) == (
        1,
        False,
        False,
    )
    alarms = stack.resources("aws_cloudwatch_metric_alarm").values()
    members = {a["dimensions"]["CacheClusterId"] for a in alarms if "CacheClusterId" in a["dimensions"]}
    assert members == {"japancart-dev-history-001"}


def cache_props(**overrides: Any) -> TransactionCacheProps:
    return required_only(TransactionCacheProps, "bare-history", **overrides)


def test_defaults_are_encrypted_multi_az_private_and_closed() -> None:
    stack = with_defaults(
        lambda bare: TransactionCache(
            bare.stack, "cache", TransactionCacheProps(name="bare-history", keys=bare.keys, networking=bare.network)
        )
    )
    _, group = stack.one("aws_elasticache_replication_group")
    assert group["at_rest_encryption_enabled"] == "true" and group["kms_key_id"] == stack.key_ref("data")
    assert group["transit_encryption_enabled"] is True and "auth_token" not in group
    assert (group["num_cache_clusters"], group["automatic_failover_enabled"], group["multi_az_enabled"]) == (
        2,
        True,
        True,
    )
    assert (group["engine_version"], group["node_type"], group["snapshot_retention_limit"]) == (
        "7.1",
        "cache.t4g.small",
        7,
    )
    store_key, _ = stack.one("aws_security_group", name="bare-history-cache")
    assert group["security_group_ids"] == [stack.ref("aws_security_group", store_key, "id")]
    assert admitted(stack, store_key) == [], "nothing is admitted until allow_from names a client group"
    assert not stack.resources("aws_secretsmanager_secret") and not stack.resources("random_password")
    _, app = stack.one("aws_elasticache_user", user_name="bare-history-processor")
    assert app["access_string"] == f"on {REDIS_ACL_RULES}" and app["authentication_mode"] == {"type": "iam"}
    assert app["user_id"] == "bare-history-processor"


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"name": "Bare_History"}, "name must be a replication group id", id="name-not-lowercase"),
        pytest.param({"name": "a" * 36}, "name must be a replication group id", id="name-too-long"),
        pytest.param(
            {"num_nodes": 2.5}, "num_nodes must be a whole number from 1 to 6, got 2.5", id="fractional-nodes"
        ),
        pytest.param(
            {"num_nodes": 1}, "num_nodes must be at least 2 when automatic_failover is on", id="one-node-with-failover"
        ),
        pytest.param({"automatic_failover": "yes"}, "automatic_failover must be true or false", id="failover-not-bool"),
        pytest.param(
            {"app_user_name": "default"}, "app_user_name must be a user other than 'default'", id="app-user-is-default"
        ),
        pytest.param(
            {"app_user_name": "txn processor"},
            "app_user_name must be an ElastiCache IAM user id",
            id="app-user-malformed",
        ),
        pytest.param(
            {"app_user_name": "Txn-Processor"},
            "app_user_name must be an ElastiCache IAM user id",
            id="app-user-not-lowercase",
        ),
        pytest.param(
            {"app_user_name": "txn_processor"},
            "app_user_name must be an ElastiCache IAM user id",
            id="app-user-underscore",
        ),
        pytest.param(
            {"app_access_rules": "on ~* +@all"},
            "app_access_rules must be Redis ACL key and command rules without on/off",
            id="rules-enable-user",
        ),
        pytest.param(
            {"app_access_rules": "~* +@all >secret"},
            "app_access_rules must be Redis ACL key and command rules",
            id="rules-set-password",
        ),
        pytest.param(
            {"app_access_rules": ""}, "app_access_rules must be Redis ACL key and command rules", id="rules-empty"
        ),
    ],
)
def test_fails_when_a_prop_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        cache_props(**overrides)
    assert message in str(raised.value)

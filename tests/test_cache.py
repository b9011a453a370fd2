"""Cache: Redis 7 with AUTH, encryption, failover, volatile-ttl, windows, slow log."""

from __future__ import annotations

import json
from pathlib import Path

from environments import synth_environment


def test_replication_group_is_encrypted_and_requires_auth(dev) -> None:
    key_ref = dev.ref("aws_kms_key", dev.one("aws_kms_key")[0], "arn")
    password_key, password = dev.one("random_password")
    assert password["length"] == 64 and password["special"] is False
    _, group = dev.one("aws_elasticache_replication_group")
    assert group["engine"] == "redis" and group["engine_version"].startswith("7.")
    assert group["at_rest_encryption_enabled"] == "true" and group["kms_key_id"] == key_ref
    assert group["transit_encryption_enabled"] is True
    assert group["auth_token"] == dev.ref("random_password", password_key, "result")
    assert "number_cache_clusters" not in group and group["num_cache_clusters"] == 2
    assert group["automatic_failover_enabled"] is True and group["multi_az_enabled"] is True


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


def test_auth_secret_hands_consumers_token_and_endpoint(dev) -> None:
    secret_key, secret = dev.one("aws_secretsmanager_secret", name="japancart/dev/redis-auth")
    _, version = dev.one("aws_secretsmanager_secret_version",
                         secret_id=dev.ref("aws_secretsmanager_secret", secret_key, "id"))
    value = version["secret_string"]
    group_key, _ = dev.one("aws_elasticache_replication_group")
    password_key, _ = dev.one("random_password")
    assert f"aws_elasticache_replication_group.{group_key}.primary_endpoint_address" in value
    assert f"random_password.{password_key}.result" in value
    assert '\\"tls\\" = true' in json.dumps(value)


def test_single_node_cache_runs_without_failover(tmp_path: Path) -> None:
    stack = synth_environment(tmp_path, cache={"num_nodes": 1, "automatic_failover": False})
    _, group = stack.one("aws_elasticache_replication_group")
    assert (group["num_cache_clusters"], group["automatic_failover_enabled"], group["multi_az_enabled"]) == (1, False, False)
    alarms = stack.resources("aws_cloudwatch_metric_alarm").values()
    members = {a["dimensions"]["CacheClusterId"] for a in alarms if "CacheClusterId" in a["dimensions"]}
    assert members == {"japancart-dev-history-001"}

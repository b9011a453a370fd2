"""Alarms notify people, fire on the right side of the threshold, and watch metrics that exist."""

from __future__ import annotations


def alarms(stack) -> dict[str, dict]:
    return {a["alarm_name"]: a for a in stack.resources("aws_cloudwatch_metric_alarm").values()}


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(dev, prod) -> None:
    for stack in (dev, prod):
        topic_ref = stack.ref("aws_sns_topic", stack.one("aws_sns_topic")[0], "arn")
        for alarm in alarms(stack).values():
            assert alarm["alarm_actions"] == [topic_ref] and alarm["ok_actions"] == [topic_ref]
            assert alarm["treat_missing_data"] in {"breaching", "notBreaching", "missing", "ignore"}


def test_topic_is_encrypted_and_prod_has_subscribers(dev, prod) -> None:
    key_ref = dev.ref("aws_kms_key", dev.one("aws_kms_key")[0], "arn")
    assert dev.one("aws_sns_topic")[1]["kms_master_key_id"] == key_ref
    assert dev.resources("aws_sns_topic_subscription") == {}
    _, subscription = prod.one("aws_sns_topic_subscription")
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "oncall@japancart.example")


def test_subscriptions_are_keyed_by_address_so_removing_one_touches_only_it(tmp_path) -> None:
    from environments import synth_environment

    first, second, third = "oncall@japancart.example", "sre@japancart.example", "Payments.Lead@japancart.example"
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    before = synth_environment(tmp_path / "a", alarms={"alert_emails": [first, second, third]})
    after = synth_environment(tmp_path / "b", alarms={"alert_emails": [second, third]})

    def by_key(stack) -> dict[str, str]:
        return {key: body["endpoint"] for key, body in stack.resources("aws_sns_topic_subscription").items()}

    old, new = by_key(before), by_key(after)
    assert sorted(old.values()) == sorted([first, second, third])
    # The two remaining subscriptions keep their resource addresses (no destroy + create, no new confirmation).
    assert {k: v for k, v in old.items() if v != first} == new


def test_fails_on_a_repeated_address() -> None:
    import pytest

    from constructs_lib.alarms import AlarmSettings
    from constructs_lib.validation import ConfigError

    with pytest.raises(ConfigError, match=r"alert_emails\[1\] must be an address not listed before, got 'OnCall@x.example'"):
        AlarmSettings(alert_emails=("oncall@x.example", "OnCall@x.example"))


def test_cache_alarms_watch_each_member_cluster(dev, prod) -> None:
    for stack, members in ((dev, 2), (prod, 3)):
        env = "dev" if stack is dev else "prod"
        cache = [a for a in alarms(stack).values() if a["namespace"] == "AWS/ElastiCache"]
        ids = {a["dimensions"]["CacheClusterId"] for a in cache}
        assert ids == {f"japancart-{env}-history-{n:03d}" for n in range(1, members + 1)}
        assert len(cache) == 4 * members


def test_memory_alarm_fires_on_high_usage(dev) -> None:
    memory = [a for a in alarms(dev).values() if a["metric_name"] == "DatabaseMemoryUsagePercentage"]
    assert memory and all(a["comparison_operator"] == "GreaterThanThreshold" and a["threshold"] == 80 for a in memory)


def test_database_alarms_use_the_instance_identifier(dev) -> None:
    rds = [a for a in alarms(dev).values() if a["namespace"] == "AWS/RDS"]
    assert {a["metric_name"] for a in rds} == {"CPUUtilization", "FreeStorageSpace", "DatabaseConnections",
                                               "FreeableMemory", "ReadLatency", "WriteLatency"}
    assert {a["dimensions"]["DBInstanceIdentifier"] for a in rds} == {"japancart-dev-transactions"}
    low_is_bad = {a["metric_name"] for a in rds if a["comparison_operator"] == "LessThanThreshold"}
    assert low_is_bad == {"FreeStorageSpace", "FreeableMemory"}


def test_stream_alarms(dev) -> None:
    kinesis = {a["metric_name"]: a for a in alarms(dev).values() if a["namespace"] == "AWS/Kinesis"}
    assert set(kinesis) == {"GetRecords.IteratorAgeMilliseconds", "ReadProvisionedThroughputExceeded",
                            "WriteProvisionedThroughputExceeded"}
    stream_key, _ = dev.one("aws_kinesis_stream")
    assert all(a["dimensions"] == {"StreamName": dev.ref("aws_kinesis_stream", stream_key, "name")}
               for a in kinesis.values())


def test_dashboard_shows_stream_cache_and_database(dev) -> None:
    import json

    _, dashboard = dev.one("aws_cloudwatch_dashboard", dashboard_name="japancart-dev")
    namespaces = {m[0] for w in json.loads(dashboard["dashboard_body"])["widgets"] for m in w["properties"]["metrics"]}
    assert namespaces == {"AWS/Kinesis", "AWS/ElastiCache", "AWS/RDS"}

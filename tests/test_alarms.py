"""Alarms notify people, fire on the right side of the threshold, and watch metrics that exist."""

from __future__ import annotations

import pytest


def alarms(stack) -> dict[str, dict]:
    return {a["alarm_name"]: a for a in stack.resources("aws_cloudwatch_metric_alarm").values()}


def test_every_alarm_notifies_the_topic_on_alarm_and_ok(dev, prod) -> None:
    for stack in (dev, prod):
        topic_ref = stack.ref("aws_sns_topic", stack.one("aws_sns_topic")[0], "arn")
        for alarm in alarms(stack).values():
            assert alarm["alarm_actions"] == [topic_ref] and alarm["ok_actions"] == [topic_ref]
            assert alarm["treat_missing_data"] in {"breaching", "notBreaching", "missing", "ignore"}


def test_topic_is_encrypted_and_prod_has_subscribers(dev, prod) -> None:
    key_ref = dev.key_ref("logs")
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
    from processor.contract import ConfigError

    with pytest.raises(
        ConfigError, match=r"alert_emails\[1\] must be an address not listed before, got 'OnCall@x.example'"
    ):
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
    assert {a["metric_name"] for a in rds} == {
        "CPUUtilization",
        "FreeStorageSpace",
        "DatabaseConnections",
        "FreeableMemory",
        "ReadLatency",
        "WriteLatency",
    }
    assert {a["dimensions"]["DBInstanceIdentifier"] for a in rds} == {"japancart-dev-transactions"}
    low_is_bad = {a["metric_name"] for a in rds if a["comparison_operator"] == "LessThanThreshold"}
    assert low_is_bad == {"FreeStorageSpace", "FreeableMemory"}


def test_stream_alarms(dev) -> None:
    kinesis = {a["metric_name"]: a for a in alarms(dev).values() if a["namespace"] == "AWS/Kinesis"}
    assert set(kinesis) == {
        "GetRecords.IteratorAgeMilliseconds",
        "ReadProvisionedThroughputExceeded",
        "WriteProvisionedThroughputExceeded",
    }
    stream_key, _ = dev.one("aws_kinesis_stream")
    assert all(
        a["dimensions"] == {"StreamName": dev.ref("aws_kinesis_stream", stream_key, "name")} for a in kinesis.values()
    )


def test_dashboard_shows_stream_cache_and_database(dev) -> None:
    import json

    _, dashboard = dev.one("aws_cloudwatch_dashboard", dashboard_name="japancart-dev")
    namespaces = {m[0] for w in json.loads(dashboard["dashboard_body"])["widgets"] for m in w["properties"]["metrics"]}
    assert namespaces == {"AWS/Kinesis", "AWS/ElastiCache", "AWS/RDS"}


def test_topic_policy_denies_plain_http_and_admits_only_this_projects_publishers(prod) -> None:
    import json

    topic_key, topic = prod.one("aws_sns_topic")
    topic_arn = prod.ref("aws_sns_topic", topic_key, "arn")
    _, policy = prod.one("aws_sns_topic_policy", arn=topic_arn)
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    deny = statements["DenyInsecureTransport"]
    assert (deny["Effect"], deny["Principal"], deny["Action"], deny["Resource"]) == ("Deny", "*", "sns:*", topic_arn)
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for sid, principal, arn in (
        ("PublishForCloudwatch", "cloudwatch.amazonaws.com", ":alarm:japancart-prod-*"),
        ("PublishForEventsRds", "events.rds.amazonaws.com", ":es:japancart-prod-*"),
    ):
        statement = statements[sid]
        assert (statement["Principal"], statement["Action"]) == ({"Service": principal}, "sns:Publish")
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"].endswith(arn)
        assert "aws:SourceAccount" in statement["Condition"]["StringEquals"]
    assert all(s["Principal"] != "*" for s in statements.values() if s["Effect"] == "Allow")


def test_topic_logs_delivery_status_to_encrypted_groups_through_its_own_role(prod) -> None:
    topic_key, topic = prod.one("aws_sns_topic")
    role_key, role = prod.one("aws_iam_role", name="japancart-prod-sns-delivery-status")
    role_arn = prod.ref("aws_iam_role", role_key, "arn")
    for protocol in ("application", "firehose", "http", "lambda", "sqs"):
        assert topic[f"{protocol}_success_feedback_role_arn"] == role_arn
        assert topic[f"{protocol}_failure_feedback_role_arn"] == role_arn
        assert topic[f"{protocol}_success_feedback_sample_rate"] == 100
    trust = prod.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"][0]
    assert trust["principals"][0]["identifiers"] == ["sns.amazonaws.com"]
    conditions = {c["variable"]: c["values"][0] for c in trust["condition"]}
    assert conditions["aws:SourceArn"].endswith(":japancart-prod-alarms") and ":sns:" in conditions["aws:SourceArn"]
    groups = [g for g in prod.resources("aws_cloudwatch_log_group").values() if g["name"].startswith("sns/")]
    assert sorted(g["name"].rsplit("/", 1)[-1] for g in groups) == ["Failure", "japancart-prod-alarms"]
    assert all(g["kms_key_id"] == prod.key_ref("logs") and g["retention_in_days"] == 365 for g in groups)


def test_rds_events_notify_the_topic(prod) -> None:
    topic_ref = prod.ref("aws_sns_topic", prod.one("aws_sns_topic")[0], "arn")
    subscriptions = {s["source_type"]: s for s in prod.resources("aws_db_event_subscription").values()}
    assert set(subscriptions) == {"db-instance", "db-parameter-group"}
    assert all(s["sns_topic"] == topic_ref and s["name"].startswith("japancart-prod-") for s in subscriptions.values())
    assert subscriptions["db-instance"]["source_ids"] == ["japancart-prod-transactions"]
    assert {"failure", "maintenance", "configuration change", "low storage"} <= set(
        subscriptions["db-instance"]["event_categories"]
    )
    group_key, _ = prod.one("aws_db_parameter_group")
    assert subscriptions["db-parameter-group"]["source_ids"] == [prod.ref("aws_db_parameter_group", group_key, "name")]
    assert subscriptions["db-parameter-group"]["event_categories"] == ["configuration change"]


def test_defaults_encrypt_the_topic_evaluate_ten_minutes_and_subscribe_no_one() -> None:
    from bare_stack import default_system

    from constructs_lib.alarms import SystemAlarms, SystemAlarmsProps

    system = default_system()
    SystemAlarms(
        system.bare.stack,
        "alarms",
        SystemAlarmsProps(
            name="bare",
            region="ap-northeast-1",
            topic=system.topic,
            stream=system.stream,
            cache=system.cache,
            database=system.database,
        ),
    )
    stack = system.bare.view()
    _, topic = stack.one("aws_sns_topic", name="bare-alarms")
    assert topic["kms_master_key_id"] == stack.key_ref("logs")
    assert stack.resources("aws_sns_topic_subscription") == {}
    by_name = alarms(stack)
    assert {(a["period"], a["evaluation_periods"]) for a in by_name.values()} == {(300, 2)}
    assert by_name["bare-db-cpu"]["threshold"] == 80 and by_name["bare-cache-001-memory"]["threshold"] == 80
    assert {"bare-cache-001-engine-cpu", "bare-cache-002-engine-cpu"} <= by_name.keys()  # one per default node


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"alert_emails": ("not-an-email",)}, "alert_emails[0] must be an e-mail address", id="bad-email"),
        pytest.param(
            {"alert_emails": ("a@example.com", "A@example.com")},
            "alert_emails[1] must be an address not listed",
            id="duplicate-email",
        ),
        pytest.param({"period_seconds": 120}, "period_seconds must be one of", id="period-not-a-cloudwatch-value"),
        pytest.param({"evaluation_periods": 0}, "evaluation_periods must be a whole number from 1", id="no-periods"),
        pytest.param({"log_retention_days": 10}, "log_retention_days must be one of", id="log-retention-unknown"),
        pytest.param({"name": "bare alarms"}, "name must be letters, digits", id="name-malformed"),
    ],
)
def test_fails_when_a_topic_prop_is_refused(overrides: dict, message: str) -> None:
    from bare_stack import bare_stack

    from constructs_lib.alarms import AlertTopicProps
    from processor.contract import ConfigError

    with pytest.raises(ConfigError) as raised:
        AlertTopicProps(**{"name": "bare", "key": bare_stack(network=False).keys.logs, **overrides})
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"db_connections": 1.5}, "db_connections must be a whole number", id="fractional-connections"),
        pytest.param({"db_cpu_percent": 101}, "db_cpu_percent must be a number from 1 to 100", id="cpu-over-100"),
        pytest.param(
            {"cache_replication_lag_seconds": -1},
            "cache_replication_lag_seconds must be a number from 0",
            id="negative-lag",
        ),
        pytest.param({"region": "tokyo"}, "region must be an AWS region", id="region-malformed"),
    ],
)
def test_fails_when_an_alarm_prop_is_refused(overrides: dict, message: str) -> None:
    from bare_stack import default_system

    from constructs_lib.alarms import SystemAlarmsProps
    from processor.contract import ConfigError

    system = default_system()
    with pytest.raises(ConfigError) as raised:
        SystemAlarmsProps(
            **{
                "name": "bare",
                "region": "ap-northeast-1",
                "topic": system.topic,
                "stream": system.stream,
                "cache": system.cache,
                "database": system.database,
                **overrides,
            }
        )
    assert message in str(raised.value)

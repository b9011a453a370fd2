"""The processor's wiring: private Lambda, stream source with failure handling, least privilege, alarms."""

from __future__ import annotations


def test_function_runs_privately_with_the_app_security_group(dev) -> None:
    _, function = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    assert (function["runtime"], function["handler"]) == ("python3.12", "processor.handler.handle")
    app_key, _ = dev.one("aws_security_group", name="japancart-dev-app")
    assert function["vpc_config"]["security_group_ids"] == [dev.ref("aws_security_group", app_key, "id")]
    private = {dev.ref("aws_subnet", k, "id") for k, s in dev.resources("aws_subnet").items()
               if s["tags"]["Tier"] == "private"}
    assert set(function["vpc_config"]["subnet_ids"]) == private
    assert function["reserved_concurrent_executions"] == 5
    assert function["filename"].endswith("/transaction-processor.zip") and function["source_code_hash"]


def test_function_gets_secret_arns_and_thresholds_but_no_secret_values(dev) -> None:
    _, function = dev.one("aws_lambda_function")
    variables = function["environment"]["variables"]
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    redis_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/redis-auth")
    assert variables["DB_CONNECTION_SECRET_ARN"] == dev.ref("aws_secretsmanager_secret", db_secret, "arn")
    assert variables["REDIS_SECRET_ARN"] == dev.ref("aws_secretsmanager_secret", redis_secret, "arn")
    assert variables["HISTORY_TTL_SECONDS"] == "86400" and variables["ENVIRONMENT"] == "dev"
    assert not any("random_password" in v or "secret_string" in v for v in variables.values())


def test_stream_source_reports_item_failures_and_dead_letters(dev) -> None:
    stream_key, _ = dev.one("aws_kinesis_stream")
    queue_key, queue = dev.one("aws_sqs_queue")
    key_ref = dev.ref("aws_kms_key", dev.one("aws_kms_key")[0], "arn")
    assert queue["kms_master_key_id"] == key_ref
    _, mapping = dev.one("aws_lambda_event_source_mapping")
    assert mapping["event_source_arn"] == dev.ref("aws_kinesis_stream", stream_key, "arn")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    assert mapping["maximum_retry_attempts"] == 5 and mapping["maximum_record_age_in_seconds"] == 21600
    assert mapping["destination_config"]["on_failure"]["destination_arn"] == dev.ref("aws_sqs_queue", queue_key, "arn")
    assert (mapping["batch_size"], mapping["starting_position"]) == (500, "TRIM_HORIZON")


def test_role_has_least_privilege(dev) -> None:
    _, role = dev.one("aws_iam_role", name="japancart-dev-processor")
    _, policy = dev.one("aws_iam_role_policy", name="transaction-processor")
    document_key = policy["policy"].split(".")[2]
    statements = {s["sid"]: s for s in dev.data("aws_iam_policy_document")[document_key]["statement"]}
    stream_key, _ = dev.one("aws_kinesis_stream")
    assert statements["ReadTheTransactionStream"]["resources"] == [dev.ref("aws_kinesis_stream", stream_key, "arn")]
    secrets = statements["ReadStoreCredentials"]["resources"]
    assert len(secrets) == 3 and any("master_user_secret[0].secret_arn" in s for s in secrets)
    assert statements["ReadStoreCredentials"]["actions"] == ["secretsmanager:GetSecretValue"]
    wildcard = {sid for sid, s in statements.items() if s["resources"] == ["*"]}
    assert wildcard == {"AttachToThePrivateSubnets", "PublishTraces"}
    assert all(not a.endswith(":*") for s in statements.values() for a in s["actions"])


def test_processor_alarms_notify_the_topic(dev) -> None:
    topic_ref = dev.ref("aws_sns_topic", dev.one("aws_sns_topic")[0], "arn")
    alarms = {a["alarm_name"]: a for a in dev.resources("aws_cloudwatch_metric_alarm").values()}
    names = {"japancart-dev-processor-errors", "japancart-dev-processor-throttles",
             "japancart-dev-processor-iterator-age", "japancart-dev-processor-dead-letters",
             "japancart-dev-transaction-rule-hits"}
    assert names <= set(alarms)
    assert all(alarms[n]["alarm_actions"] == [topic_ref] for n in names)
    rule_hits = alarms["japancart-dev-transaction-rule-hits"]
    assert (rule_hits["namespace"], rule_hits["metric_name"]) == ("JapanCart/TransactionMonitoring", "RuleHits")
    assert rule_hits["dimensions"] == {"Environment": "dev"}
    queue_key, _ = dev.one("aws_sqs_queue", name="japancart-dev-processor-dlq")
    assert alarms["japancart-dev-processor-dead-letters"]["dimensions"] == {
        "QueueName": dev.ref("aws_sqs_queue", queue_key, "name")}

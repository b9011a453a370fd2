"""The processor's wiring: private Lambda, stream source with failure handling, least privilege, the schema
migration run once per change, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from environments import synth_environment

from constructs_lib.processor import dead_letter_retention_seconds
from processor.contract import APP_DB_USER, ConfigError
from processor.migrate import migrations_checksum


def statements_of(stack, role_name: str) -> dict[str, dict]:
    """The inline policy statements (by sid) of the role named `role_name`."""
    role_key, _ = stack.one("aws_iam_role", name=role_name)
    _, policy = stack.one("aws_iam_role_policy", role=stack.ref("aws_iam_role", role_key, "id"))
    document_key = policy["policy"].split(".")[2]
    return {s["sid"]: s for s in stack.data("aws_iam_policy_document")[document_key]["statement"]}


def test_function_runs_privately_with_the_app_security_group(dev) -> None:
    _, function = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    assert (function["runtime"], function["handler"]) == ("python3.12", "processor.handler.handle")
    app_key, _ = dev.one("aws_security_group", name="japancart-dev-app")
    assert function["vpc_config"]["security_group_ids"] == [dev.ref("aws_security_group", app_key, "id")]
    private = {
        dev.ref("aws_subnet", k, "id") for k, s in dev.resources("aws_subnet").items() if s["tags"]["Tier"] == "private"
    }
    assert set(function["vpc_config"]["subnet_ids"]) == private
    assert function["reserved_concurrent_executions"] == 5
    assert function["filename"].endswith("/transaction-processor.zip") and function["source_code_hash"]


def test_function_gets_secret_arns_and_thresholds_but_no_secret_values(dev) -> None:
    _, function = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    variables = function["environment"]["variables"]
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    group_key, _ = dev.one("aws_elasticache_replication_group")
    assert variables["DB_CONNECTION_SECRET_ARN"] == dev.ref("aws_secretsmanager_secret", db_secret, "arn")
    assert variables["HISTORY_TTL_SECONDS"] == "86400" and variables["ENVIRONMENT"] == "dev"
    assert variables["DB_AUTH"] == "iam" and variables["REDIS_AUTH"] == "iam"
    # The only source whose records the function accepts: the stream its mapping reads.
    stream_key, _ = dev.one("aws_kinesis_stream")
    assert variables["STREAM_ARN"] == dev.ref("aws_kinesis_stream", stream_key, "arn")
    # Redis: where, as whom and for which replication group to sign IAM tokens; no secret, no password.
    assert variables["REDIS_HOST"] == dev.ref(
        "aws_elasticache_replication_group", group_key, "primary_endpoint_address"
    )
    assert (variables["REDIS_PORT"], variables["REDIS_USER"], variables["REDIS_CACHE_NAME"]) == (
        "6379",
        "japancart-dev-history-processor",
        "japancart-dev-history",
    )
    assert set(variables) == {
        "DB_CONNECTION_SECRET_ARN",
        "DB_AUTH",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_USER",
        "REDIS_CACHE_NAME",
        "REDIS_AUTH",
        "HISTORY_TTL_SECONDS",
        "RULE_MAX_TXNS_PER_HOUR",
        "RULE_MAX_DAILY_TOTAL",
        "RULE_MAX_SINGLE_AMOUNT",
        "METRIC_NAMESPACE",
        "ENVIRONMENT",
        "STREAM_ARN",
    }
    assert not any(
        "random_password" in v or "secret_string" in v or "master_user_secret" in v for v in variables.values()
    )


def test_stream_source_reports_item_failures_and_dead_letters(dev) -> None:
    stream_key, _ = dev.one("aws_kinesis_stream")
    queue_key, queue = dev.one("aws_sqs_queue")
    assert queue["kms_master_key_id"] == dev.key_ref("data")
    _, mapping = dev.one("aws_lambda_event_source_mapping")
    assert mapping["event_source_arn"] == dev.ref("aws_kinesis_stream", stream_key, "arn")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert mapping["bisect_batch_on_function_error"] is True
    # Retry until the record is 6 h old: an outage shorter than that loses nothing.
    assert mapping["maximum_retry_attempts"] == -1 and mapping["maximum_record_age_in_seconds"] == 21600
    # Pointers stay useful while the 24 h stream still holds the record: 24 h - 6 h.
    assert queue["message_retention_seconds"] == 18 * 3600
    assert mapping["destination_config"]["on_failure"]["destination_arn"] == dev.ref("aws_sqs_queue", queue_key, "arn")
    assert (mapping["batch_size"], mapping["starting_position"]) == (500, "TRIM_HORIZON")


def test_role_has_least_privilege(dev) -> None:
    statements = statements_of(dev, "japancart-dev-processor")
    stream_key, _ = dev.one("aws_kinesis_stream")
    assert statements["ReadTheTransactionStream"]["resources"] == [dev.ref("aws_kinesis_stream", stream_key, "arn")]
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    assert statements["ReadStoreCredentials"]["resources"] == [dev.ref("aws_secretsmanager_secret", db_secret, "arn")]
    assert statements["ReadStoreCredentials"]["actions"] == ["secretsmanager:GetSecretValue"]
    group_key, _ = dev.one("aws_elasticache_replication_group")
    app_key, _ = dev.one("aws_elasticache_user", user_name="japancart-dev-history-processor")
    connect = statements["SignInToTheHistoryAsTheAppUser"]
    assert (connect["actions"], connect["resources"]) == (
        ["elasticache:Connect"],
        [
            dev.ref("aws_elasticache_replication_group", group_key, "arn"),
            dev.ref("aws_elasticache_user", app_key, "arn"),
        ],
    )  # the group and its app user only
    assert [sid for sid, s in statements.items() if "elasticache:Connect" in s["actions"]] == [
        "SignInToTheHistoryAsTheAppUser"
    ]
    wildcard = {sid for sid, s in statements.items() if s["resources"] == ["*"]}
    assert wildcard == {"AttachToThePrivateSubnets", "PublishTraces"}
    assert all(not a.endswith(":*") for s in statements.values() for a in s["actions"])


def test_processor_never_reads_the_master_secret(dev) -> None:
    statements = statements_of(dev, "japancart-dev-processor")
    everything = json.dumps(statements)
    assert "master_user_secret" not in everything
    assert [sid for sid, s in statements.items() if "secretsmanager:GetSecretValue" in s["actions"]] == [
        "ReadStoreCredentials"
    ]


def test_processor_signs_in_to_postgres_as_the_application_role_only(dev) -> None:
    statements = statements_of(dev, "japancart-dev-processor")
    db_key, _ = dev.one("aws_db_instance")
    connect = [s for s in statements.values() if any(a.startswith("rds-db:") for a in s["actions"])]
    assert len(connect) == 1 and connect[0]["actions"] == ["rds-db:connect"]
    (resource,) = connect[0]["resources"]
    # arn:<partition>:rds-db:<region>:<account>:dbuser:<DbiResourceId>/txn_writer, all from the stack's own data
    partition = "${data.aws_partition.account_partition_"
    assert resource.startswith(f"arn:{partition}") and ":rds-db:${data.aws_region.account_region_" in resource
    assert ":${data.aws_caller_identity.account_" in resource
    assert resource.endswith(f":dbuser:${{aws_db_instance.{db_key}.resource_id}}/{APP_DB_USER}")
    assert "*" not in resource


def test_migration_function_runs_privately_from_the_same_zip(dev) -> None:
    _, processor = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    role_key, _ = dev.one("aws_iam_role", name="japancart-dev-migrate")
    _, migrate = dev.one("aws_lambda_function", function_name="japancart-dev-migrate")
    assert migrate["handler"] == "processor.migrate.handle" and migrate["runtime"] == processor["runtime"]
    assert (migrate["filename"], migrate["source_code_hash"]) == (processor["filename"], processor["source_code_hash"])
    assert migrate["role"] == dev.ref("aws_iam_role", role_key, "arn") != processor["role"]
    assert migrate["vpc_config"] == processor["vpc_config"] and migrate["kms_key_arn"] == processor["kms_key_arn"]
    assert migrate["timeout"] == 300 and migrate["reserved_concurrent_executions"] == 1
    assert migrate["environment"]["variables"] == {
        "DB_CONNECTION_SECRET_ARN": processor["environment"]["variables"]["DB_CONNECTION_SECRET_ARN"]
    }
    log_key, _ = dev.one("aws_cloudwatch_log_group", name="/aws/lambda/japancart-dev-migrate")
    assert migrate["logging_config"]["log_group"] == dev.ref("aws_cloudwatch_log_group", log_key, "name")
    sources = [m["function_name"] for m in dev.resources("aws_lambda_event_source_mapping").values()]
    assert sources == [
        dev.ref(
            "aws_lambda_function", dev.one("aws_lambda_function", function_name="japancart-dev-processor")[0], "arn"
        )
    ]


def test_only_the_migration_role_reads_the_master_secret(dev) -> None:
    db_key, _ = dev.one("aws_db_instance")
    master = f"${{aws_db_instance.{db_key}.master_user_secret[0].secret_arn}}"
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    statements = statements_of(dev, "japancart-dev-migrate")
    readers = [s for s in statements.values() if "secretsmanager:GetSecretValue" in s["actions"]]
    assert len(readers) == 1
    assert readers[0]["resources"] == [dev.ref("aws_secretsmanager_secret", db_secret, "arn"), master]
    secrets_key = dev.key_ref("secrets")
    via = "${data.aws_region.account_region_"
    for sid, service in (("DecryptMigrationCredentials", "secretsmanager"), ("DecryptOwnEnvironment", "lambda")):
        statement = statements[sid]
        assert (statement["actions"], statement["resources"]) == (["kms:Decrypt"], [secrets_key])
        (condition,) = statement["condition"]
        assert (condition["test"], condition["variable"]) == ("StringEquals", "kms:ViaService")
        (value,) = condition["values"]
        assert value.startswith(f"{service}.{via}") and value.endswith(".name}.amazonaws.com")
    log_key, _ = dev.one("aws_cloudwatch_log_group", name="/aws/lambda/japancart-dev-migrate")
    assert statements["WriteOwnLogs"]["resources"] == [f"{dev.ref('aws_cloudwatch_log_group', log_key, 'arn')}:*"]
    assert {sid for sid, s in statements.items() if s["resources"] == ["*"]} == {
        "AttachToThePrivateSubnets",
        "PublishTraces",
    }
    # No other policy of the stack names it.
    naming = [
        s["sid"]
        for document in dev.data("aws_iam_policy_document").values()
        for s in document["statement"]
        if master in json.dumps(s)
    ]
    assert naming == ["ReadMigrationCredentials"]


def test_migration_runs_once_per_migrations_checksum_before_the_stream_source(dev) -> None:
    function_key, _ = dev.one("aws_lambda_function", function_name="japancart-dev-migrate")
    invocation_key, invocation = dev.one("aws_lambda_invocation")
    checksum = migrations_checksum()
    assert invocation["function_name"] == dev.ref("aws_lambda_function", function_key, "function_name")
    retention = {
        "transaction_retention_months": 84,
        "rejected_retention_days": 90,
        "conflict_retention_days": 90,
        "alert_retention_days": 2555,
        "partition_drop_grace_days": 30,
        "export_before_drop": False,
    }
    assert json.loads(invocation["input"]) == {"checksum": checksum, "retention": retention}
    assert invocation["triggers"] == {
        "migrations_checksum": checksum,
        "retention": json.dumps(retention, sort_keys=True),
    }
    assert invocation.get("lifecycle_scope", "CREATE_ONLY") == "CREATE_ONLY" and "qualifier" not in invocation
    policy_key, _ = dev.one("aws_iam_role_policy", name="schema-migration")
    endpoint_key, _ = dev.one("aws_vpc_endpoint", vpc_endpoint_type="Interface")
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    version_key, _ = dev.one(
        "aws_secretsmanager_secret_version", secret_id=dev.ref("aws_secretsmanager_secret", db_secret, "id")
    )
    assert set(invocation["depends_on"]) == {
        f"aws_iam_role_policy.{policy_key}",
        f"aws_vpc_endpoint.{endpoint_key}",
        f"aws_secretsmanager_secret_version.{version_key}",
    }
    _, mapping = dev.one("aws_lambda_event_source_mapping")
    assert mapping["depends_on"] == [f"aws_lambda_invocation.{invocation_key}"]


def test_a_new_migration_changes_the_invocation_and_nothing_else(tmp_path: Path) -> None:
    from cdktf import Testing
    from config_files import write_config

    from constructs_lib.bundled_function import LambdaBundle
    from stacks.config import load_config
    from stacks.monitoring_stack import TransactionMonitoringStack
    from synthesis import StackView

    config = load_config({"JAPANCART_CONFIG": str(write_config(tmp_path, {"dev": {}}))})

    def synth(checksum: str) -> StackView:
        bundle = LambdaBundle(
            path=str(Path(__file__).resolve()), sha256_base64="dGVzdA==", migrations_checksum=checksum
        )
        return StackView(
            json.loads(Testing.synth(TransactionMonitoringStack(Testing.app(), config, config.environments[0], bundle)))
        )

    before, after = synth("a" * 64), synth("b" * 64)
    ((_, run_before),) = before.resources("aws_lambda_invocation").items()
    ((_, run_after),) = after.resources("aws_lambda_invocation").items()
    assert (
        run_after["triggers"]["migrations_checksum"] == "b" * 64
        and json.loads(run_after["input"])["checksum"] == "b" * 64
    )
    changed = {(t, k) for t, k, body in after if before.resources(t).get(k) != body}
    assert changed == {("aws_lambda_invocation", key) for key in after.resources("aws_lambda_invocation")}


def test_processor_alarms_notify_the_topic(dev) -> None:
    topic_ref = dev.ref("aws_sns_topic", dev.one("aws_sns_topic")[0], "arn")
    alarms = {a["alarm_name"]: a for a in dev.resources("aws_cloudwatch_metric_alarm").values()}
    names = {
        "japancart-dev-processor-errors",
        "japancart-dev-processor-throttles",
        "japancart-dev-processor-iterator-age",
        "japancart-dev-processor-dead-letters",
        "japancart-dev-transaction-rule-hits",
        "japancart-dev-transaction-conflicts",
    }
    assert names <= set(alarms)
    assert all(alarms[n]["alarm_actions"] == [topic_ref] for n in names)
    rule_hits = alarms["japancart-dev-transaction-rule-hits"]
    assert (rule_hits["namespace"], rule_hits["metric_name"]) == ("JapanCart/TransactionMonitoring", "RuleHits")
    assert rule_hits["dimensions"] == {"Environment": "dev"}
    conflicts = alarms["japancart-dev-transaction-conflicts"]
    assert (conflicts["namespace"], conflicts["metric_name"], conflicts["statistic"]) == (
        "JapanCart/TransactionMonitoring",
        "TransactionConflicts",
        "Sum",
    )
    assert conflicts["dimensions"] == {"Environment": "dev"}
    assert (conflicts["comparison_operator"], conflicts["threshold"]) == ("GreaterThanThreshold", 0)
    queue_key, _ = dev.one("aws_sqs_queue", name="japancart-dev-processor-dlq")
    assert alarms["japancart-dev-processor-dead-letters"]["dimensions"] == {
        "QueueName": dev.ref("aws_sqs_queue", queue_key, "name")
    }


def test_each_retry_setting_reaches_the_stream_source_and_the_queue(tmp_path: Path) -> None:
    stack = synth_environment(
        tmp_path,
        stream={"retention_hours": 48},
        processor={"max_retries": 100, "max_record_age_seconds": 3600, "conflicts_threshold": 3},
    )
    _, mapping = stack.one("aws_lambda_event_source_mapping")
    assert (mapping["maximum_retry_attempts"], mapping["maximum_record_age_in_seconds"]) == (100, 3600)
    assert stack.one("aws_sqs_queue")[1]["message_retention_seconds"] == 47 * 3600
    assert (
        stack.one("aws_cloudwatch_metric_alarm", alarm_name="japancart-dev-transaction-conflicts")[1]["threshold"] == 3
    )


@pytest.mark.parametrize(
    "retention_hours, max_age, expected",
    [
        (24, 21_600, 18 * 3600),  # the defaults
        (48, 21_600, 42 * 3600),  # prod
        (25, 86_400, 3600),  # exactly the one-hour minimum
        (8760, 21_600, 14 * 24 * 3600),  # a year of stream retention: SQS keeps at most 14 days
    ],
)
def test_dead_letter_retention_is_what_the_stream_still_holds(
    retention_hours: int, max_age: int, expected: int
) -> None:
    assert dead_letter_retention_seconds(retention_hours, max_age) == expected


def test_fails_when_dead_letters_would_point_at_expired_records() -> None:
    with pytest.raises(ConfigError) as raised:
        dead_letter_retention_seconds(24, 86_400)
    assert str(raised.value) == (
        "stream.retention_hours must be at least 25 when processor.max_record_age_seconds is "
        "86400 (a dead-lettered record must stay readable in the stream for an hour), got 24"
    )


def test_dead_letter_queue_refuses_plain_http_and_every_sender_but_the_processor(dev) -> None:
    queue_key, _ = dev.one("aws_sqs_queue")
    _, policy = dev.one("aws_sqs_queue_policy", queue_url=dev.ref("aws_sqs_queue", queue_key, "url"))
    tls, sender = json.loads(policy["policy"])["Statement"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", "sqs:*")
    assert tls["Resource"] == dev.ref("aws_sqs_queue", queue_key, "arn")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Lambda delivers the mapping's on-failure records as the function's execution role: the one sender.
    role_key, _ = dev.one("aws_iam_role", name="japancart-dev-processor")
    assert sender == {
        "Sid": "OnlyTheProcessorSendsFailures",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": dev.ref("aws_sqs_queue", queue_key, "arn"),
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": dev.ref("aws_iam_role", role_key, "arn")}},
    }
    assert statements_of(dev, "japancart-dev-processor")["SendFailuresToTheDeadLetterQueue"]["actions"] == [
        "sqs:SendMessage"
    ]


def test_no_async_dead_letter_queue_copies_payloads_into_the_pointer_queue(dev) -> None:
    _, function = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    assert "dead_letter_config" not in function
    skips = {s["id"]: s["comment"] for s in function["//"]["checkov"]["skip"]}
    assert "on-failure destination keeps pointers only" in skips["CKV_AWS_116"]


def test_replay_role_may_do_what_the_replay_tool_does_and_nothing_else(dev) -> None:
    queue_key, _ = dev.one("aws_sqs_queue")
    stream_key, _ = dev.one("aws_kinesis_stream")
    function_key, _ = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    statements = statements_of(dev, "japancart-dev-replay")
    assert {
        sid: (s["actions"], s["resources"])
        for sid, s in statements.items()
        if sid not in ("DecryptFailurePointers", "DecryptTheStream")
    } == {
        "SettleFailurePointers": (
            ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
            [dev.ref("aws_sqs_queue", queue_key, "arn")],
        ),
        "ReadTheTransactionStream": (
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [dev.ref("aws_kinesis_stream", stream_key, "arn")],
        ),
        "InvokeTheProcessor": (["lambda:InvokeFunction"], [dev.ref("aws_lambda_function", function_key, "arn")]),
    }
    for sid, service in (("DecryptFailurePointers", "sqs"), ("DecryptTheStream", "kinesis")):
        statement = statements[sid]
        assert (statement["actions"], statement["resources"]) == (["kms:Decrypt"], [dev.key_ref("data")])
        (condition,) = statement["condition"]
        assert condition["variable"] == "kms:ViaService" and condition["values"][0].startswith(f"{service}.")


def test_replay_role_is_for_this_account_s_principals_with_mfa_only(dev) -> None:
    role_key, role = dev.one("aws_iam_role", name="japancart-dev-replay")
    (statement,) = dev.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"]
    assert statement["actions"] == ["sts:AssumeRole"]
    (principal,) = statement["principals"]
    (root,) = principal["identifiers"]
    assert principal["type"] == "AWS" and root.startswith("arn:${data.aws_partition.account_partition_")
    assert ":iam::${data.aws_caller_identity.account_" in root and root.endswith(":root")
    assert statement["condition"] == [{"test": "Bool", "variable": "aws:MultiFactorAuthPresent", "values": ["true"]}]
    assert dev.document["output"]["replay_role_arn"]["value"] == dev.ref("aws_iam_role", role_key, "arn")


@pytest.mark.parametrize("role_name", ["japancart-dev-processor", "japancart-dev-migrate", "japancart-dev-maintain"])
def test_lambda_roles_trust_lambda_for_this_account_only(dev, role_name: str) -> None:
    _, role = dev.one("aws_iam_role", name=role_name)
    (statement,) = dev.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"]
    assert statement["principals"][0]["identifiers"] == ["lambda.amazonaws.com"]
    (condition,) = statement["condition"]
    assert (condition["test"], condition["variable"]) == ("StringEquals", "aws:SourceAccount")
    assert condition["values"][0].startswith("${data.aws_caller_identity.account_")


def test_defaults_retry_until_six_hours_keep_a_day_of_history_and_grant_only_what_is_read() -> None:
    from bare_stack import default_system

    system = default_system()
    stack = system.bare.view()
    _, function = stack.one("aws_lambda_function", function_name="bare-processor")
    variables = function["environment"]["variables"]
    assert variables["HISTORY_TTL_SECONDS"] == "86400" and variables["DB_AUTH"] == "iam"
    assert (function["memory_size"], function["timeout"], function["reserved_concurrent_executions"]) == (512, 60, 5)
    assert function["tracing_config"] == {"mode": "Active"} and function["kms_key_arn"] == stack.key_ref("secrets")
    _, source = stack.one("aws_lambda_event_source_mapping")
    assert (source["maximum_retry_attempts"], source["maximum_record_age_in_seconds"]) == (-1, 21_600)
    assert source["bisect_batch_on_function_error"] is True
    # 24 h stream retention minus 6 h record age: the dead-letter pointers stay readable 18 h.
    assert stack.one("aws_sqs_queue")[1]["message_retention_seconds"] == 18 * 3600
    statements = statements_of(stack, "bare-processor")
    secret = stack.ref(
        "aws_secretsmanager_secret",
        stack.one("aws_secretsmanager_secret", name="bare-transactions/db-connection")[0],
        "arn",
    )
    assert statements["ReadStoreCredentials"]["resources"] == [secret]
    assert variables["REDIS_AUTH"] == "iam" and variables["REDIS_USER"] == "bare-history-processor"
    assert statements["SignInToTheHistoryAsTheAppUser"]["actions"] == ["elasticache:Connect"]
    stream_key, _ = stack.one("aws_kinesis_stream")
    assert statements["ReadTheTransactionStream"]["resources"] == [stack.ref("aws_kinesis_stream", stream_key, "arn")]
    assert "master_user_secret" not in json.dumps(statements)  # never the master password


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param(
            {"history_ttl_seconds": 3600},
            "history_ttl_seconds must be a whole number from 86400",
            id="history-shorter-than-the-daily-rule",
        ),
        pytest.param({"memory_mb": 512.5}, "memory_mb must be a whole number", id="fractional-memory"),
        pytest.param(
            {"max_retries": -2}, "max_retries must be -1 (until max_record_age_seconds)", id="retries-below-minus-one"
        ),
        pytest.param(
            {"max_record_age_seconds": 86_400},
            "stream.retention_hours must be at least 25",
            id="dead-letters-outlive-the-stream",
        ),
        pytest.param({"name": "a" * 55}, "name must be letters, digits", id="name-too-long"),
        pytest.param({"environment": "Prod"}, "environment must be a short lowercase name", id="environment-malformed"),
        pytest.param({"log_retention_days": 10}, "log_retention_days must be one of", id="log-retention-unknown"),
    ],
)
def test_fails_when_a_prop_is_refused(overrides: dict, message: str) -> None:
    from bare_stack import default_system

    from constructs_lib.bundled_function import LambdaBundle
    from constructs_lib.processor import TransactionProcessorProps

    system = default_system()
    required = dict(
        name="bare",
        environment="dev",
        keys=system.bare.keys,
        networking=system.bare.network,
        bundle=LambdaBundle(path=__file__, sha256_base64="dGVzdA==", migrations_checksum="0" * 64),
        stream=system.stream,
        cache=system.cache,
        database=system.database,
        topic=system.topic,
    )
    with pytest.raises(ConfigError) as raised:
        TransactionProcessorProps(**{**required, **overrides})
    assert message in str(raised.value)

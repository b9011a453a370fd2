"""The daily data lifecycle's wiring: its own function and role (the maintainer, never the master), the schedule,
the alarm, and the state of the resources it took over from the migration function."""

from __future__ import annotations

import json

import cdktf
import pytest
from constructs import Construct
from test_processor_construct import statements_of

from constructs_lib.maintenance import FORMER_PATHS, DataMaintenanceProps, logical_id
from processor.contract import MAINTAINER_DB_USER, ConfigError


def test_maintenance_function_runs_privately_from_the_processors_zip(dev) -> None:
    _, processor = dev.one("aws_lambda_function", function_name="japancart-dev-processor")
    role_key, _ = dev.one("aws_iam_role", name="japancart-dev-maintain")
    _, maintain = dev.one("aws_lambda_function", function_name="japancart-dev-maintain")
    assert (maintain["handler"], maintain["runtime"]) == ("processor.maintain.handle", processor["runtime"])
    assert (maintain["filename"], maintain["source_code_hash"]) == (
        processor["filename"],
        processor["source_code_hash"],
    )
    assert maintain["role"] == dev.ref("aws_iam_role", role_key, "arn") != processor["role"]
    assert maintain["vpc_config"] == processor["vpc_config"] and maintain["kms_key_arn"] == processor["kms_key_arn"]
    assert (maintain["timeout"], maintain["reserved_concurrent_executions"]) == (300, 1)
    assert maintain["environment"]["variables"] == {
        "DB_CONNECTION_SECRET_ARN": processor["environment"]["variables"]["DB_CONNECTION_SECRET_ARN"],
        "DB_AUTH": "iam",
    }
    log_key, _ = dev.one("aws_cloudwatch_log_group", name="/aws/lambda/japancart-dev-maintain")
    assert maintain["logging_config"]["log_group"] == dev.ref("aws_cloudwatch_log_group", log_key, "name")


def test_maintenance_role_signs_in_as_the_maintainer_only_and_never_reads_the_master_secret(dev) -> None:
    db_key, _ = dev.one("aws_db_instance")
    db_secret, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    statements = statements_of(dev, "japancart-dev-maintain")
    assert statements["ReadWhereToConnect"]["resources"] == [dev.ref("aws_secretsmanager_secret", db_secret, "arn")]
    (connect,) = [s for s in statements.values() if "rds-db:connect" in s["actions"]]
    assert connect["actions"] == ["rds-db:connect"] and connect["sid"] == "SignInAsTheMaintainerRole"
    (resource,) = connect["resources"]
    assert resource.endswith(f":dbuser:${{aws_db_instance.{db_key}.resource_id}}/{MAINTAINER_DB_USER}")
    assert "master_user_secret" not in json.dumps(statements)
    assert {sid for sid, s in statements.items() if s["resources"] == ["*"]} == {
        "AttachToThePrivateSubnets",
        "PublishTraces",
    }
    assert set(statements) == {
        "ReadWhereToConnect",
        "SignInAsTheMaintainerRole",
        "DecryptWhereToConnect",
        "DecryptOwnEnvironment",
        "WriteOwnLogs",
        "AttachToThePrivateSubnets",
        "PublishTraces",
    }
    # The migration function no longer runs the upkeep: nothing schedules it.
    migrate_key, _ = dev.one("aws_lambda_function", function_name="japancart-dev-migrate")
    assert dev.ref("aws_lambda_function", migrate_key, "arn") not in json.dumps(dev.resources("aws_scheduler_schedule"))


def test_daily_schedule_invokes_the_maintenance_function_under_its_own_role(dev) -> None:
    function_key, _ = dev.one("aws_lambda_function", function_name="japancart-dev-maintain")
    function_arn = dev.ref("aws_lambda_function", function_key, "arn")
    _, schedule = dev.one("aws_scheduler_schedule", name="japancart-dev-data-lifecycle")
    assert (schedule["schedule_expression"], schedule["schedule_expression_timezone"]) == ("cron(30 17 * * ? *)", "UTC")
    assert schedule["flexible_time_window"] == {"mode": "OFF"}
    target = schedule["target"]
    assert target["arn"] == function_arn and json.loads(target["input"]) == {"action": "maintain"}
    assert target["retry_policy"] == {"maximum_retry_attempts": 2}
    invocation_key, _ = dev.one("aws_lambda_invocation")
    assert schedule["depends_on"] == [f"aws_lambda_invocation.{invocation_key}"]  # after the role exists
    role_key, role = dev.one("aws_iam_role", name="japancart-dev-data-lifecycle")
    assert target["role_arn"] == dev.ref("aws_iam_role", role_key, "arn")
    (trust,) = dev.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"]
    assert trust["principals"][0]["identifiers"] == ["scheduler.amazonaws.com"]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in trust["condition"]}
    assert conditions["aws:SourceAccount"][0] == "StringEquals"
    test, (arn,) = conditions["aws:SourceArn"]
    assert test == "ArnLike" and arn.endswith(":schedule/default/japancart-dev-data-lifecycle")
    assert statements_of(dev, "japancart-dev-data-lifecycle") == {
        "InvokeTheMaintenanceFunction": {
            "sid": "InvokeTheMaintenanceFunction",
            "actions": ["lambda:InvokeFunction"],
            "resources": [function_arn],
        }
    }
    alarm = dev.one("aws_cloudwatch_metric_alarm", alarm_name="japancart-dev-data-lifecycle-errors")[1]
    assert (alarm["namespace"], alarm["metric_name"], alarm["threshold"]) == ("AWS/Lambda", "Errors", 0)
    assert alarm["dimensions"] == {"FunctionName": "japancart-dev-maintain"}
    topic_ref = dev.ref("aws_sns_topic", dev.one("aws_sns_topic")[0], "arn")
    assert alarm["alarm_actions"] == alarm["ok_actions"] == [topic_ref]


def test_the_schedule_its_role_and_the_alarm_keep_their_terraform_addresses(dev) -> None:
    """They lived under the migration function; keeping their addresses keeps them in an existing environment
    instead of destroying and recreating resources of the same names (which IAM and Scheduler would refuse,
    and which would delete the recreated alarm). The addresses are the ones main synthesized."""
    kept = {
        "aws_iam_role": ("japancart-dev-data-lifecycle", "processor_migration_schedule-role_4C98A7C2"),
        "aws_iam_role_policy": ("invoke-data-lifecycle", "processor_migration_schedule-policy_05992831"),
        "aws_scheduler_schedule": ("japancart-dev-data-lifecycle", "processor_migration_schedule_46995E6D"),
    }
    for kind, (name, address) in kept.items():
        assert dev.one(kind, name=name)[0] == address
    assert (
        dev.one("aws_cloudwatch_metric_alarm", alarm_name="japancart-dev-data-lifecycle-errors")[0]
        == "processor_data-lifecycle-errors_ADCCAB7A"
    )
    assert {logical_id(path) for path in FORMER_PATHS.values()} == {
        *(address for _, address in kept.values()),
        "processor_data-lifecycle-errors_ADCCAB7A",
    }
    assert "moved" not in dev.document  # checkov's terraform_json parser cannot read moved blocks


@pytest.mark.parametrize("path", list(FORMER_PATHS.values()) + ["maintenance/schedule"])
def test_logical_id_is_the_one_cdktf_gives(path: str) -> None:
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue

    stack = cdktf.TerraformStack(cdktf.Testing.app(), "probe")
    AwsProvider(stack, "aws", region="ap-northeast-1")
    scope: Construct = stack
    *parents, leaf = path.split("/")
    for part in parents:
        scope = Construct(scope, part)
    SqsQueue(scope, leaf)
    assert list(json.loads(cdktf.Testing.synth(stack))["resource"]["aws_sqs_queue"]) == [logical_id(path)]


def test_defaults_and_refusals() -> None:
    from bare_stack import default_system

    from constructs_lib.maintenance import DataMaintenance

    system = default_system()
    props = dict(
        name="bare",
        bundle=_bundle(),
        code=system.processor.code,
        after=system.processor.migration_ready,
        keys=system.bare.keys,
        networking=system.bare.network,
        database=system.database,
        topic=system.topic,
    )
    DataMaintenance(system.bare.stack, "maintenance", DataMaintenanceProps(**props))
    stack = system.bare.view()
    log_key, _ = stack.one("aws_cloudwatch_log_group", name="/aws/lambda/bare-maintain")
    assert stack.resources("aws_cloudwatch_log_group")[log_key]["retention_in_days"] == 365
    for overrides, message in (
        ({"name": "x" * 50}, "name must be letters, digits, '_' or '-' (at most 49 characters)"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
    ):
        with pytest.raises(ConfigError) as raised:
            DataMaintenanceProps(**{**props, **overrides})
        assert str(raised.value).startswith(message)


def _bundle():
    from constructs_lib.bundled_function import LambdaBundle

    return LambdaBundle(path=__file__, sha256_base64="dGVzdA==", migrations_checksum="0" * 64)

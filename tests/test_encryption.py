"""Keys per data class: explicit administration, use only through the services of the class, rotation."""

from __future__ import annotations

import json

import pytest

ADMIN_ONLY = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:CreateGrant", "kms:*"}


def policy(stack, data_class: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(stack.key_body(data_class)["policy"])["Statement"]}


def own(stack, data_type: str) -> str:
    """The stack's own data source of `data_type` (not one read through prod's aliased backups provider)."""
    (key,) = [k for k, body in stack.data(data_type).items() if "provider" not in body]
    return key


def endpoints(stack, services: list[str]) -> list[str]:
    region = own(stack, "aws_region")
    return [f"{s}.${{data.aws_region.{region}.name}}.amazonaws.com" for s in services]


@pytest.mark.parametrize(
    "data_class, services",
    [
        ("data", ["elasticache", "kinesis", "rds", "sqs"]),
        ("secrets", ["lambda", "secretsmanager"]),
        ("logs", ["sns"]),
    ],
)
def test_each_key_is_used_only_through_the_services_of_its_class(prod, data_class: str, services: list[str]) -> None:
    statements = policy(prod, data_class)
    assert not any(s["Action"] in ("kms:*", ["kms:*"]) for s in statements.values())
    account = own(prod, "aws_caller_identity")
    account_id = f"${{data.aws_caller_identity.{account}.account_id}}"
    use = statements["AccountUsesTheKeyThroughServices"]
    assert use["Condition"] == {
        "StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": endpoints(prod, services)}
    }
    grants = statements["ServicesCreateGrants"]
    assert grants["Action"] == ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
    assert grants["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
    assert grants["Condition"]["StringEquals"] == use["Condition"]["StringEquals"]
    assert prod.key_body(data_class)["enable_key_rotation"] is True


@pytest.mark.parametrize("data_class", ["data", "secrets", "logs"])
def test_the_account_administers_every_key_without_using_it(prod, data_class: str) -> None:
    admin = policy(prod, data_class)["AccountAdministersTheKey"]
    assert admin["Principal"]["AWS"].endswith(":root") and "Condition" not in admin
    assert not set(admin["Action"]) & ADMIN_ONLY
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= set(admin["Action"])


def test_cloudwatch_logs_encrypts_only_this_projects_log_groups(prod) -> None:
    statements = policy(prod, "logs")
    logs = statements["CloudWatchLogsEncryptsProjectLogGroups"]
    assert logs["Principal"]["Service"].startswith("logs.${data.aws_region.")
    patterns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    names = [p.split(":log-group:")[1] for p in patterns]
    assert names[:4] == [
        "/aws/lambda/japancart-prod-*",
        "/aws/rds/instance/japancart-prod-*",
        "/elasticache/japancart-prod-*",
        "/vpc/japancart-prod/*",
    ]
    assert names[4].startswith("sns/") and names[4].endswith("/japancart-prod-*")
    # Every log group of the stack falls under one of the patterns (by name prefix).
    prefixes = [n.split("*")[0] for n in names[:4]] + ["sns/"]
    for group in prod.resources("aws_cloudwatch_log_group").values():
        assert any(group["name"].startswith(p) for p in prefixes), group["name"]
    assert "CloudWatchLogsEncryptsProjectLogGroups" not in policy(prod, "data")
    assert "CloudWatchLogsEncryptsProjectLogGroups" not in policy(prod, "secrets")


def test_alarm_and_rds_event_publishers_are_pinned_to_this_project(prod) -> None:
    statements = policy(prod, "logs")
    for sid, principal, arn in (
        ("PublishForCloudwatch", "cloudwatch.amazonaws.com", ":alarm:japancart-prod-*"),
        ("PublishForEventsRds", "events.rds.amazonaws.com", ":es:japancart-prod-*"),
    ):
        statement = statements[sid]
        assert statement["Principal"] == {"Service": principal}
        assert statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"].startswith("${data.aws_caller_identity.")
        assert statement["Condition"]["ArnLike"]["aws:SourceArn"].endswith(arn)


def test_processor_uses_each_key_only_through_its_service(dev) -> None:
    from test_processor_construct import statements_of

    statements = statements_of(dev, "japancart-dev-processor")
    expected = {
        "DecryptTheStream": ("data", "kinesis"),
        "EncryptDeadLetters": ("data", "sqs"),
        "DecryptStoreCredentials": ("secrets", "secretsmanager"),
        "DecryptOwnEnvironment": ("secrets", "lambda"),
    }
    kms = {sid: s for sid, s in statements.items() if any(a.startswith("kms:") for a in s["actions"])}
    assert set(kms) == set(expected)
    for sid, (data_class, service) in expected.items():
        assert kms[sid]["resources"] == [dev.key_ref(data_class)]
        (condition,) = kms[sid]["condition"]
        assert (condition["test"], condition["variable"]) == ("StringEquals", "kms:ViaService")
        assert condition["values"] == endpoints(dev, [service])


def test_state_keys_are_used_only_through_s3(bootstrap) -> None:
    """Every stack's state key: whoever may use it, only through S3 of the bucket's region; rotation on.
    (Who may use which key: tests/test_ci_identity.py.)"""
    keys = bootstrap.resources("aws_kms_key").values()
    assert len(keys) > 1
    for key in keys:
        uses = [
            s
            for s in json.loads(key["policy"])["Statement"]
            if s["Effect"] == "Allow" and s["Sid"] != "AccountAdministersTheKey"
        ]
        assert uses and all(
            s["Condition"]["StringEquals"]["kms:ViaService"] == "s3.ap-northeast-1.amazonaws.com" for s in uses
        )
        assert key["enable_key_rotation"] is True


def test_fails_when_a_key_has_no_service() -> None:
    from unittest.mock import MagicMock

    from constructs_lib.encryption import EncryptionKeyProps
    from processor.contract import ConfigError

    with pytest.raises(ConfigError, match=r"via_services must be at least one service, got \(\)"):
        EncryptionKeyProps(alias="x-data", description="d", account=MagicMock(), via_services=())

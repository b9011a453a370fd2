"""Stack-level promises: remote state (own key and prefix per stack), the account pinned, tags once, one key
per data class, outputs without secrets."""

from __future__ import annotations

import json
import re

import pytest

from processor.contract import ENVIRONMENTS
from synthesis import ROOT, STACK_NAMES, TEST_ACCOUNTS, TEST_STATE_KEYS, StackView, leaf_attributes


def test_stack_names_are_the_apps(stacks) -> None:
    """tests/synthesis.STACK_NAMES (which every stack-wide test iterates) is exactly what the app synthesizes."""
    from stacks.app import stack_names
    from stacks.config import load_config

    assert stack_names(load_config()) == STACK_NAMES
    assert sorted(stacks) == sorted(STACK_NAMES)


@pytest.mark.parametrize("name", [n for n in STACK_NAMES if n != "bootstrap"])
def test_remote_state_in_s3_with_native_locking_under_the_stacks_own_key_and_prefix(stacks, name: str) -> None:
    backend = stacks[name]["terraform"]["backend"]
    assert backend == {
        "s3": {
            "bucket": "japancart-terraform-state",
            "key": f"japancart/{name}/terraform.tfstate",
            "region": "ap-northeast-1",
            "encrypt": True,
            "use_lockfile": True,
            "kms_key_id": TEST_STATE_KEYS[name],
            "workspace_key_prefix": f"japancart/{name}/workspaces",
        }
    }


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_provider_is_pinned_to_its_account(stacks, name: str) -> None:
    account = (
        TEST_ACCOUNTS["backend"]
        if name == "bootstrap"
        else (name.removeprefix("ci-") if name.startswith("ci-") else TEST_ACCOUNTS[name])
    )
    providers = stacks[name]["provider"]["aws"]
    assert providers and all(p["allowed_account_ids"] == [account] for p in providers)


def test_no_machine_path_in_any_synthesized_stack(stacks) -> None:
    for name, document in stacks.items():
        assert str(ROOT) not in json.dumps(document), f"{name} holds this checkout's path"
    assert stacks["bootstrap"]["terraform"]["backend"] == {"local": {"path": "../../../terraform.bootstrap.tfstate"}}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_providers_and_tags_once(stacks, name: str) -> None:
    document = stacks[name]
    assert document["terraform"]["required_providers"]["aws"] == {"source": "hashicorp/aws", "version": "~> 5.99"}
    default, *others = document["provider"]["aws"]
    # One provider per region of the stack: prod's second one (aliased) holds only its replicated backups.
    assert "alias" not in default and [p["alias"] for p in others] == (["backups"] if name == "prod" else [])
    for provider in (default, *others):
        tags = provider["default_tags"][0]["tags"]
        assert tags["Project"] == "japancart" and tags["ManagedBy"] == "cdktf"
        assert provider["default_tags"] == default["default_tags"]
        assert provider["allowed_account_ids"] == default["allowed_account_ids"]
        assert "endpoints" not in provider and "access_key" not in provider
    for _, _, body in StackView(document):
        assert set(body.get("tags", {})) <= {"Name", "Tier"}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_every_store_uses_the_key_of_its_data_class(stacks, name: str) -> None:
    stack = StackView(stacks[name])
    # One key per data class, and in prod the replicated backups' key of their own region.
    assert len(stack.resources("aws_kms_key")) == (4 if name == "prod" else 3)
    encrypted = {
        ("aws_kinesis_stream", "kms_key_id"): "data",
        ("aws_elasticache_replication_group", "kms_key_id"): "data",
        ("aws_db_instance", "kms_key_id"): "data",
        ("aws_db_instance", "performance_insights_kms_key_id"): "data",
        ("aws_sqs_queue", "kms_master_key_id"): "data",
        ("aws_secretsmanager_secret", "kms_key_id"): "secrets",
        ("aws_db_instance", "master_user_secret_kms_key_id"): "secrets",
        ("aws_lambda_function", "kms_key_arn"): "secrets",
        ("aws_cloudwatch_log_group", "kms_key_id"): "logs",
        ("aws_sns_topic", "kms_master_key_id"): "logs",
    }
    for (resource_type, attribute), data_class in encrypted.items():
        bodies = stack.resources(resource_type).values()
        assert bodies and all(b[attribute] == stack.key_ref(data_class) for b in bodies), (resource_type, attribute)
    assert all(key["enable_key_rotation"] is True for key in stack.resources("aws_kms_key").values())


EXPECTED_OUTPUTS = {
    "vpc_id",
    "kinesis_stream_name",
    "kinesis_stream_arn",
    "redis_endpoint",
    "redis_port",
    "rds_endpoint",
    "rds_port",
    "db_secret_arn",
    "elasticache_security_group_id",
    "rds_security_group_id",
    "app_security_group_id",
    "redis_user_name",
    "redis_replication_group_id",
    "alarm_topic_arn",
    "kms_key_arn",
    "secrets_kms_key_arn",
    "logs_kms_key_arn",
    "dashboard_name",
    "processor_function_name",
    "dead_letter_queue_url",
    "replay_role_arn",
}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_outputs_are_complete_and_hold_no_secret(stacks, name: str) -> None:
    outputs = stacks[name]["output"]
    assert set(outputs) == EXPECTED_OUTPUTS | ({"replicated_backups_arn"} if name == "prod" else set())
    for output in outputs.values():
        value = json.dumps(output["value"])
        assert "random_password" not in value and "secret_string" not in value and "master_user_secret" not in value


def test_emulator_switch_changes_only_provider_and_backend(tmp_path, stacks) -> None:
    from synthesis import synth_stacks

    emulated = synth_stacks(tmp_path, {"JAPANCART_AWS_ENDPOINT": "http://127.0.0.1:4566"})
    dev = emulated["dev"]
    (provider,) = dev["provider"]["aws"]
    assert provider["endpoints"][0]["kinesis"] == "http://127.0.0.1:4566"
    assert provider["skip_credentials_validation"] is True
    backend = dev["terraform"]["backend"]["s3"]
    assert backend["endpoints"] == {"s3": "http://127.0.0.1:4566"} and backend["use_path_style"] is True
    assert dev["resource"] == stacks["dev"]["resource"]


def test_bootstrap_creates_a_private_versioned_encrypted_state_bucket(bootstrap) -> None:
    bucket_key, bucket = bootstrap.one("aws_s3_bucket", bucket="japancart-terraform-state")
    assert bucket["lifecycle"] == {"prevent_destroy": True}
    bucket_ref = bootstrap.ref("aws_s3_bucket", bucket_key, "id")
    _, versioning = bootstrap.one("aws_s3_bucket_versioning", bucket=bucket_ref)
    assert versioning["versioning_configuration"] == {"status": "Enabled"}
    _, sse = bootstrap.one("aws_s3_bucket_server_side_encryption_configuration", bucket=bucket_ref)
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    _, block = bootstrap.one("aws_s3_bucket_public_access_block", bucket=bucket_ref)
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    _, policy = bootstrap.one("aws_s3_bucket_policy", bucket=bucket_ref)
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    _, lifecycle = bootstrap.one("aws_s3_bucket_lifecycle_configuration", bucket=bucket_ref)
    assert lifecycle["rule"][0]["noncurrent_version_expiration"] == [{"noncurrent_days": 90}]
    assert "backend" not in bootstrap.document["terraform"] or "local" in bootstrap.document["terraform"]["backend"]


def _key_refs(bootstrap: StackView) -> dict[str, str]:
    """Stack -> the Terraform reference of its state key, found through the key's alias."""
    refs = {}
    for alias in bootstrap.resources("aws_kms_alias").values():
        stack = alias["name"].removeprefix("alias/japancart-").removesuffix("-state")
        refs[stack] = bootstrap.ref("aws_kms_key", alias["target_key_id"].split(".")[1], "arn")
    return refs


def test_every_stack_gets_its_own_state_key_and_the_bootstrap_prints_them_all(bootstrap) -> None:
    refs = _key_refs(bootstrap)
    assert sorted(refs) == sorted(STACK_NAMES) and len(set(refs.values())) == len(STACK_NAMES)
    assert bootstrap.document["output"]["state_key_arns"]["value"] == refs
    assert all(
        key["enable_key_rotation"] is True and key["deletion_window_in_days"] == 30
        for key in bootstrap.resources("aws_kms_key").values()
    )
    # The bootstrap's own key keeps the former single state key's address: objects under it stay readable.
    assert refs["bootstrap"] == "${aws_kms_key.key_F64E54E4.arn}"
    _, sse = bootstrap.one("aws_s3_bucket_server_side_encryption_configuration")
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["kms_master_key_id"] == refs["bootstrap"]


def test_each_prefix_takes_uploads_only_under_its_stacks_key(bootstrap) -> None:
    refs = _key_refs(bootstrap)
    _, policy = bootstrap.one("aws_s3_bucket_policy")
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    for stack, ref in refs.items():
        sid = "".join(part.capitalize() for part in stack.split("-")) + "UploadsOnlyUnderItsKey"
        assert statements[sid]["Resource"] == f"arn:aws:s3:::japancart-terraform-state/japancart/{stack}/*"
        assert statements[sid]["Condition"] == {
            "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": ref}
        }
    outside = statements["DenyUploadsOutsideTheStacksPrefixes"]
    assert outside["Action"] == "s3:PutObject" and len(outside["NotResource"]) == len(STACK_NAMES)


def _synth_with_config(tmp_path, backend: dict) -> dict:
    from config_files import write_config

    from synthesis import synth_stacks

    config = write_config(tmp_path, {"dev": {}, "prod": {"network": {"vpc_cidr": "10.30.0.0/16"}}}, backend=backend)
    return synth_stacks(tmp_path / "out", {"JAPANCART_CONFIG": str(config)})


def test_extra_environment_roles_are_kept_to_their_state_like_the_ci_roles(tmp_path) -> None:
    extra = "arn:aws:iam::408765432109:role/platform-break-glass"
    stacks = _synth_with_config(tmp_path, {"bucket": "state-bucket", "environment_roles": {"prod": [extra]}})
    _, policy = StackView(stacks["bootstrap"]).one("aws_s3_bucket_policy")
    statements = {s["Sid"]: s for s in json.loads(policy["policy"])["Statement"]}
    prod = statements["ProdRolesOnlyTheirState"]
    assert prod["Effect"] == "Deny" and prod["NotResource"][1].endswith("/japancart/prod/*")
    assert prod["Condition"] == {
        "ArnLike": {
            "aws:PrincipalArn": [
                "arn:aws:iam::408765432109:role/japancart-prod-plan",
                "arn:aws:iam::408765432109:role/japancart-prod-apply",
                extra,
            ]
        }
    }
    assert extra not in json.dumps(statements["DevRolesOnlyTheirState"])


def test_bootstrap_phase_two_keeps_its_state_in_the_bucket_under_its_own_key(tmp_path) -> None:
    stacks = _synth_with_config(tmp_path, {"bucket": "state-bucket", "bootstrap_state": "s3"})
    backend = stacks["bootstrap"]["terraform"]["backend"]["s3"]
    assert (backend["key"], backend["kms_key_id"]) == (
        "japancart/bootstrap/terraform.tfstate",
        TEST_STATE_KEYS["bootstrap"],
    )
    assert backend["use_lockfile"] is True and backend["encrypt"] is True


@pytest.mark.parametrize(("env", "days"), [("dev", 0), ("prod", 30)])
def test_secrets_honour_the_recovery_window(stacks, env: str, days: int) -> None:
    secrets = StackView(stacks[env]).resources("aws_secretsmanager_secret").values()
    assert secrets and {s["recovery_window_in_days"] for s in secrets} == {days}


#: Attribute names that would hold a credential if anything did.
SECRET_LIKE = re.compile(r"password|passwd|auth_token|secret_string|private_key|token$|^result$", re.I)
#: The only secret-like attributes any stack may have, none holding a secret: RDS keeps (and rotates) the master
#: password itself, the connection secret holds no credential (host, port, names, the ARN of RDS's secret) and
#: the disabled default Redis user has no password at all.
ALLOWED_SECRET_LIKE = {
    ("aws_db_instance", "manage_master_user_password"),
    ("aws_secretsmanager_secret_version", "secret_string"),
    ("aws_elasticache_user", "no_password_required"),
}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_no_stack_generates_or_stores_a_secret_value(stacks, name: str) -> None:
    """No secret value in Terraform state (issue 16): nothing generates one (no hashicorp/random, no
    random_password), no Redis secret, no password on any ElastiCache user or group, and every secret-like
    attribute left is on the allow-list above."""
    stack = stacks[name]
    assert set(stack["terraform"]["required_providers"]) == {"aws"}
    assert set(stack["provider"]) == {"aws"}
    resources = stack.get("resource", {})
    assert not [t for t in resources if t.startswith("random_")]
    assert not any("redis" in secret["name"] for secret in resources.get("aws_secretsmanager_secret", {}).values())
    found = set()
    for resource_type, by_name in resources.items():
        for body in by_name.values():
            for attribute, value in leaf_attributes(body):
                if SECRET_LIKE.search(attribute):
                    found.add((resource_type, attribute))
                    assert "random_password" not in str(value) and ".result" not in str(value), (resource_type, value)
    assert found <= ALLOWED_SECRET_LIKE, found - ALLOWED_SECRET_LIKE
    for user in resources.get("aws_elasticache_user", {}).values():
        assert "passwords" not in user and "passwords" not in user.get("authentication_mode", {})
    for group in resources.get("aws_elasticache_replication_group", {}).values():
        assert "auth_token" not in group

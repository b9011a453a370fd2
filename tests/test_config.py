"""Bad input stops synthesis with one error naming the field and the value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from config_files import write_config

from processor.contract import ENVIRONMENTS, ConfigError
from stacks.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SAFE_PROD = {"database": {"deletion_protection": True}}


def load(tmp_path: Path, environments: dict[str, dict[str, Any]], **sections: dict[str, Any]):
    return load_config({"JAPANCART_CONFIG": str(write_config(tmp_path, environments, **sections))})


def test_shipped_configuration_is_valid() -> None:
    from stacks.platform_config import PLACEHOLDER_ACCOUNTS

    config = load_config({})
    assert tuple(env.name for env in config.environments) == ENVIRONMENTS  # every known one, in order
    prod = config.environments[2]
    assert prod.database.deletion_protection and not prod.database.skip_final_snapshot
    assert prod.database.backup_retention_days == 30
    assert config.environments[0].database.backup_retention_days == 7
    assert config.environments[0].secret_recovery_days == 0  # dev: destroy + redeploy under the same names
    assert config.backend.state_keys == {}  # known after the bootstrap (phase 1)
    # The supported layout: one account per environment, the state in another; all of them placeholders.
    accounts = [config.backend.account_id, *(env.account_id for env in config.environments)]
    assert len(set(accounts)) == 4 and set(accounts) == PLACEHOLDER_ACCOUNTS
    assert config.ci.oidc_subject == "custom" and config.ci.approver_teams  # the recommended subject
    assert config.stack_names() == ("bootstrap", *(f"ci-{a}" for a in accounts[1:]), *ENVIRONMENTS)


def test_state_settings_come_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"dev": {}})
    config = load_config(
        {"JAPANCART_CONFIG": str(path), "JAPANCART_STATE_BUCKET": "other-bucket", "JAPANCART_STATE_REGION": "eu-west-1"}
    )
    assert (config.backend.bucket, config.backend.region) == ("other-bucket", "eu-west-1")
    assert config.state_key("dev") == "japancart/dev/terraform.tfstate"


BAD_INPUTS = [
    pytest.param(
        {"qa": {}}, "environments must be one of 'dev', 'prod', 'staging', got 'qa'", id="unknown-environment"
    ),
    pytest.param(
        {"dev": {"network": {"vpc_cidr": "10.0.0/16"}}},
        "environments.dev.network.vpc_cidr must be an IPv4 CIDR block",
        id="malformed-cidr",
    ),
    pytest.param(
        {"dev": {"network": {"vpc_cidr": "10.0.0.1/16"}}},
        "environments.dev.network.vpc_cidr must be an IPv4 CIDR block with zero host bits",
        id="host-bits-set",
    ),
    pytest.param(
        {"dev": {"network": {"vpc_cidr": "10.1.0.0/16"}}, "staging": {"network": {"vpc_cidr": "10.1.128.0/20"}}},
        "environments.staging.network.vpc_cidr must be a block that does not overlap environments.dev",
        id="overlapping-cidrs",
    ),
    pytest.param(
        {"dev": {"network": {"vpc_cidr": "10.0.0.0/24", "subnet_prefix": 26, "az_count": 3}}},
        "environments.dev.network.subnet_prefix must be small enough that 6 subnets fit in 10.0.0.0/24",
        id="subnets-do-not-fit",
    ),
    pytest.param(
        {"dev": {"network": {"az_count": 1}, "cache": {"automatic_failover": False}}},
        "environments.dev.network.az_count must be at least 2 when database.multi_az is on, got 1",
        id="one-az-with-multi-az",
    ),
    pytest.param(
        {"dev": {"cache": {"num_nodes": 1}}},
        "environments.dev.cache.num_nodes must be at least 2 when automatic_failover is on, got 1",
        id="one-cache-node-with-failover",
    ),
    pytest.param(
        {"dev": {"stream": {"retention_hours": 12}}},
        "environments.dev.stream.retention_hours must be a whole number from 24 to 8760, got 12",
        id="stream-retention-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"backup_retention_days": 0}}},
        "environments.dev.database.backup_retention_days must be a whole number from 1 to 35, got 0",
        id="backup-days-out-of-range",
    ),
    pytest.param(
        {"prod": {"database": {"deletion_protection": False}}},
        "environments.prod.database.deletion_protection must be true in prod, got False",
        id="prod-without-deletion-protection",
    ),
    pytest.param(
        {"prod": {"database": {"skip_final_snapshot": True}}},
        "environments.prod.database.skip_final_snapshot must be false in prod, got True",
        id="prod-without-final-snapshot",
    ),
    pytest.param(
        {"dev": {"alarms": {"alert_emails": ["ops@example.com", "not-an-email"]}}},
        "environments.dev.alarms.alert_emails[1] must be an e-mail address",
        id="bad-email",
    ),
    pytest.param(
        {"dev": {"log_retention_days": 10}},
        "environments.dev.log_retention_days must be one of",
        id="log-retention-not-a-cloudwatch-value",
    ),
    pytest.param(
        {"dev": {"cache": {"maintenance_window": "mon:15:30-mon:16:30"}}},
        "environments.dev.cache.maintenance_window must be clear of snapshot_window '15:00-16:00'",
        id="overlapping-cache-windows",
    ),
    pytest.param(
        {"dev": {"database": {"instance_clas": "db.t4g.medium"}}},
        "environments.dev.database.instance_clas must be a known setting of [environments.dev.database]",
        id="misspelt-setting",
    ),
    pytest.param(
        {"dev": {"processor": {"max_record_age_seconds": 86400}}},
        "environments.dev.stream.retention_hours must be at least 25 when processor.max_record_age_seconds "
        "is 86400 (a dead-lettered record must stay readable in the stream for an hour), got 24",
        id="dead-letters-outlive-the-stream",
    ),
    pytest.param(
        {"dev": {"stream": {"retention_hours": 48}, "processor": {"max_record_age_seconds": 172800}}},
        "environments.dev.stream.retention_hours must be at least 49 when processor.max_record_age_seconds is 172800",
        id="dead-letters-outlive-a-longer-stream",
    ),
    pytest.param(
        {"dev": {"processor": {"max_record_age_seconds": -1}}},
        "environments.dev.processor.max_record_age_seconds must be a whole number from 60 to 604800, got -1",
        id="record-age-without-limit",
    ),
    pytest.param(
        {"dev": {"processor": {"max_retries": -2}}},
        "environments.dev.processor.max_retries must be -1 (until max_record_age_seconds) or a number from 0 "
        "to 10000, got -2",
        id="retries-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"transaction_retention_months": 0}}},
        "environments.dev.database.transaction_retention_months must be a whole number from 1 to 240, got 0",
        id="transaction-retention-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"transaction_retention_months": 84.5}}},
        "environments.dev.database.transaction_retention_months must be a whole number from 1 to 240, got 84.5",
        id="transaction-retention-not-whole",
    ),
    pytest.param(
        {"dev": {"database": {"rejected_retention_days": 4000}}},
        "environments.dev.database.rejected_retention_days must be a whole number from 1 to 3650, got 4000",
        id="rejected-retention-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"conflict_retention_days": 0}}},
        "environments.dev.database.conflict_retention_days must be a whole number from 1 to 3650, got 0",
        id="conflict-retention-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"alert_retention_days": 3651}}},
        "environments.dev.database.alert_retention_days must be a whole number from 1 to 3650, got 3651",
        id="alert-retention-out-of-range",
    ),
    pytest.param(
        {"dev": {"database": {"partition_drop_grace_days": 0}}},
        "environments.dev.database.partition_drop_grace_days must be a whole number from 1 to 3650, got 0",
        id="drop-without-grace",
    ),
    pytest.param(
        {"dev": {"database": {"export_before_drop": "yes"}}},
        "environments.dev.database.export_before_drop must be true or false, got 'yes'",
        id="export-before-drop-not-a-bool",
    ),
    pytest.param(
        {"staging": {"secret_recovery_days": 0}},
        "environments.staging.secret_recovery_days must be 7-30 outside dev (0, delete at once, is for dev "
        "only), got 0",
        id="delete-secrets-at-once-outside-dev",
    ),
    pytest.param(
        {"dev": {"secret_recovery_days": 3}},
        "environments.dev.secret_recovery_days must be 0 (delete at once) or a number of days from 7 to 30, got 3",
        id="recovery-window-out-of-range",
    ),
    pytest.param(
        {"dev": {"stream": {"capacity_mode": "AUTO"}}},
        "environments.dev.stream.capacity_mode must be one of 'ON_DEMAND', 'PROVISIONED', got 'AUTO'",
        id="unknown-capacity-mode",
    ),
    pytest.param(
        {"prod": {"cache": {"num_nodes": 2.5}}},
        "environments.prod.cache.num_nodes must be a whole number from 1 to 6, got 2.5",
        id="fractional-nodes",
    ),
    pytest.param(
        {"dev": {"cache": {"num_nodes": True}}},
        "environments.dev.cache.num_nodes must be a whole number from 1 to 6, got True",
        id="boolean-nodes",
    ),
    pytest.param(
        {"dev": {"processor": {"memory_mb": 512.0}}},
        "environments.dev.processor.memory_mb must be a whole number from 128 to 10240, got 512.0",
        id="float-memory",
    ),
    pytest.param(
        {"dev": {"log_retention_days": 30.0}},
        "environments.dev.log_retention_days must be one of",
        id="float-log-retention",
    ),
    pytest.param(
        {"dev": {"alarms": {"period_seconds": True}}},
        "environments.dev.alarms.period_seconds must be one of",
        id="boolean-alarm-period",
    ),
    pytest.param(
        {"dev": {"alarms": {"alert_emails": "ops@example.com"}}},
        "environments.dev.alarms.alert_emails must be a list of e-mail addresses, got 'ops@example.com'",
        id="one-address-not-in-a-list",
    ),
    pytest.param(
        {"dev": {"network": {"zone_ids": "apne1-az4"}}},
        "environments.dev.network.zone_ids must be a list of zone ids",
        id="one-zone-not-in-a-list",
    ),
    pytest.param(
        {"dev": {"network": {"nat_gateway": 1}}},
        "environments.dev.network.nat_gateway must be true or false, got 1",
        id="number-for-a-switch",
    ),
]


@pytest.mark.parametrize("environments, message", BAD_INPUTS)
def test_fails_on_bad_input(tmp_path: Path, environments: dict[str, dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, environments)
    assert message in str(raised.value)


KEY = "arn:aws:kms:ap-northeast-1:123456789012:key/0a1b2c3d-4e5f-4a6b-8c7d-000000000001"
BAD_BACKENDS = [
    pytest.param(
        {"kms_key_id": KEY},
        "backend.kms_key_id must be replaced by [backend] state_keys, one key per stack (the bootstrap "
        "stack's output state_key_arns)",
        id="single-state-key-retired",
    ),
    pytest.param(
        {"state_keys": {"dev": "alias/japancart-dev-state"}},
        "backend.state_keys.dev must be the ARN of a KMS key (the bootstrap stack's output state_key_arns), "
        "got 'alias/japancart-dev-state'",
        id="state-key-alias",
    ),
    pytest.param(
        {"state_keys": {"dev": KEY.replace("123456789012", "210987654321")}},
        "backend.state_keys.dev must be a key of the state bucket's region and account (ap-northeast-1, 123456789012)",
        id="state-key-of-another-account",
    ),
    pytest.param(
        {"state_keys": {"dev": KEY, "prod": KEY}},
        "backend.state_keys must be a different key for every stack",
        id="one-key-for-two-stacks",
    ),
    pytest.param(
        {"bootstrap_state": "s3"},
        "backend.bootstrap_state must be 'local' until state_keys.bootstrap is set (phase 1 of the bootstrap), "
        "got 's3'",
        id="bootstrap-into-s3-without-the-key",
    ),
    pytest.param(
        {"bootstrap_state": "remote"},
        "backend.bootstrap_state must be one of 'local', 's3', got 'remote'",
        id="unknown-bootstrap-state",
    ),
    pytest.param(
        {"environment_roles": {"qa": ["arn:aws:iam::111122223333:role/x"]}},
        "backend.environment_roles must be one of 'dev', 'prod', 'staging', got 'qa'",
        id="roles-of-unknown-env",
    ),
    pytest.param(
        {"environment_roles": {"prod": ["arn:aws:iam::111122223333:role/x"]}},
        "backend.environment_roles must be a configured environment (dev), got 'prod'",
        id="roles-of-an-environment-not-configured",
    ),
    pytest.param(
        {"environment_roles": {"dev": ["arn:aws:iam::1234:user/me"]}},
        "backend.environment_roles.dev[0] must be an IAM role ARN",
        id="role-arn-malformed",
    ),
    pytest.param(
        {"account_id": 123456789012},
        'backend.account_id must be a 12-digit AWS account id in quotes, such as "111122223333", got 123456789012',
        id="account-as-a-number",
    ),
    pytest.param(
        {"account_id": "12345678901"}, "backend.account_id must be a 12-digit AWS account id", id="account-too-short"
    ),
]


@pytest.mark.parametrize("backend, message", BAD_BACKENDS)
def test_fails_on_bad_backend(tmp_path: Path, backend: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {"dev": {}}, backend={"bucket": "state-bucket", **backend})
    assert message in str(raised.value)


BAD_CI = [
    pytest.param(
        {"repository": "japancart"},
        "ci.repository must be a GitHub repository as owner/name, got 'japancart'",
        id="repository-without-owner",
    ),
    pytest.param(
        {"oidc_subject": "custom"},
        "ci.repository_id must be set when oidc_subject is 'custom', got None",
        id="custom-subject-without-repository-id",
    ),
    pytest.param(
        {"oidc_subject": "immutable", "repository_id": 42},
        "ci.repository_owner_id must be set when oidc_subject is 'immutable', got None",
        id="immutable-subject-without-owner-id",
    ),
    pytest.param(
        {"oidc_subject": "branch"},
        "ci.oidc_subject must be one of 'custom', 'default', 'immutable', got 'branch'",
        id="unknown-subject",
    ),
    pytest.param(
        {"repository_id": "42"},
        "ci.repository_id must be a GitHub numeric id (a positive whole number), got '42'",
        id="repository-id-as-a-string",
    ),
    pytest.param(
        {"approver_teams": ["platform-approvers"]},
        "ci.approver_teams[0] must be a GitHub team as org/team-slug, got 'platform-approvers'",
        id="team-without-org",
    ),
    pytest.param(
        {"approver_teams": ["acme/approvers", "acme/approvers"]},
        "ci.approver_teams must be a list without repeats",
        id="repeated-team",
    ),
    pytest.param(
        {"deploy_workflow": "deploy.yml"},
        "ci.deploy_workflow must be a workflow file such as .github/workflows/deploy.yml, got 'deploy.yml'",
        id="workflow-outside-workflows",
    ),
    pytest.param({"token": "x"}, "ci.token must be a known setting of [ci], got 'x'", id="unknown-ci-setting"),
]


@pytest.mark.parametrize("ci, message", BAD_CI)
def test_fails_on_bad_ci_settings(tmp_path: Path, ci: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {"dev": {}}, ci=ci)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "account, message",
    [
        (None, "environments.dev.account_id must be set in [environments.dev] (it has no default), got None"),
        (444455556666, "environments.dev.account_id must be a 12-digit AWS account id in quotes"),
        ("4444-5555-6666", "environments.dev.account_id must be a 12-digit AWS account id in quotes"),
    ],
    ids=["missing", "number", "dashes"],
)
def test_every_environment_names_its_account(tmp_path: Path, account: Any, message: str) -> None:
    path = write_config(tmp_path, {"dev": {}})
    text = path.read_text().replace(
        'account_id = "210987654321"', "" if account is None else f"account_id = {account!r}".replace("'", '"')
    )
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config({"JAPANCART_CONFIG": str(path)})
    assert message in str(raised.value)


def test_state_keys_come_from_the_bootstraps_output_as_json(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"dev": {}})
    keys = {"bootstrap": KEY, "dev": KEY.replace("000000000001", "000000000002")}
    config = load_config({"JAPANCART_CONFIG": str(path), "JAPANCART_STATE_KEYS": json.dumps(keys)})
    assert config.backend.state_keys == keys
    with pytest.raises(ConfigError, match="JAPANCART_STATE_KEYS must be a JSON object of stack name to state key ARN"):
        load_config({"JAPANCART_CONFIG": str(path), "JAPANCART_STATE_KEYS": KEY})
    with pytest.raises(ConfigError, match="JAPANCART_STATE_KMS_KEY_ID must be unset: replaced by JAPANCART_STATE_KEYS"):
        load_config({"JAPANCART_CONFIG": str(path), "JAPANCART_STATE_KMS_KEY_ID": KEY})


def test_fails_when_the_emulator_endpoint_is_not_loopback(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"dev": {}})
    with pytest.raises(ConfigError, match="JAPANCART_AWS_ENDPOINT.endpoint must be a loopback URL"):
        load_config({"JAPANCART_CONFIG": str(path), "JAPANCART_AWS_ENDPOINT": "http://10.1.2.3:5000"})


def test_fails_on_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[environments.dev\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be valid TOML"):
        load_config({"JAPANCART_CONFIG": str(path)})


@pytest.mark.slow
@pytest.mark.parametrize(
    "environments, line",
    [
        (
            {"dev": {"cache": {"num_nodes": 1}}},
            "configuration error: environments.dev.cache.num_nodes must be at least 2 when automatic_failover is on, got 1",
        ),
        (
            {"dev": {"database": {"rejected_retention_days": "90"}}},
            "configuration error: environments.dev.database.rejected_retention_days must be a whole number from 1 to 3650, "
            "got '90'",
        ),
        (
            {"dev": {"processor": {"max_record_age_seconds": 86400}}},
            "configuration error: environments.dev.stream.retention_hours must be at least 25 when "
            "processor.max_record_age_seconds is 86400 (a dead-lettered record must stay readable in the stream for an "
            "hour), got 24",
        ),
    ],
    ids=["cache-nodes", "rejected-retention", "dead-letter-window"],
)
def test_synth_stops_with_one_line_and_writes_nothing(tmp_path: Path, environments: dict[str, Any], line: str) -> None:
    """`make synth` on a bad configuration: exit code 2, one line naming field and value, no cdktf.out."""
    config = write_config(tmp_path, environments)
    outdir = tmp_path / "cdktf.out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "JAPANCART_CONFIG": str(config), "CDKTF_OUTDIR": str(outdir)},
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [line]
    assert not outdir.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["environments.toml"]


def run_main(tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess:
    outdir = tmp_path / "cdktf.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAPANCART_")}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**env, "CDKTF_OUTDIR": str(outdir), **environ},
        timeout=300,
    )


@pytest.mark.slow
def test_synth_refuses_the_placeholder_bucket(tmp_path: Path) -> None:
    """The shipped configuration as is: S3 bucket names are global, so the operator must choose one."""
    result = run_main(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: backend.bucket must be your own globally unique S3 bucket name "
        "(config/environments.toml [backend] or JAPANCART_STATE_BUCKET), not the shipped placeholder, "
        "got 'choose-your-own-state-bucket'"
    ]
    assert not (tmp_path / "cdktf.out").exists()


@pytest.mark.slow
def test_phase_one_synthesizes_the_bootstrap_alone_until_the_state_keys_are_known(tmp_path: Path) -> None:
    from synthesis import TEST_ACCOUNTS, TEST_CONFIG

    everything = run_main(tmp_path, JAPANCART_CONFIG=str(TEST_CONFIG))
    assert everything.returncode == 2
    stack = f"ci-{TEST_ACCOUNTS['dev']}"
    assert everything.stderr.strip().splitlines() == [
        f"configuration error: backend.state_keys.{stack} must be the bootstrap stack's output "
        f'state_key_arns["{stack}"] (JAPANCART_STATE_KEYS or [backend] state_keys); until then synthesize only '
        "the bootstrap stack: python main.py bootstrap, got ''"
    ]
    bootstrap = run_main(tmp_path, "bootstrap", JAPANCART_CONFIG=str(TEST_CONFIG))
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert sorted(p.name for p in (tmp_path / "cdktf.out" / "stacks").iterdir()) == ["bootstrap"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("placeholder", "line"),
    [
        (
            "account",
            "configuration error: backend.account_id must be your own AWS account id (config/environments.toml), "
            "not a shipped placeholder, got '111122223333'",
        ),
        (
            "environment",
            "configuration error: environments.prod.account_id must be your own AWS account id "
            "(config/environments.toml), not a shipped placeholder, got '999988887777'",
        ),
        (
            "repository",
            "configuration error: ci.repository must be your own GitHub repository (config/environments.toml "
            "[ci]), not the shipped placeholder, got 'example-org/japancart-infrastructure'",
        ),
    ],
)
def test_deploying_refuses_a_shipped_placeholder_that_review_accepts(
    tmp_path: Path, placeholder: str, line: str
) -> None:
    """Strict synthesis (what deploy/diff/destroy run) refuses each placeholder the shipped file holds; review
    synthesis (`make synth`) writes every stack and says what is left on one line."""
    from synthesis import TEST_ACCOUNTS, TEST_REPOSITORY, TEST_STATE_KEYS
    from tools.operator_config import SHIPPED, fill_placeholders

    accounts = dict(TEST_ACCOUNTS)
    if placeholder == "account":
        accounts["backend"] = "111122223333"
    elif placeholder == "environment":
        accounts["prod"] = "999988887777"
    repository = "example-org/japancart-infrastructure" if placeholder == "repository" else TEST_REPOSITORY
    config = tmp_path / "environments.toml"
    config.write_text(
        fill_placeholders(
            SHIPPED.read_text(),
            bucket="acme-japancart-state",
            accounts=accounts,
            repository=repository,
            repository_id=700000001,
        )
    )
    keys = {stack: arn.replace(TEST_ACCOUNTS["backend"], accounts["backend"]) for stack, arn in TEST_STATE_KEYS.items()}
    environ = {"JAPANCART_CONFIG": str(config), "JAPANCART_STATE_KEYS": json.dumps(keys)}
    strict = run_main(tmp_path, **environ)
    assert (strict.returncode, strict.stderr.strip().splitlines()) == (2, [line])
    assert not (tmp_path / "cdktf.out").exists()
    review = run_main(tmp_path, "--review", **environ)
    assert review.returncode == 0, review.stderr
    assert review.stderr.strip().splitlines() == [
        line.replace("configuration error: ", "note: synthesized for review only; before deploying, ")
    ]
    assert len(list((tmp_path / "cdktf.out" / "stacks").iterdir())) == 7


def test_a_derived_name_a_construct_would_refuse_stops_the_load_as_project_name(tmp_path: Path) -> None:
    """20 characters is a valid project name, but `<project>-staging-history` is too long for ElastiCache: the
    load refuses it as project.name, with the name it made and the cache's own rule (main.py prints one line)."""
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, {"staging": {}}, project={"name": "abcdefghijklmnopqrst"})
    assert str(raised.value) == (
        "project.name must be a name for which staging's cache name ('abcdefghijklmnopqrst-staging-history') "
        "is a replication group id: lowercase letters, digits, single hyphens, at most 35 characters, "
        "got 'abcdefghijklmnopqrst'"
    )
    assert load(tmp_path, {"dev": {}}, project={"name": "abcdefghijklmnopqrst"}).project.name == "abcdefghijklmnopqrst"

"""Database recovery: automated backups replicated to a second region, and a point-in-time restore into a new
instance that the processor is pointed at while the source is kept (docs/operations.md, "Restoring the database")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from config_files import write_config
from environments import synth_environment

from processor.contract import APP_DB_USER, ConfigError
from stacks.config import load_config
from synthesis import StackView

SOURCE = "japancart-dev-transactions"
RESTORE_TIME = "2026-12-01T03:00:00Z"


def _restored(tmp_path: Path, **restore: Any) -> StackView:
    return synth_environment(tmp_path, database={"restore": {"source": SOURCE, **restore}})


def _instances(stack: StackView) -> dict[str, tuple[str, dict[str, Any]]]:
    """identifier -> (resource key, body) of every aws_db_instance."""
    return {body["identifier"]: (key, body) for key, body in stack.resources("aws_db_instance").items()}


# ------------------------------------------------------------------------------------------------------------
# Backups in a second region
# ------------------------------------------------------------------------------------------------------------
def test_prod_replicates_its_backups_to_osaka_under_a_key_of_that_region(prod) -> None:
    (replication,) = prod.resources("aws_db_instance_automated_backups_replication").values()
    providers = {p.get("alias"): p for p in prod.document["provider"]["aws"]}
    assert providers["backups"]["region"] == "ap-northeast-3" and providers[None]["region"] == "ap-northeast-1"
    assert replication["provider"] == "aws.backups"
    assert replication["retention_period"] == 30  # prod's backup_retention_days
    db_key, _ = prod.one("aws_db_instance")
    assert replication["source_db_instance_arn"] == prod.ref("aws_db_instance", db_key, "arn")
    key_key = replication["kms_key_id"].split(".")[1]
    key = prod.resources("aws_kms_key")[key_key]
    assert key["provider"] == "aws.backups" and key["enable_key_rotation"] is True
    (alias,) = [a for a in prod.resources("aws_kms_alias").values() if a["name"] == "alias/japancart-prod-backups"]
    assert alias["provider"] == "aws.backups"
    policy = json.loads(key["policy"])
    use = next(s for s in policy["Statement"] if s["Sid"] == "AccountUsesTheKeyThroughServices")
    (via,) = use["Condition"]["StringEquals"]["kms:ViaService"]
    region_data = via.split("${")[1].split("}")[0]  # rds.${data.aws_region.<key>.name}.amazonaws.com
    assert prod.data("aws_region")[region_data.split(".")[2]]["provider"] == "aws.backups"
    assert prod.document["output"]["replicated_backups_arn"]["value"].startswith(
        "${aws_db_instance_automated_backups_replication."
    )


def test_dev_and_staging_do_not_replicate(stacks) -> None:
    for stack in (StackView(stacks["dev"]), StackView(stacks["staging"])):
        assert stack.resources("aws_db_instance_automated_backups_replication") == {}
        assert [p.get("alias") for p in stack.document["provider"]["aws"]] == [None]


@pytest.mark.parametrize(
    "database, message",
    [
        (
            {"backup_replication_region": "ap-northeast-1"},
            "environments.dev.database.backup_replication_region must be a region other than the environment's "
            "(ap-northeast-1), got 'ap-northeast-1'",
        ),
        (
            {"backup_replication_region": "osaka"},
            "environments.dev.database.backup_replication_region must be an AWS region such as ap-northeast-1, "
            "got 'osaka'",
        ),
    ],
)
def test_a_bad_replication_region_stops_the_load(tmp_path, database, message) -> None:
    path = write_config(tmp_path, {"dev": {"database": database}})
    with pytest.raises(ConfigError) as error:
        load_config({"JAPANCART_CONFIG": str(path)})
    assert str(error.value) == message


# ------------------------------------------------------------------------------------------------------------
# Point-in-time restore
# ------------------------------------------------------------------------------------------------------------
def test_a_restore_adds_a_new_instance_and_keeps_the_source_as_it_was(tmp_path) -> None:
    (tmp_path / "before").mkdir()
    _, before = synth_environment(tmp_path / "before").one("aws_db_instance")
    stack = _restored(tmp_path, time=RESTORE_TIME)
    instances = _instances(stack)
    assert set(instances) == {SOURCE, f"{SOURCE}-restored"}
    source_key, source = instances[SOURCE]
    assert source == before, "the source instance is left exactly as it was"
    _, restored = instances[f"{SOURCE}-restored"]
    assert restored["restore_to_point_in_time"] == {
        "source_db_instance_identifier": SOURCE,
        "restore_time": RESTORE_TIME,
    }
    assert restored["lifecycle"] == {"ignore_changes": ["restore_to_point_in_time"]}
    same_shape = ("instance_class", "kms_key_id", "multi_az", "db_subnet_group_name", "vpc_security_group_ids")
    assert {k: restored[k] for k in same_shape} == {k: source[k] for k in same_shape}
    assert restored["parameter_group_name"] == source["parameter_group_name"]
    assert restored["iam_database_authentication_enabled"] is True and restored["storage_encrypted"] is True
    groups = {g["name"] for g in stack.resources("aws_cloudwatch_log_group").values()}
    assert {f"/aws/rds/instance/{SOURCE}-restored/{k}" for k in ("postgresql", "upgrade")} <= groups
    assert stack.resources("aws_db_instance") and source_key in stack.resources("aws_db_instance")


def test_the_processor_and_the_alarms_follow_the_restored_instance(tmp_path) -> None:
    stack = _restored(tmp_path, latest=True)
    restored_key, restored = _instances(stack)[f"{SOURCE}-restored"]
    assert restored["restore_to_point_in_time"] == {
        "source_db_instance_identifier": SOURCE,
        "use_latest_restorable_time": True,
    }
    _, secret = stack.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    (version,) = stack.resources("aws_secretsmanager_secret_version").values()
    assert f"aws_db_instance.{restored_key}.address" in version["secret_string"]
    policies = json.dumps(stack.data("aws_iam_policy_document"))
    assert f"${{aws_db_instance.{restored_key}.resource_id}}/{APP_DB_USER}" in policies
    _, events = stack.one("aws_db_event_subscription", source_type="db-instance")
    assert events["source_ids"] == [SOURCE, f"{SOURCE}-restored"], "the kept source's events are still heard"
    alarms = [a for a in stack.resources("aws_cloudwatch_metric_alarm").values() if a["namespace"] == "AWS/RDS"]
    assert alarms and {a["dimensions"]["DBInstanceIdentifier"] for a in alarms} == {f"{SOURCE}-restored"}
    assert stack.document["output"]["rds_endpoint"]["value"] == f"${{aws_db_instance.{restored_key}.address}}"
    _, role = stack.one("aws_iam_role", name=f"{SOURCE}-rds-monitoring")
    trust = stack.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"][0]
    (arns,) = [c["values"] for c in trust["condition"] if c["variable"] == "aws:SourceArn"]
    assert [a.rsplit(":", 1)[1] for a in arns] == [SOURCE, f"{SOURCE}-restored"]


def test_keep_source_off_leaves_only_the_restored_instance(tmp_path) -> None:
    stack = _restored(tmp_path, time=RESTORE_TIME, name="japancart-dev-pitr-1201", keep_source=False)
    assert set(_instances(stack)) == {"japancart-dev-pitr-1201"}


@pytest.mark.parametrize(
    "restore, message",
    [
        ({"source": SOURCE}, "restore.time must be a restore time, or latest = true (exactly one), got ''"),
        (
            {"source": SOURCE, "time": RESTORE_TIME, "latest": True},
            f"restore.time must be a restore time, or latest = true (exactly one), got '{RESTORE_TIME}'",
        ),
        (
            {"source": SOURCE, "time": "2026-12-01 03:00"},
            "restore.time must be a UTC time such as 2026-12-04T01:30:00Z, got '2026-12-01 03:00'",
        ),
        (
            {"source": SOURCE, "time": "2999-01-01T00:00:00Z"},
            "restore.time must be a time already past (a restore reads backups), got '2999-01-01T00:00:00Z'",
        ),
        (
            {"source": SOURCE, "latest": True, "name": SOURCE},
            f"restore.name must be an identifier other than the source ({SOURCE}), got '{SOURCE}'",
        ),
        ({"source": SOURCE, "latest": True, "name": "Bad_Name"}, "restore.name must be an RDS identifier"),
        (
            {"source": "a" * 50, "latest": True},
            f"restore.name must be an RDS identifier: lowercase letters, digits, single hyphens, at most 54 "
            f"characters, got '{'a' * 50}-restored'",
        ),
        ({"source": SOURCE, "latest": True, "when": "now"}, "restore.when must be a known setting of"),
    ],
)
def test_bad_restore_settings_stop_the_load_naming_the_field(tmp_path, restore, message) -> None:
    path = write_config(tmp_path, {"dev": {"database": {"restore": restore}}})
    with pytest.raises(ConfigError) as error:
        load_config({"JAPANCART_CONFIG": str(path)})
    assert str(error.value).startswith(f"environments.dev.database.{message}"), str(error.value)


def test_a_restore_from_another_instance_stops_the_load(tmp_path) -> None:
    path = write_config(
        tmp_path, {"dev": {"database": {"restore": {"source": "japancart-prod-transactions", "latest": True}}}}
    )
    with pytest.raises(ConfigError) as error:
        load_config({"JAPANCART_CONFIG": str(path)})
    assert str(error.value) == (
        "environments.dev.database.restore.source must be this environment's database identifier "
        f"({SOURCE}), got 'japancart-prod-transactions'"
    )


def test_the_construct_refuses_a_restore_of_another_instance() -> None:
    from bare_stack import required_only

    from constructs_lib.database import TransactionDatabaseProps
    from constructs_lib.database_recovery import RestoreSettings

    with pytest.raises(ConfigError) as error:
        required_only(
            TransactionDatabaseProps, "bare-transactions", restore=RestoreSettings(source="other", latest=True)
        )
    assert str(error.value) == "restore.source must be this database's identifier (bare-transactions), got 'other'"

"""Database: PostgreSQL 16, private, encrypted, Multi-AZ, RDS-managed password, protected in prod."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bare_stack import admitted, required_only, with_defaults

from constructs_lib.database import TransactionDatabase, TransactionDatabaseProps
from processor.contract import APP_DB_USER, MAINTAINER_DB_USER, ConfigError


def test_instance_is_private_encrypted_and_multi_az(dev) -> None:
    key_ref = dev.key_ref("data")
    _, db = dev.one("aws_db_instance")
    assert (db["engine"], db["engine_version"], db["auto_minor_version_upgrade"]) == ("postgres", "16", True)
    assert db["storage_type"] == "gp3" and db["max_allocated_storage"] > db["allocated_storage"]
    assert db["storage_encrypted"] is True and db["kms_key_id"] == key_ref
    assert db["multi_az"] is True and db["publicly_accessible"] is False
    assert db["iam_database_authentication_enabled"] is True
    assert db["performance_insights_enabled"] is True and db["performance_insights_kms_key_id"] == key_ref
    assert db["enabled_cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    assert db["copy_tags_to_snapshot"] is True


def test_password_is_managed_by_rds_and_never_in_configuration(dev) -> None:
    key_ref = dev.key_ref("secrets")
    _, db = dev.one("aws_db_instance")
    assert db["manage_master_user_password"] is True and db["master_user_secret_kms_key_id"] == key_ref
    assert "password" not in db
    assert dev.data("aws_secretsmanager_secret_version") == {}


def test_connection_secret_holds_the_real_endpoint(dev) -> None:
    db_key, _ = dev.one("aws_db_instance")
    secret_key, _ = dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")
    _, version = dev.one(
        "aws_secretsmanager_secret_version", secret_id=dev.ref("aws_secretsmanager_secret", secret_key, "id")
    )
    value = version["secret_string"]
    for attribute in ("address", "port", "master_user_secret[0].secret_arn"):
        assert f"aws_db_instance.{db_key}.{attribute}" in value
    assert '"dbname" = "transactions"' in value and "placeholder" not in value
    # The contract's shape: engine, host, port, dbname, username (master), password_secret_arn, app_username,
    # maintainer_username.
    assert value.count(" = ") == 8
    assert '"engine" = "postgres"' in value and '"username" = "japancart_admin"' in value
    assert f'"app_username" = "{APP_DB_USER}"' in value and f'"maintainer_username" = "{MAINTAINER_DB_USER}"' in value


def database_props(**overrides: Any) -> TransactionDatabaseProps:
    return required_only(TransactionDatabaseProps, "bare-transactions", **overrides)


def test_defaults_are_private_encrypted_multi_az_protected_and_closed() -> None:
    stack = with_defaults(
        lambda bare: TransactionDatabase(
            bare.stack,
            "database",
            TransactionDatabaseProps(name="bare-transactions", keys=bare.keys, networking=bare.network),
        )
    )
    _, db = stack.one("aws_db_instance")
    assert db["storage_encrypted"] is True and db["kms_key_id"] == stack.key_ref("data")
    assert (db["multi_az"], db["publicly_accessible"], db["deletion_protection"]) == (True, False, True)
    assert db["skip_final_snapshot"] is False and db["final_snapshot_identifier"].startswith("bare-transactions-final-")
    assert db["manage_master_user_password"] is True and "password" not in db
    assert db["iam_database_authentication_enabled"] is True and db["backup_retention_period"] == 7
    assert "checkov" not in json.dumps(db.get("//", {}))  # no deletion-protection waiver on the default
    _, parameters = stack.one("aws_db_parameter_group")
    assert {"name": "rds.force_ssl", "value": "1", "apply_method": "immediate"} in parameters["parameter"]
    store_key, _ = stack.one("aws_security_group", name="bare-transactions-db")
    assert admitted(stack, store_key) == [], "nothing is admitted until allow_from names a client group"
    _, secret = stack.one("aws_secretsmanager_secret", name="bare-transactions/db-connection")
    assert secret["recovery_window_in_days"] == 30


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"name": "bare--transactions"}, "name must be an RDS identifier", id="name-double-hyphen"),
        pytest.param(
            {"app_username": "japancart_admin"},
            "app_username must be a role other than the master user",
            id="app-role-is-master",
        ),
        pytest.param(
            {"app_username": "Txn-Writer"}, "app_username must be a PostgreSQL role name", id="app-role-malformed"
        ),
        pytest.param(
            {"allocated_storage_gb": 20.5}, "allocated_storage_gb must be a whole number", id="fractional-storage"
        ),
        pytest.param(
            {"max_allocated_storage_gb": 20},
            "max_allocated_storage_gb must be a whole number from 21",
            id="no-room-to-autoscale",
        ),
        pytest.param({"deletion_protection": 1}, "deletion_protection must be true or false", id="protection-not-bool"),
        pytest.param(
            {"master_username": "postgres"}, "master_username must be a name RDS does not reserve", id="reserved-master"
        ),
        pytest.param(
            {"backup_window": "18:30-19:30"}, "maintenance_window must be clear of backup_window", id="windows-overlap"
        ),
        pytest.param(
            {"secret_recovery_days": 3},
            "secret_recovery_days must be 0 (delete at once)",
            id="recovery-window-too-short",
        ),
        pytest.param(
            {"secret_recovery_days": 31},
            "secret_recovery_days must be 0 (delete at once)",
            id="recovery-window-too-long",
        ),
        pytest.param(
            {"connection_secret_name": "no spaces"},
            "connection_secret_name must be a Secrets Manager name",
            id="secret-name-malformed",
        ),
    ],
)
def test_fails_when_a_prop_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        database_props(**overrides)
    assert message in str(raised.value)


def test_parameter_group_forces_tls_and_audits_without_bound_values(dev) -> None:
    group_key, group = dev.one("aws_db_parameter_group")
    assert group["family"] == "postgres16"
    assert {p["name"]: (p["value"], p["apply_method"]) for p in group["parameter"]} == {
        "rds.force_ssl": ("1", "immediate"),
        "log_min_duration_statement": ("500", "immediate"),
        "log_parameter_max_length": ("0", "immediate"),
        "log_parameter_max_length_on_error": ("0", "immediate"),
        "log_connections": ("1", "immediate"),
        "log_disconnections": ("1", "immediate"),
        "shared_preload_libraries": ("pgaudit", "pending-reboot"),
        "pgaudit.log": ("ddl,role,write", "immediate"),
        "pgaudit.log_parameter": ("0", "immediate"),
        "pgaudit.log_catalog": ("0", "immediate"),
    }
    assert dev.one("aws_db_instance")[1]["parameter_group_name"] == dev.ref("aws_db_parameter_group", group_key, "name")


def test_enhanced_monitoring_role(dev) -> None:
    role_key, role = dev.one("aws_iam_role", name="japancart-dev-transactions-rds-monitoring")
    trust_key = role["assume_role_policy"].split(".")[2]
    trust = dev.data("aws_iam_policy_document")[trust_key]
    assert trust["statement"][0]["principals"][0]["identifiers"] == ["monitoring.rds.amazonaws.com"]
    _, db = dev.one("aws_db_instance")
    assert db["monitoring_interval"] == 60 and db["monitoring_role_arn"] == dev.ref("aws_iam_role", role_key, "arn")


@pytest.mark.parametrize(
    "stack_name, retention, protected", [("dev", 7, False), ("staging", 14, True), ("prod", 30, True)]
)
def test_backups_and_deletion_safety(stacks, stack_name: str, retention: int, protected: bool) -> None:
    from synthesis import StackView

    _, db = StackView(stacks[stack_name]).one("aws_db_instance")
    assert db["backup_retention_period"] == retention
    assert db["deletion_protection"] is protected
    assert db["skip_final_snapshot"] is (not protected)
    if protected:
        # A name per instance: the creation time, taken once by a built-in terraform_data that ignores changes.
        ((created_key, created),) = StackView(stacks[stack_name]).resources("terraform_data").items()
        assert created["input"] == {"at": "${timestamp()}"} and created["lifecycle"] == {"ignore_changes": ["input"]}
        assert db["final_snapshot_identifier"] == (
            f"japancart-{stack_name}-transactions-final-"
            f'${{formatdate("YYYYMMDDhhmmss", terraform_data.{created_key}.output.at)}}'
        )
    else:
        assert "final_snapshot_identifier" not in db and StackView(stacks[stack_name]).resources("terraform_data") == {}


def test_enhanced_monitoring_trusts_only_this_instance(prod) -> None:
    _, role = prod.one("aws_iam_role", name="japancart-prod-transactions-rds-monitoring")
    trust = prod.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]["statement"][0]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in trust["condition"]}
    assert conditions["aws:SourceAccount"][0] == "StringEquals"
    test, (arn,) = conditions["aws:SourceArn"]
    assert test == "ArnLike" and arn.endswith(":db:japancart-prod-transactions") and ":rds:" in arn


def test_lifecycle_settings_reach_the_migration_run_as_the_policy_it_sets(tmp_path) -> None:
    """The retention travels in the migration's input (and trigger), never to the maintenance function."""
    import json

    from environments import synth_environment

    stack = synth_environment(
        tmp_path,
        database={
            "transaction_retention_months": 13,
            "rejected_retention_days": 30,
            "conflict_retention_days": 14,
            "alert_retention_days": 400,
            "partition_drop_grace_days": 7,
            "export_before_drop": True,
        },
    )
    _, run = stack.one("aws_lambda_invocation")
    expected = {
        "transaction_retention_months": 13,
        "rejected_retention_days": 30,
        "conflict_retention_days": 14,
        "alert_retention_days": 400,
        "partition_drop_grace_days": 7,
        "export_before_drop": True,
    }
    assert json.loads(run["input"])["retention"] == expected
    assert json.loads(run["triggers"]["retention"]) == expected
    for function in ("japancart-dev-migrate", "japancart-dev-maintain"):
        _, lam = stack.one("aws_lambda_function", function_name=function)
        assert not [name for name in lam["environment"]["variables"] if "RETENTION" in name]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("conflict_retention_days", 0, "conflict_retention_days must be a whole number from 1 to 3650, got 0"),
        ("alert_retention_days", 3651, "alert_retention_days must be a whole number from 1 to 3650, got 3651"),
        ("partition_drop_grace_days", 1.5, "partition_drop_grace_days must be a whole number from 1 to 3650, got 1.5"),
        ("export_before_drop", "yes", "export_before_drop must be true or false, got 'yes'"),
        (
            "maintainer_username",
            "txn_writer",
            "maintainer_username must be a role other than the master "
            "(japancart_admin) and the application's (txn_writer), got 'txn_writer'",
        ),
    ],
)
def test_bad_lifecycle_props_are_refused_with_field_and_value(field, value, message) -> None:
    with pytest.raises(ConfigError) as caught:
        database_props(**{field: value})
    assert str(caught.value) == message

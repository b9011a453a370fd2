"""The restore drill's infrastructure half (docs/operations.md, "Restoring the database") against an applied dev in
the emulator, called from the round trip (``tests/e2e/test_emulator_roundtrip.py``) after its clean re-plan and
pull-request plan, so it rides on that apply; the round trip then destroys from the drill's working copy.

As an operator would: ``[environments.dev.database] restore = { source = ..., latest = true }`` in the
configuration, synthesize dev, and the plan (the apply role's) creates one instance from the source's backups,
points the connection secret, the processor's IAM grant and the alarms at it, and deletes or replaces nothing; the
source instance is untouched. After the apply both instances exist and the secret names the restored one.

Where the emulator stops: moto's RestoreDBInstanceToPointInTime copies the source instance as it is now whatever
the restore time (no backups, no data: nothing in moto is a database). The data half (the Redis history rebuilt
from PostgreSQL and the stream replayed from the restore time) runs on the real PostgreSQL and Redis of the
processor's rig: ``tests/processor/test_catch_up.py`` and ``make bench-restore``.
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path

from config_files import dump_config

from tests.e2e.conftest import ci_role, synthesize
from tools.emulator import Emulator
from tools.terraform import TerraformCLI, copy_stack

SOURCE = "japancart-dev-transactions"
RESTORED = f"{SOURCE}-restored"
#: What the plan may do besides creating the restored instance and its two log groups: update in place the
#: resources that name the database (secret, grants, alarms, the monitoring role's trust, the migration run, the
#: Secrets Manager endpoint's policy, which names the new instance's RDS-managed master secret).
UPDATED_TYPES = {
    "aws_vpc_endpoint",
    "aws_secretsmanager_secret_version",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_cloudwatch_dashboard",
    "aws_lambda_invocation",
    "aws_db_event_subscription",
}


def restore_config(config: Path, out: Path) -> Path:
    """`config` with `[environments.dev.database] restore = { source = <dev's database>, latest = true }`."""
    document = tomllib.loads(config.read_text(encoding="utf-8"))
    database = document["environments"]["dev"].setdefault("database", {})
    database["restore"] = {"source": SOURCE, "latest": True}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "environments.toml"
    path.write_text(dump_config(document), encoding="utf-8")
    return path


def _changed_attributes(change: dict) -> dict[str, tuple[object, object]]:
    """attribute -> (before, after) of a planned change, for a failure message that says what moved."""
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    return {
        key: (before.get(key), "(known after apply)" if unknown.get(key) is True else after.get(key))
        for key in sorted(set(before) | set(after) | set(unknown))
        if before.get(key) != after.get(key) or unknown.get(key) is True
    }


def _pending(tf: TerraformCLI, work: Path) -> dict[str, dict[str, tuple[object, object]]]:
    """address -> changed attributes of every resource a plan of `work` would change."""
    return {
        c["address"]: _changed_attributes(c["change"])
        for c in tf.plan_json(work)["resource_changes"]
        if c["mode"] == "managed" and c["change"]["actions"] != ["no-op"]
    }


def check_restore_drill(
    emulator: Emulator, tf: TerraformCLI, root: Path, bootstrapped: dict, operator: dict
) -> tuple[Path, list[str]]:
    """Plan and apply dev's restore; returns the working copy that now describes both instances, and notes."""
    started = time.monotonic()
    env = {
        **bootstrapped["env"],
        "JAPANCART_STATE_KEYS": json.dumps(bootstrapped["keys"]),
        "JAPANCART_CONFIG": str(restore_config(Path(bootstrapped["env"]["JAPANCART_CONFIG"]), root / "restore-config")),
    }
    stacks = synthesize(root / "restore-synth", env, only=("dev",))
    work = copy_stack(stacks / "dev", root / "restore")
    tf = tf.with_env(ci_role(emulator, "dev", "apply"))  # as the deploy job: the apply role's session
    tf.init(work).check()
    plan = tf.plan_json(work)
    changes = [c for c in plan["resource_changes"] if c["mode"] == "managed" and c["change"]["actions"] != ["no-op"]]
    # A secret version's value cannot change in place: the provider writes a new version (the old one is kept
    # as AWSPREVIOUS), shown as delete-then-create. Nothing else may be deleted or replaced.
    odd = [
        (c["address"], c["change"]["actions"])
        for c in changes
        if c["change"]["actions"] not in (["create"], ["update"])
        and not (c["type"] == "aws_secretsmanager_secret_version" and c["change"]["actions"] == ["delete", "create"])
    ]
    assert not odd, f"the restore plan deletes or replaces: {odd}"
    created = [c for c in changes if c["change"]["actions"] == ["create"]]
    (instance,) = [c for c in created if c["type"] == "aws_db_instance"]
    after = instance["change"]["after"]
    assert after["identifier"] == RESTORED
    assert after["restore_to_point_in_time"] == [
        {
            "source_db_instance_identifier": SOURCE,
            "use_latest_restorable_time": True,
            "restore_time": None,
            "source_db_instance_automated_backups_arn": None,
            "source_dbi_resource_id": None,
        }
    ]
    assert sorted(c["type"] for c in created) == [
        "aws_cloudwatch_log_group",
        "aws_cloudwatch_log_group",
        "aws_db_instance",
    ]
    updated = {c["type"] for c in changes if c["change"]["actions"] != ["create"]}
    assert "aws_secretsmanager_secret_version" in updated and updated <= UPDATED_TYPES, updated
    planned = time.monotonic() - started

    tf.apply(work).check()
    rds = emulator.client("rds", credentials=operator)
    source, restored = (rds.describe_db_instances(DBInstanceIdentifier=n)["DBInstances"][0] for n in (SOURCE, RESTORED))
    assert source["DBInstanceStatus"] == restored["DBInstanceStatus"] == "available"
    assert restored["DbiResourceId"] != source["DbiResourceId"]
    secrets = emulator.client("secretsmanager", credentials=operator)
    value = json.loads(secrets.get_secret_value(SecretId="japancart/dev/db-connection")["SecretString"])
    assert value["host"] == restored["Endpoint"]["Address"] != source["Endpoint"]["Address"], value
    # The AWS provider passes no Performance Insights setting to RestoreDBInstanceToPointInTime, nor to the
    # ModifyDBInstance it sends after it: the restored instance starts without it (AWS's default, and the
    # emulator's), and the next deploy turns it on. Until then the IAM policies that name the instance are read
    # at apply time. docs/operations.md tells the operator to deploy twice.
    second = _pending(tf, work)
    (instance_address,) = [a for a in second if a.startswith("aws_db_instance.")]
    assert second.pop(instance_address) == {"performance_insights_enabled": (False, True)}, second
    assert all(a.startswith("aws_iam_role_policy.") and set(c) == {"policy"} for a, c in second.items()), second
    tf.apply(work).check()
    pending = _pending(tf, work)
    assert not pending, f"the restored stack re-plans clean after the second deploy; it would change {pending}"
    return work, [
        f"restore drill: plan {planned:.0f}s creates {RESTORED} from {SOURCE}'s backups (+2 log groups), changes "
        f"{len(updated)} types ({', '.join(sorted(updated))}; a new secret version, the rest in place), deletes "
        "nothing; applied in "
        f"{time.monotonic() - started:.0f}s in all: both instances available, the connection secret names "
        f"{RESTORED}; the second deploy turns on Performance Insights, then the re-plan is clean"
    ]


def check_backup_replication(emulator: Emulator, tf: TerraformCLI, work: Path, env: str, operator: dict) -> str:
    """Prod's applied replication, read in the backup region: replicating the database, under that region's key."""
    region, arn = "ap-northeast-3", tf.output_json(work)["replicated_backups_arn"]["value"]
    osaka = emulator.client("rds", region=region, credentials=operator)
    key = emulator.client("kms", region=region, credentials=operator).describe_key(
        KeyId=f"alias/japancart-{env}-backups"
    )["KeyMetadata"]
    (backups,) = osaka.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=arn)[
        "DBInstanceAutomatedBackups"
    ]
    assert backups["Status"] == "replicating" and backups["KmsKeyId"] == key["Arn"], backups
    assert backups["DBInstanceIdentifier"] == f"japancart-{env}-transactions"
    return (
        f"backups of japancart-{env}-transactions replicating to {region} under alias/japancart-{env}-backups, "
        f"kept {backups['BackupRetentionPeriod']} days"
    )

"""Apply / re-plan / destroy the real stacks against the AWS emulator (moto, in-process, 127.0.0.1), in the
supported layout: the state bucket in one account, each environment in its own.

Sequence: ``bootstrap`` (local state, kept in its working copy) creates the state bucket and every stack's
state key, as the bucket account's operator; each ``ci-<account>`` stack (GitHub's OIDC provider, the plan
and apply roles, the boundaries) is applied by that account's operator (moto acts in the account of a
session's role); then for every environment (``dev``, ``staging``, ``prod``, side by side), as its apply role
(a web-identity session, as the deploy job): ``terraform init`` with the real S3 backend in the emulator, a check that the S3 lock file
(``use_lockfile``) is really honoured, ``apply``, boto3 checks that what exists matches the synthesized
intent, ``plan -detailed-exitcode`` == 0 (no perpetual diff), a pull-request plan as the plan role
(``-lock=false`` works; taking the lock is refused), ``destroy``, and boto3 checks that nothing is left.
Then a dev role's session is refused prod's state, its versions and its listing by the bucket policy (the
emulator evaluates it per requester: tools/emulator/patches/s3.py), the CI stacks re-plan to no changes and are
destroyed.  Wall times of apply / plan / destroy are printed in the e2e summary.

Prod keeps deletion protection and a final snapshot (the product default is never changed for tests).
Before destroying prod the harness does what an operator would: turns deletion protection off with boto3
(``ModifyDBInstance``); the destroy then takes the final snapshot, which the test checks and removes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from processor.contract import ENVIRONMENTS as SHIPPED_ENVIRONMENTS
from synthesis import TEST_ACCOUNTS
from tests.e2e.conftest import ROUNDTRIP_GROUP, ci_role, operator_of
from tests.e2e.drift_check import check_drift_is_reported
from tests.e2e.restore_drill import check_backup_replication, check_restore_drill
from tools.emulator import Emulator
from tools.emulator.inventory import leftovers, state_identifiers
from tools.terraform import TerraformCLI, copy_stack

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group(ROUNDTRIP_GROUP)]


def _resources(stack_dir: Path, rtype: str) -> dict[str, dict[str, Any]]:
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    return {k: v for k, v in (doc.get("resource", {}).get(rtype) or {}).items()}


def _one(stack_dir: Path, rtype: str) -> dict[str, Any]:
    found = list(_resources(stack_dir, rtype).values())
    assert len(found) == 1, f"expected one {rtype}, found {len(found)}"
    return found[0]


def _backend(stack_dir: Path) -> dict[str, Any]:
    return json.loads((stack_dir / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]


@pytest.fixture(scope="module")
def roundtrip_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roundtrip")


@pytest.fixture(scope="module")
def bootstrapped(emulator: Emulator, emulator_bootstrap: dict[str, Any]) -> dict[str, Any]:
    """Phase 1 of the bootstrap applied against the emulator: the state bucket and the keys exist, and each
    stack's prefix refuses uploads that are not SSE-KMS under that stack's key."""
    bucket, keys, work = emulator_bootstrap["bucket"], emulator_bootstrap["keys"], emulator_bootstrap["dir"]
    s3 = emulator.client("s3")
    s3.head_bucket(Bucket=bucket)
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": keys["bootstrap"],
    }
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(pab.values()), pab
    assert (work / "terraform.tfstate").is_file(), "bootstrap state stays in the working copy"
    assert len(set(keys.values())) == len(keys) == 7, keys
    check_only_the_stacks_key_is_accepted(emulator, bucket, keys)
    return {**emulator_bootstrap, "bucket": bucket, "keys": keys}


def check_only_the_stacks_key_is_accepted(emu: Emulator, bucket: str, keys: dict[str, str]) -> None:
    """The bucket policy: an upload to dev's prefix without SSE-KMS, or under another key (prod's), is refused,
    and so is any upload outside the stacks' prefixes; under dev's key it lands."""
    from botocore.exceptions import ClientError

    s3, other_key = emu.client("s3"), emu.client("kms").create_key(Description="not a state key")["KeyMetadata"]["Arn"]
    for refused in (
        {},
        {"ServerSideEncryption": "AES256"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": other_key},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": keys["prod"]},
    ):
        with pytest.raises(ClientError, match="AccessDenied|403"):
            s3.put_object(Bucket=bucket, Key="japancart/dev/probe", Body=b"{}", **refused)
    with pytest.raises(ClientError, match="AccessDenied|403"):
        s3.put_object(
            Bucket=bucket,
            Key="probe/accepted",
            Body=b"{}",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=keys["bootstrap"],
        )
    s3.put_object(
        Bucket=bucket, Key="japancart/dev/probe", Body=b"{}", ServerSideEncryption="aws:kms", SSEKMSKeyId=keys["dev"]
    )
    s3.delete_object(Bucket=bucket, Key="japancart/dev/probe")


def check_state_is_encrypted_with_the_state_key(emu: Emulator, work: Path, key_arn: str) -> str:
    backend = _backend(work)
    assert backend["kms_key_id"] == key_arn
    head = emu.client("s3").head_object(Bucket=backend["bucket"], Key=backend["key"])
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key_arn), head
    return f"state s3://{backend['bucket']}/{backend['key']}: SSE-KMS under the stack's own key"


def check_lockfile_is_honoured(tf: TerraformCLI, emu: Emulator, work: Path) -> None:
    """use_lockfile: a foreign ``<key>.tflock`` in the bucket must block us; after removing it we proceed."""
    backend = _backend(work)
    assert backend.get("use_lockfile") is True
    s3 = emu.client("s3")
    lock_key = f"{backend['key']}.tflock"
    s3.put_object(
        Bucket=backend["bucket"],
        Key=lock_key,
        Body=json.dumps({"ID": "held-by-the-test", "Operation": "OperationTypeApply", "Who": "e2e"}).encode(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=backend["kms_key_id"],
    )  # the bucket takes nothing else
    try:
        blocked = tf.plan(work, extra=["-lock-timeout=0s", "-refresh=false"])
        assert blocked.returncode == 1 and "Error acquiring the state lock" in blocked.output, blocked.output[-3000:]
    finally:
        s3.delete_object(Bucket=backend["bucket"], Key=lock_key)


def check_migration_ran(work: Path, shown: dict) -> str:
    """Terraform invoked the migration function once, with the bundle's migrations checksum and the configured
    retention as input (the emulator runs no code: its Invoke echoes the payload, so the stored result is what
    the function was given)."""
    run_cfg = _one(work, "aws_lambda_invocation")
    (state,) = [r for r in shown["values"]["root_module"]["resources"] if r["type"] == "aws_lambda_invocation"]
    given = json.loads(run_cfg["input"])
    checksum = given["checksum"]
    assert json.loads(state["values"]["result"]) == given and set(given) == {"checksum", "retention"}, state["values"]
    assert state["values"]["triggers"] == run_cfg["triggers"] and run_cfg["triggers"]["migrations_checksum"] == checksum
    return f"migration run: {state['values']['function_name']} invoked with checksum {checksum[:12]}..."


def check_no_secret_value_in_state(shown: dict) -> str:
    """The applied state holds no generated secret: no random_* resource, no password on any ElastiCache user,
    no AUTH token, no Redis secret (issue 16: secret values in Terraform state)."""
    resources = shown["values"]["root_module"]["resources"]
    assert not [r["address"] for r in resources if r["type"].startswith("random_")]
    users = [r["values"] for r in resources if r["type"] == "aws_elasticache_user"]
    assert users and all(
        not u.get("passwords") and not any(m.get("passwords") for m in u.get("authentication_mode") or [])
        for u in users
    ), users
    assert all(not r["values"].get("auth_token") for r in resources if r["type"] == "aws_elasticache_replication_group")
    secrets = [r["values"]["name"] for r in resources if r["type"] == "aws_secretsmanager_secret"]
    assert not [name for name in secrets if "redis" in name], secrets
    return f"state: no random_*, no ElastiCache password or AUTH token; secrets {secrets}"


def check_intent(emu: Emulator, work: Path, env: str, credentials: dict[str, str]) -> list[str]:
    """What exists in the emulator (in the environment's account: `credentials`) matches the synthesized stack.
    Returns notes for the summary."""
    notes = []

    def client(service: str) -> Any:
        return emu.client(service, credentials=credentials)

    kms = client("kms")
    key_arn = kms.describe_key(KeyId=f"alias/japancart-{env}-data")["KeyMetadata"]["Arn"]
    secrets_key_arn = kms.describe_key(KeyId=f"alias/japancart-{env}-secrets")["KeyMetadata"]["Arn"]
    for data_class in ("data", "secrets", "logs"):
        key_id = kms.describe_key(KeyId=f"alias/japancart-{env}-{data_class}")["KeyMetadata"]["KeyId"]
        assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True, data_class

    # Kinesis: retention and KMS encryption
    stream_cfg = _one(work, "aws_kinesis_stream")
    stream = client("kinesis").describe_stream_summary(StreamName=stream_cfg["name"])["StreamDescriptionSummary"]
    assert stream["RetentionPeriodHours"] == stream_cfg["retention_period"]
    assert stream["EncryptionType"] == "KMS" and stream["KeyId"] in (key_arn, key_arn.split("/")[-1]), stream
    notes.append(f"kinesis {stream_cfg['name']}: retention {stream['RetentionPeriodHours']}h, KMS")

    # RDS: Multi-AZ, encryption, deletion protection as configured
    db_cfg = _one(work, "aws_db_instance")
    db = client("rds").describe_db_instances(DBInstanceIdentifier=db_cfg["identifier"])["DBInstances"][0]
    assert db["MultiAZ"] is bool(db_cfg.get("multi_az", False)), (db["MultiAZ"], db_cfg.get("multi_az"))
    assert db["StorageEncrypted"] is True and db["KmsKeyId"] == key_arn
    assert db["DeletionProtection"] is bool(db_cfg.get("deletion_protection", False))
    assert db["PubliclyAccessible"] is False
    notes.append(
        f"rds {db['DBInstanceIdentifier']}: MultiAZ={db['MultiAZ']} encrypted deletion_protection={db['DeletionProtection']}"
    )

    # ElastiCache: encryption in transit and at rest, member count
    rg_cfg = _one(work, "aws_elasticache_replication_group")
    ec = client("elasticache")
    rg = ec.describe_replication_groups(ReplicationGroupId=rg_cfg["replication_group_id"])["ReplicationGroups"][0]
    assert rg["AtRestEncryptionEnabled"] is True and rg["TransitEncryptionEnabled"] is True
    assert len(rg["MemberClusters"]) == rg_cfg["num_cache_clusters"]
    # RBAC: the group's user group holds a disabled default user without a password and the application user,
    # which signs in with IAM auth tokens (user id = user name); no AUTH token.
    group_id = _one(work, "aws_elasticache_user_group")["user_group_id"]
    assert rg.get("UserGroupIds") == [group_id] and not rg.get("AuthTokenEnabled"), rg
    group = ec.describe_user_groups(UserGroupId=group_id)["UserGroups"][0]
    assert group["Status"] == "active" and rg["ReplicationGroupId"] in group["ReplicationGroups"]
    users = {u["UserName"]: u for u in (ec.describe_users(UserId=uid)["Users"][0] for uid in group["UserIds"])}
    app_user = f"{rg['ReplicationGroupId']}-processor"
    assert set(users) == {"default", app_user}, users
    assert users["default"]["AccessString"].split()[0] == "off", users["default"]
    assert users["default"]["Authentication"]["Type"] == "no-password", users["default"]
    assert users[app_user]["AccessString"].split()[0] == "on" and users[app_user]["UserId"] == app_user
    assert users[app_user]["Authentication"]["Type"] == "iam", users[app_user]
    notes.append(
        f"redis {rg['ReplicationGroupId']}: {len(rg['MemberClusters'])} nodes, TLS+at-rest, RBAC group "
        f"{group_id} (default user off without a password, {app_user} on with IAM auth)"
    )

    # Alarms: every configured alarm exists with alarm and OK actions to the topic
    topic_arn = client("sns").list_topics()["Topics"]
    topic_arn = [t["TopicArn"] for t in topic_arn if t["TopicArn"].endswith(_one(work, "aws_sns_topic")["name"])][0]
    topic = client("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert topic.get("KmsMasterKeyId"), "alert topic is KMS-encrypted"
    wanted = {a["alarm_name"] for a in _resources(work, "aws_cloudwatch_metric_alarm").values()}
    alarms = {
        a["AlarmName"]: a
        for page in client("cloudwatch").get_paginator("describe_alarms").paginate()
        for a in page["MetricAlarms"]
    }
    assert wanted <= set(alarms), wanted - set(alarms)
    for name in wanted:
        assert alarms[name]["AlarmActions"] == [topic_arn] and alarms[name]["OKActions"] == [topic_arn], alarms[name]
    notes.append(f"alarms: {len(wanted)}, all with alarm_actions and ok_actions -> {topic_arn.split(':')[-1]}")

    # Secrets: exist and are encrypted with our key
    sm = client("secretsmanager")
    for secret_cfg in _resources(work, "aws_secretsmanager_secret").values():
        secret = sm.describe_secret(SecretId=secret_cfg["name"])
        assert secret.get("KmsKeyId") in (secrets_key_arn, secrets_key_arn.split("/")[-1]), secret
        assert "DeletedDate" not in secret
    notes.append(
        f"secrets: {len(_resources(work, 'aws_secretsmanager_secret'))}, KMS-encrypted with alias/japancart-{env}-secrets"
    )

    # The daily data-lifecycle schedule exists and targets the maintenance function with {"action": "maintain"}.
    schedule_cfg = _one(work, "aws_scheduler_schedule")
    schedule = client("scheduler").get_schedule(Name=schedule_cfg["name"])
    assert schedule["Target"]["Arn"].endswith(":function:" + f"japancart-{env}-maintain"), schedule["Target"]
    assert json.loads(schedule["Target"]["Input"]) == {"action": "maintain"}
    notes.append(
        f"schedule {schedule['Name']}: {schedule['ScheduleExpression']} -> {schedule['Target']['Arn'].split(':')[-1]}"
    )
    return notes


def _roundtrip(
    env: str, emulator: Emulator, tf: TerraformCLI, synth: Path, root: Path, bootstrapped: dict
) -> tuple[dict[str, float], list[str]]:
    work = copy_stack(synth / env, root)
    assert _backend(work)["bucket"] == bootstrapped["bucket"]
    operator = operator_of(emulator, TEST_ACCOUNTS[env])  # boto3 checks in the environment's account
    tf = tf.with_env(ci_role(emulator, env, "apply"))  # as the deploy job: the apply role's session
    tf.init(work).check()
    check_lockfile_is_honoured(tf, emulator, work)

    apply = tf.apply(work).check()
    state_note = check_state_is_encrypted_with_the_state_key(emulator, work, bootstrapped["keys"][env])
    created = tf.state_list(work)
    shown = json.loads(tf.run(["show", "-json", "-no-color"], work).check().stdout)
    boundary = f"arn:aws:iam::{TEST_ACCOUNTS[env]}:policy/japancart-{env}-workload-boundary"
    identifiers = state_identifiers(shown) - {boundary}  # the CI stack's, named by every role here
    notes = [state_note, *check_intent(emulator, work, env, operator)]
    notes.append(check_migration_ran(work, shown))
    if env == "prod":
        notes.append(check_backup_replication(emulator, tf, work, env, operator))
    roles = [r for r in shown["values"]["root_module"]["resources"] if r["type"] == "aws_iam_role"]
    iam = emulator.client("iam", credentials=operator)
    assert roles and all(
        iam.get_role(RoleName=r["values"]["name"])["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
        for r in roles
    )
    notes.append(f"{len(roles)} roles, each with the permissions boundary japancart-{env}-workload-boundary")
    notes.append(check_no_secret_value_in_state(shown))

    plan = tf.plan(work)
    # A perpetual diff fails the test, but only after destroy, so destroy is exercised (and timed) anyway.
    plan_problem = (
        None
        if plan.returncode == 0
        else f"perpetual diff in {env} (plan exit {plan.returncode}):\n{plan.output[-6000:]}"
    )
    notes += [check_drift_is_reported(emulator, tf, work, env, operator)] if env == "dev" else []
    notes.append(check_pull_request_plan(emulator, tf, work, env))

    db_cfg = _one(work, "aws_db_instance")
    (db_state,) = [r for r in shown["values"]["root_module"]["resources"] if r["type"] == "aws_db_instance"]
    final_snapshot = db_state["values"].get("final_snapshot_identifier")
    if env == "dev":  # the restore drill: destroy then runs from its working copy, both instances in it
        work, drill_notes = check_restore_drill(emulator, tf, root / f"{env}-restore", bootstrapped, operator)
        notes += drill_notes
    if db_cfg.get("deletion_protection"):
        # Operator step, outside Terraform: the product keeps deletion protection on.
        emulator.client("rds", credentials=operator).modify_db_instance(
            DBInstanceIdentifier=db_cfg["identifier"], DeletionProtection=False, ApplyImmediately=True
        )
        notes.append("deletion protection turned off via boto3 ModifyDBInstance before destroy (operator step)")

    destroy = tf.destroy(work).check()
    assert tf.state_list(work) == []
    s3 = emulator.client("s3")
    assert (
        s3.list_objects_v2(Bucket=bootstrapped["bucket"], Prefix=f"{_backend(work)['key']}.tflock").get("KeyCount", 0)
        == 0
    ), "lock released"

    if not db_cfg.get("skip_final_snapshot", False) and db_cfg.get("final_snapshot_identifier"):
        # The name carries the instance's creation time (terraform_data), so it is read from the state.
        assert final_snapshot and final_snapshot.startswith(f"{db_cfg['identifier']}-final-2"), final_snapshot
        rds = emulator.client("rds", credentials=operator)
        snaps = rds.describe_db_snapshots(DBSnapshotIdentifier=final_snapshot)["DBSnapshots"]
        assert snaps and snaps[0]["Encrypted"] is True, "destroy left the encrypted final snapshot"
        rds.delete_db_snapshot(DBSnapshotIdentifier=final_snapshot)
        notes.append(f"final snapshot {final_snapshot} taken on destroy (checked, then removed)")

    left = leftovers(emulator, only=identifiers, credentials=operator)
    assert not left, f"{env}: destroy left resources behind: {left}"
    times = {"apply": apply.seconds, "plan": plan.seconds, "destroy": destroy.seconds}
    assert plan_problem is None, (
        plan_problem + f"\n(apply {apply.seconds:.0f}s, destroy {destroy.seconds:.0f}s and the cleanup checks passed)"
    )
    notes.insert(
        0, f"{len(created)} resources/data in state after apply, as japancart-{env}-apply in {TEST_ACCOUNTS[env]}"
    )
    return times, notes


def check_pull_request_plan(emulator: Emulator, tf: TerraformCLI, work: Path, env: str) -> str:
    """As the plan role (the PR plan job's session): `plan -lock=false` reads the state and finds no change;
    a plan that takes the lock is refused, since the plan role may write nothing, not even the lock file."""
    planner = tf.with_env(ci_role(emulator, env, "plan"))
    unlocked = planner.plan(work, extra=["-lock=false"])
    assert unlocked.returncode == 0, f"PR plan of {env} as the plan role:\n{unlocked.output[-4000:]}"
    locked = planner.plan(work, extra=["-lock-timeout=0s", "-refresh=false"])
    assert locked.returncode == 1 and "Error acquiring the state lock" in locked.output, locked.output[-3000:]
    return f"PR plan as japancart-{env}-plan: -lock=false no changes; taking the lock refused (AccessDenied)"


#: Every environment of the shipped configuration: the round trips run side by side. `make restore-drill` runs
#: dev's alone (JAPANCART_E2E_ENVIRONMENTS=dev).
ENVIRONMENTS = tuple(os.environ.get("JAPANCART_E2E_ENVIRONMENTS", "").split()) or SHIPPED_ENVIRONMENTS


def test_gap_patches_close_the_known_moto_gaps(emulator: Emulator) -> None:
    """Fast boto3-level proof of the two gaps that break every ElastiCache round trip (no Terraform)."""
    ec = emulator.client("elasticache")
    ec.create_replication_group(
        ReplicationGroupId="gap-check",
        ReplicationGroupDescription="gap check",
        CacheNodeType="cache.t4g.micro",
        Engine="redis",
        NumCacheClusters=2,
        AtRestEncryptionEnabled=True,
        TransitEncryptionEnabled=True,
    )
    members = ec.describe_replication_groups(ReplicationGroupId="gap-check")["ReplicationGroups"][0]["MemberClusters"]
    assert members == ["gap-check-001", "gap-check-002"]
    first = ec.describe_cache_clusters(CacheClusterId="gap-check-001")["CacheClusters"][
        0
    ]  # CacheClusterNotFound unpatched
    assert first["ReplicationGroupId"] == "gap-check" and first["AtRestEncryptionEnabled"] is True
    ec.delete_replication_group(ReplicationGroupId="gap-check")
    with pytest.raises(ec.exceptions.ReplicationGroupNotFoundFault):
        ec.describe_replication_groups(ReplicationGroupId="gap-check")
    assert not [c for c in ec.describe_cache_clusters()["CacheClusters"] if c["CacheClusterId"].startswith("gap-check")]


def test_gap_patch_replicates_backups_to_another_region(emulator: Emulator) -> None:
    """boto3-level proof of the backups-replication gap patch: started in the destination region for an instance of
    another, read back by its ARN with key and retention, gone once stopped (prod's aws_db_instance_automated_backups
    _replication needs exactly these calls)."""
    tokyo = emulator.client("rds")
    osaka = emulator.client("rds", region="ap-northeast-3")
    source = tokyo.create_db_instance(
        DBInstanceIdentifier="gap-replica-source",
        Engine="postgres",
        DBInstanceClass="db.t4g.medium",
        AllocatedStorage=20,
        MasterUsername="gap",
        MasterUserPassword="gap-check-password",
    )["DBInstance"]
    key = f"arn:aws:kms:ap-northeast-3:{emulator.account_id}:key/gap-check"
    started = osaka.start_db_instance_automated_backups_replication(
        SourceDBInstanceArn=source["DBInstanceArn"], KmsKeyId=key, BackupRetentionPeriod=30
    )["DBInstanceAutomatedBackup"]
    arn = started["DBInstanceAutomatedBackupsArn"]
    assert arn.startswith("arn:aws:rds:ap-northeast-3:") and started["Status"] == "replicating"
    (read,) = osaka.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=arn)[
        "DBInstanceAutomatedBackups"
    ]
    assert (read["DBInstanceArn"], read["KmsKeyId"], read["BackupRetentionPeriod"]) == (
        source["DBInstanceArn"],
        key,
        30,
    )
    osaka.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=source["DBInstanceArn"])
    with pytest.raises(osaka.exceptions.DBInstanceAutomatedBackupNotFoundFault):
        osaka.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=arn)
    tokyo.delete_db_instance(DBInstanceIdentifier="gap-replica-source", SkipFinalSnapshot=True)


def test_gap_patches_cover_rbac_user_groups_and_invoke(emulator: Emulator) -> None:
    """boto3-level proof of the RBAC and Lambda gaps: user groups with AWS's checks, Invoke without Docker."""
    ec = emulator.client("elasticache")
    for user_id, name, access in (("gap-default", "default", "off -@all"), ("gap-app", "gap-app", "on ~gap:* +get")):
        ec.create_user(
            UserId=user_id,
            UserName=name,
            Engine="redis",
            AccessString=access,
            AuthenticationMode={"Type": "password", "Passwords": ["x" * 32]},
        )
    with pytest.raises(ec.exceptions.DefaultUserRequired):
        ec.create_user_group(UserGroupId="gap-group", Engine="redis", UserIds=["gap-app"])
    with pytest.raises(ec.exceptions.UserNotFoundFault):
        ec.create_user_group(UserGroupId="gap-group", Engine="redis", UserIds=["gap-default", "nobody"])
    group = ec.create_user_group(UserGroupId="Gap-Group", Engine="redis", UserIds=["gap-default", "gap-app"])
    assert (group["UserGroupId"], group["Status"]) == ("gap-group", "active")
    assert ec.list_tags_for_resource(ResourceName=group["ARN"])["TagList"] == []
    ec.create_replication_group(
        ReplicationGroupId="gap-rbac",
        ReplicationGroupDescription="gap check",
        CacheNodeType="cache.t4g.micro",
        Engine="redis",
        NumCacheClusters=1,
        TransitEncryptionEnabled=True,
        UserGroupIds=["gap-group"],
    )
    assert ec.describe_user_groups(UserGroupId="gap-group")["UserGroups"][0]["ReplicationGroups"] == ["gap-rbac"]
    ec.delete_replication_group(ReplicationGroupId="gap-rbac")
    assert ec.delete_user_group(UserGroupId="gap-group")["Status"] == "deleting"
    with pytest.raises(ec.exceptions.UserGroupNotFoundFault):
        ec.describe_user_groups(UserGroupId="gap-group")
    for user_id in ("gap-default", "gap-app"):
        ec.delete_user(UserId=user_id)

    lam, iam = emulator.client("lambda"), emulator.client("iam")
    role = iam.create_role(
        RoleName="gap-invoke",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    raise RuntimeError('never runs')\n")
    lam.create_function(
        FunctionName="gap-invoke",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
    )
    try:
        answer = lam.invoke(FunctionName="gap-invoke", Payload=json.dumps({"checksum": "abc"}).encode())
        assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {"checksum": "abc"}
    finally:
        lam.delete_function(FunctionName="gap-invoke")
        iam.delete_role(RoleName="gap-invoke")


def test_gap_patches_refuse_deleting_groups_in_use_and_drop_a_deleted_subnets_acl_association(
    emulator: Emulator,
) -> None:
    """boto3-level proof of the RDS group and network ACL gaps (an instance Terraform never recorded, and the
    public subnets leaving an environment, showed them)."""
    ec2, rds = emulator.client("ec2"), emulator.client("rds")
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"ap-northeast-1{z}")["Subnet"][
            "SubnetId"
        ]
        for i, z in ((0, "a"), (1, "c"))
    ]
    rds.create_db_subnet_group(DBSubnetGroupName="gap-subnets", DBSubnetGroupDescription="gap", SubnetIds=subnets)
    rds.create_db_parameter_group(
        DBParameterGroupName="gap-params", DBParameterGroupFamily="postgres16", Description="gap"
    )
    rds.create_db_instance(
        DBInstanceIdentifier="gap-db",
        Engine="postgres",
        DBInstanceClass="db.t4g.micro",
        MasterUsername="gap",
        MasterUserPassword="gap-password-1",
        AllocatedStorage=20,
        DBSubnetGroupName="gap-subnets",
        DBParameterGroupName="gap-params",
    )
    with pytest.raises(rds.exceptions.ClientError, match="InvalidDBParameterGroupState"):
        rds.delete_db_parameter_group(DBParameterGroupName="gap-params")
    with pytest.raises(rds.exceptions.ClientError, match="InvalidDBSubnetGroupStateFault"):
        rds.delete_db_subnet_group(DBSubnetGroupName="gap-subnets")
    assert rds.describe_db_instances(DBInstanceIdentifier="gap-db")["DBInstances"]  # no 500: the groups are still there
    rds.delete_db_instance(DBInstanceIdentifier="gap-db", SkipFinalSnapshot=True)
    rds.delete_db_parameter_group(DBParameterGroupName="gap-params")
    rds.delete_db_subnet_group(DBSubnetGroupName="gap-subnets")

    def acl_subnets() -> set[str]:
        (acl,) = ec2.describe_network_acls(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}]
        )["NetworkAcls"]
        return {a["SubnetId"] for a in acl["Associations"]}

    assert acl_subnets() == set(subnets)
    ec2.delete_subnet(SubnetId=subnets[0])
    assert acl_subnets() == {subnets[1]}
    ec2.delete_subnet(SubnetId=subnets[1])
    ec2.delete_vpc(VpcId=vpc)


@pytest.fixture(scope="module")
def roundtrips(
    emulator: Emulator,
    emulator_terraform: TerraformCLI,
    emulator_synth_dir: Path,
    roundtrip_root: Path,
    bootstrapped: dict,
    emulator_ci: dict,
) -> dict[str, Any]:
    """Both round trips at once, in threads: Terraform mostly waits on the provider's fixed polling delays
    (RDS ~80s, Kinesis ~40s, ElastiCache ~30s ...), so running the environments together costs little more wall time than one
    without using more CPU.  Each environment's outcome (times and notes, or its exception) is kept."""
    from concurrent.futures import ThreadPoolExecutor

    def run(env: str) -> Any:
        try:
            return _roundtrip(env, emulator, emulator_terraform, emulator_synth_dir, roundtrip_root, bootstrapped)
        except BaseException as error:  # noqa: BLE001 -- reported by that environment's test
            return error

    with ThreadPoolExecutor(max_workers=len(ENVIRONMENTS)) as pool:
        futures = {env: pool.submit(run, env) for env in ENVIRONMENTS}
        return {env: future.result() for env, future in futures.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply_replan_destroy(
    env: str, roundtrips: dict[str, Any], emulator: Emulator, bootstrapped: dict, e2e_summary
) -> None:
    outcome = roundtrips[env]
    if isinstance(outcome, BaseException):
        raise outcome
    times, notes = outcome
    e2e_summary(
        f"{env} against moto {emulator.endpoint} (bootstrap apply {bootstrapped['apply_seconds']:.1f}s; every environment concurrently): "
        + ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
        + "".join(f"\n    {n}" for n in notes)
    )


def test_bootstrap_moves_its_own_state_into_the_bucket(
    emulator: Emulator, emulator_terraform: TerraformCLI, bootstrapped: dict, roundtrips: dict[str, Any], tmp_path: Path
) -> None:
    """Phase 2, as docs/deploying.md has it: `bootstrap_state = "s3"` in [backend], synthesize the bootstrap stack,
    `python -m tools.bootstrap_state`; then its state is SSE-KMS in the bucket and a plan shows no changes.
    (After the round trips: they share the emulator and the bucket.)"""
    import subprocess
    import sys

    from synthesis import TEST_CONFIG
    from tests.e2e.conftest import ROOT, synthesize

    filled = TEST_CONFIG.read_text(encoding="utf-8")  # the shipped file as the operator filled it in
    assert '# bootstrap_state = "s3"' in filled
    config = tmp_path / "environments.toml"
    config.write_text(filled.replace('# bootstrap_state = "s3"', 'bootstrap_state = "s3"'), encoding="utf-8")
    stacks = synthesize(
        tmp_path / "cdktf.out",
        {
            "JAPANCART_CONFIG": str(config),
            "JAPANCART_AWS_ENDPOINT": emulator.endpoint,
            "JAPANCART_STATE_BUCKET": bootstrapped["bucket"],
            "JAPANCART_STATE_KEYS": json.dumps(bootstrapped["keys"]),
        },
        only=("bootstrap",),
    )
    work = copy_stack(stacks / "bootstrap", tmp_path / "run")
    local = bootstrapped["dir"] / "terraform.tfstate"
    resources = len(json.loads(local.read_text())["resources"])

    moved = subprocess.run(
        [sys.executable, "-m", "tools.bootstrap_state", "--stack-dir", str(work), "--local-state", str(local)],
        cwd=ROOT,
        env=emulator_terraform.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "bootstrap state moved to s3://" in moved.stdout
    assert not local.exists() and local.with_name("terraform.tfstate.moved").is_file()
    assert check_state_is_encrypted_with_the_state_key(emulator, work, bootstrapped["keys"]["bootstrap"])
    assert len(emulator_terraform.state_list(work)) == resources
    assert emulator_terraform.plan(work).returncode == 0  # the moved state matches the configuration

    again = subprocess.run(
        [sys.executable, "-m", "tools.bootstrap_state", "--stack-dir", str(work), "--local-state", str(local)],
        cwd=ROOT,
        env=emulator_terraform.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 2 and "nothing to move" in again.stderr


def test_a_dev_role_session_is_refused_prods_state_its_versions_and_its_listing(
    emulator: Emulator, bootstrapped: dict, roundtrips: dict[str, Any], e2e_summary
) -> None:
    """The state bucket's denies, enforced per requester by the emulator: sessions of dev's apply and plan roles
    (web identity, as the jobs assume them) against prod's state, which the round trip left behind (an empty
    state after destroy, with every earlier version). Prod's own apply role reads it; dev's roles get
    AccessDenied for every object action, every version, and any listing outside dev's prefix."""
    from botocore.exceptions import ClientError

    bucket, keys = bootstrapped["bucket"], bootstrapped["keys"]
    prod_state, dev_state = "japancart/prod/terraform.tfstate", "japancart/dev/terraform.tfstate"
    versions = emulator.client("s3").list_object_versions(Bucket=bucket, Prefix=prod_state)["Versions"]
    assert len(versions) >= 2, "prod's state has history (apply, destroy)"
    old = versions[-1]["VersionId"]

    prod = emulator.client("s3", credentials=ci_role(emulator, "prod", "apply"))
    assert json.loads(prod.get_object(Bucket=bucket, Key=prod_state)["Body"].read())["version"] == 4
    refused = []
    for kind in ("apply", "plan"):
        dev = emulator.client("s3", credentials=ci_role(emulator, "dev", kind))
        # Each attempt: the client method and its arguments besides the bucket.
        attempts = {
            "GetObject": ("get_object", {"Key": prod_state}),
            "GetObject (a version)": ("get_object", {"Key": prod_state, "VersionId": old}),
            "HeadObject": ("head_object", {"Key": prod_state}),
            "HeadObject (a version)": ("head_object", {"Key": prod_state, "VersionId": old}),
            "GetObjectAcl": ("get_object_acl", {"Key": prod_state}),
            "GetObjectTagging": ("get_object_tagging", {"Key": prod_state}),
            "ListObjectsV2 (prod's prefix)": ("list_objects_v2", {"Prefix": "japancart/prod/"}),
            "ListObjectsV2 (everything)": ("list_objects_v2", {}),
            "ListObjectVersions": ("list_object_versions", {"Prefix": "japancart/prod/"}),
            "PutObject (under dev's key)": (
                "put_object",
                {"Key": prod_state, "Body": b"{}", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": keys["dev"]},
            ),
            "DeleteObject": ("delete_object", {"Key": prod_state}),
            "DeleteObject (a version)": ("delete_object", {"Key": prod_state, "VersionId": old}),
            "GetObject (the bootstrap's state)": ("get_object", {"Key": "japancart/bootstrap/x"}),
            "GetBucketPolicy": ("get_bucket_policy", {}),
        }
        for name, (method, params) in attempts.items():
            with pytest.raises(ClientError) as denied:
                getattr(dev, method)(Bucket=bucket, **params)
            assert denied.value.response["Error"]["Code"] in ("AccessDenied", "403"), (kind, name, denied.value)
            refused.append(f"{kind}: {name}")
        # ...while its own state stays reachable the way the S3 backend reaches it
        assert dev.list_objects_v2(Bucket=bucket, Prefix="japancart/dev/workspaces/")["KeyCount"] == 0
        dev.get_object(Bucket=bucket, Key=dev_state)
        with pytest.raises(ClientError):
            dev.get_object(
                Bucket=bucket,
                Key=dev_state,
                VersionId=emulator.client("s3").list_object_versions(Bucket=bucket, Prefix=dev_state)["Versions"][-1][
                    "VersionId"
                ],
            )  # only the backend's actions
    assert len(versions) == len(
        emulator.client("s3").list_object_versions(Bucket=bucket, Prefix=prod_state)["Versions"]
    )
    e2e_summary(
        f"bucket policy, per requester: {len(refused)} requests of dev's apply and plan sessions on prod's "
        f"state refused ({', '.join(sorted({r.split(': ')[1] for r in refused}))}); prod's apply role reads it"
    )


def test_ci_stacks_replan_clean_then_destroy(
    emulator: Emulator, emulator_ci: dict[str, dict[str, Any]], roundtrips: dict[str, Any], e2e_summary
) -> None:
    """Each account's CI stack, applied by its operator before the environments: the roles exist in their
    account as synthesized (trust, session length, boundary), a plan shows no changes after the environments
    came and went, and destroy leaves nothing of it."""
    notes = []
    for stack, applied in emulator_ci.items():
        account = stack.removeprefix("ci-")
        (env,) = [e for e, a in TEST_ACCOUNTS.items() if a == account and e != "backend"]
        iam = emulator.client("iam", credentials=applied["credentials"])
        apply_role = iam.get_role(RoleName=f"japancart-{env}-apply")["Role"]
        assert apply_role["MaxSessionDuration"] == 7200
        assert (
            apply_role["PermissionsBoundary"]["PermissionsBoundaryArn"]
            == f"arn:aws:iam::{account}:policy/japancart-{env}-apply-boundary"
        )
        trust = apply_role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Principal"] == {
            "Federated": f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
        }
        assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [
            f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
        ]
        tf, work = applied["tf"], applied["dir"]
        plan = tf.plan(work)
        assert plan.returncode == 0, f"{stack} does not re-plan clean:\n{plan.output[-4000:]}"
        destroy = tf.destroy(work).check()
        assert tf.state_list(work) == []
        left = leftovers(emulator, only=applied["identifiers"], credentials=applied["credentials"])
        assert not left, f"{stack}: destroy left {left}"
        notes.append(
            f"{stack} ({env}): apply {applied['apply_seconds']:.1f}s, plan no changes {plan.seconds:.1f}s, "
            f"destroy {destroy.seconds:.1f}s"
        )
    e2e_summary("CI stacks, each by its account's operator:\n    " + "\n    ".join(notes))

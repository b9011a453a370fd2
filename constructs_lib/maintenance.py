"""The daily data lifecycle: its own function, signed in as `txn_maintainer`, on a schedule, with an alarm."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import ClassVar

from cdktf import TerraformAsset, TerraformResource
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_invocation import LambdaInvocation
from cdktf_cdktf_provider_aws.scheduler_schedule import (
    SchedulerSchedule,
    SchedulerScheduleFlexibleTimeWindow,
    SchedulerScheduleTarget,
    SchedulerScheduleTargetRetryPolicy,
)
from constructs import Construct

from processor import contract as c

from .alarms import AlertTopic
from .bundled_function import BundledFunction, LambdaBundle, allow_statement, bundled_function
from .checkov import skip_check
from .database import TransactionDatabase
from .encryption import EnvironmentKeys
from .grants import PolicyGrantee
from .guards import service_source
from .monitoring import AlarmSpec
from .networking import Networking
from .validation import LOG_RETENTION_DAYS, NameRule, require_choice

#: Partitions, detaches, drops and purges of a day; five minutes is generous (the run is idempotent).
MAINTENANCE_TIMEOUT_SECONDS = 300
MAINTENANCE_MEMORY_MB = 256
#: 17:30 UTC is 02:30 in Tokyo, after the default backup window (16:00-17:00) and outside the weekly
#: maintenance windows.
LIFECYCLE_SCHEDULE = "cron(30 17 * * ? *)"
LIFECYCLE_RETRIES = 2
#: Where the schedule, its role and policy, and the alarm lived when the migration function ran the upkeep
#: (their construct paths in the stack). They keep the Terraform addresses they had there, so an existing
#: environment keeps them: a new address would destroy and create resources of the same names (IAM and
#: Scheduler refuse the create while the old one exists, and the old alarm's destroy would delete the new
#: one). Not `moved` blocks: checkov 3.3's terraform_json parser cannot read a stack that has them and
#: would scan nothing.
FORMER_PATHS = {
    "schedule-role": "processor/migration/schedule-role",
    "schedule-policy": "processor/migration/schedule-policy",
    "schedule": "processor/migration/schedule",
    "data-lifecycle-errors": "processor/data-lifecycle-errors",
}


def logical_id(path: str) -> str:
    """The Terraform name cdktf 0.20 gives a resource at construct `path` (below its stack): the components
    joined by `_`, then the first 8 hex digits of the MD5 of the path, upper-case (its `makeUniqueId`)."""
    digest = hashlib.md5(path.encode("utf-8"), usedforsecurity=False).hexdigest()[:8].upper()
    return "_".join(path.split("/")) + "_" + digest


def _keep_address(resource: TerraformResource, path: str) -> None:
    """Give `resource` the address it had at `path`; call it before anything refers to the resource (cdktf
    ignores an override made after a reference was taken)."""
    resource.override_logical_id(logical_id(path))


@dataclass(frozen=True, kw_only=True)
class DataMaintenanceProps:
    """Inputs of `DataMaintenance` (all required but the retention of its logs):

    name: prefix of the function (`<name>-maintain`), its role, the schedule and the alarm (`<name>-data-lifecycle`).
    bundle: the processor's zip; code: that zip as an asset of the stack (the processor's).
    after: the migration's run: the schedule starts only once the maintainer role and its functions exist.
    keys: `secrets` encrypts the function's environment and the connection secret, `logs` its log group.
    networking: the private subnets and the application security group (the one the database admits).
    database: the connection secret it reads and the maintainer role it signs in as (`rds-db:connect`).
    topic: where the alarm of a failed run goes.
    log_retention_days: retention of the function's log group (a CloudWatch Logs value). Default: 365.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[A-Za-z0-9_-]{1,49}", "letters, digits, '_' or '-' (at most 49 characters)"
    )

    name: str
    bundle: LambdaBundle
    code: TerraformAsset
    after: LambdaInvocation
    keys: EnvironmentKeys
    networking: Networking
    database: TransactionDatabase
    topic: AlertTopic
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        # IAM role names end at 64 characters: `<name>-data-lifecycle` is the longest.
        self.NAME_RULE.check("name", self.name)
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)


class DataMaintenance(Construct):
    """The daily `{"action": "maintain"}` run (`processor.maintain.handle`) as the database role
    `txn_maintainer`: partitions ahead, retention (detach, then drop after the grace period, optionally after an
    export), purge of rejects, conflicts and alerts past their days.

    Its role may read the connection secret (never the master's), sign in as the maintainer role only and write
    its own logs; the role can do nothing in the database but execute the lifecycle functions the migrations
    gave it. An EventBridge Scheduler schedule invokes it every day through a role that may invoke this function
    only; an alarm notifies on-call when a run fails.
    """

    def __init__(self, scope: Construct, construct_id: str, props: DataMaintenanceProps) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{props.name}-maintain"
        database = props.database
        grantee = PolicyGrantee()
        database.grant_read_connection(grantee, sid="ReadWhereToConnect")
        database.grant_connect_as_maintainer(grantee)
        props.keys.secrets.grant_decrypt(grantee, via="secretsmanager", sid="DecryptWhereToConnect")
        self._function, _ = bundled_function(
            self,
            BundledFunction(
                function_name=function_name,
                handler=c.MAINTENANCE_HANDLER,
                policy_name="data-maintenance",
                description="Daily data lifecycle as the database role txn_maintainer: partitions, retention, purges",
                memory_mb=MAINTENANCE_MEMORY_MB,
                timeout_seconds=MAINTENANCE_TIMEOUT_SECONDS,
                variables={c.ENV_DB_SECRET: database.connection_secret_arn, c.ENV_DB_AUTH: c.AUTH_IAM},
                bundle=props.bundle,
                code=props.code,
                keys=props.keys,
                networking=props.networking,
                log_retention_days=props.log_retention_days,
            ),
            grantee,
        )
        skip_check(
            self._function,
            "CKV_AWS_116",
            'its only event is the constant {"action": "maintain"}; the run '
            "is idempotent, retried by the schedule, and its Errors alarm "
            "notifies on-call",
        )
        self._schedule(props)
        alarm = props.topic.alarm(
            self,
            AlarmSpec(
                suffix="data-lifecycle-errors",
                namespace="AWS/Lambda",
                metric="Errors",
                dimensions={"FunctionName": function_name},
                statistic="Sum",
                comparison="GreaterThanThreshold",
                threshold=0,
                treat_missing_data="notBreaching",
                description="The daily data-lifecycle run failed; partitions or retention may be behind (see its log)",
            ),
        )
        _keep_address(alarm, FORMER_PATHS["data-lifecycle-errors"])
        self.function_name: str = function_name
        self.function_arn: str = self._function.arn

    def _schedule(self, props: DataMaintenanceProps) -> SchedulerSchedule:
        """The daily run, under a role only this schedule can assume and that can only invoke this function."""
        account = props.keys.secrets.account
        schedule_name = f"{props.name}-data-lifecycle"
        trust = DataAwsIamPolicyDocument(
            self,
            "schedule-trust",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    actions=["sts:AssumeRole"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Service", identifiers=["scheduler.amazonaws.com"]
                        )
                    ],
                    condition=service_source(
                        account.account_id, account.arn("scheduler", f"schedule/default/{schedule_name}")
                    ),
                )
            ],
        )
        role = IamRole(self, "schedule-role", name=schedule_name, assume_role_policy=trust.json)
        _keep_address(role, FORMER_PATHS["schedule-role"])  # before anything refers to it, or it has no effect
        invoke = DataAwsIamPolicyDocument(
            self,
            "schedule-permissions",
            statement=[
                allow_statement("InvokeTheMaintenanceFunction", ["lambda:InvokeFunction"], [self._function.arn])
            ],
        )
        policy = IamRolePolicy(self, "schedule-policy", name="invoke-data-lifecycle", role=role.id, policy=invoke.json)
        _keep_address(policy, FORMER_PATHS["schedule-policy"])
        schedule = SchedulerSchedule(
            self,
            "schedule",
            name=schedule_name,
            description="Daily data lifecycle: partitions ahead, retention, purge of old rejects, conflicts and alerts",
            schedule_expression=LIFECYCLE_SCHEDULE,
            schedule_expression_timezone="UTC",
            flexible_time_window=SchedulerScheduleFlexibleTimeWindow(mode="OFF"),
            target=SchedulerScheduleTarget(
                arn=self._function.arn,
                role_arn=role.arn,
                input=json.dumps(c.MAINTENANCE_EVENT),
                retry_policy=SchedulerScheduleTargetRetryPolicy(maximum_retry_attempts=LIFECYCLE_RETRIES),
            ),
            depends_on=[props.after],
        )
        _keep_address(schedule, FORMER_PATHS["schedule"])
        skip_check(
            schedule,
            "CKV_AWS_297",
            'its only data is the constant {"action": "maintain"} (encrypted with '
            "an AWS owned key); a customer key would grant Scheduler a key for no data",
        )
        return schedule

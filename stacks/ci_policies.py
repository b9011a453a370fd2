"""The policy documents of the control plane, as plain JSON-ready dicts built from the configuration.

* `trust_policy`: who may assume an environment's plan or apply role (GitHub OIDC, audience and subject).
* `plan_policy`: read-only: the environment's own state and state key, the reads a refresh of its resources
  makes (`REFRESH_ACTIONS`, crafted per resource type instead of AWS's `ReadOnlyAccess`, which would also read
  every other environment's data in a shared account and every secret's metadata), the environment's own
  project secrets (a refresh of `aws_secretsmanager_secret_version` reads the value), never `rds!*`.
* `apply_policy`: deploy rights for the services the environment's resources use, tag- and region-scoped;
  IAM only for `<project>-<env>-*` roles that carry the workload boundary; nothing on the control plane. It is
  also the apply role's permissions boundary, so a widened identity policy would gain nothing.
* `workload_boundary`: the most any role of an environment stack may do (contract 2 in the team brief).

The bootstrap's state key and bucket policies, which admit these roles, are in `stacks/state_policies.py`.

Pure functions without constructs, so the tests evaluate them directly (tools/iam_policy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .config import EnvironmentConfig
from .identity import GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_HOST, Identities

VERSION = "2012-10-17"

#: What `terraform plan` reads to refresh each resource and data source type of an environment stack. A type
#: missing here fails tests/test_ci_identity.py: a new resource must teach the plan role how to read it (and
#: so the apply role its service). Types that read nothing from AWS map to ().
REFRESH_ACTIONS: Mapping[str, tuple[str, ...]] = {
    "aws_cloudwatch_dashboard": ("cloudwatch:GetDashboard",),
    "aws_cloudwatch_log_group": ("logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"),
    "aws_cloudwatch_metric_alarm": ("cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"),
    "aws_db_event_subscription": ("rds:DescribeEventSubscriptions", "rds:ListTagsForResource"),
    "aws_db_instance": ("rds:DescribeDBInstances", "rds:ListTagsForResource"),
    "aws_db_instance_automated_backups_replication": ("rds:DescribeDBInstanceAutomatedBackups",),
    "aws_db_parameter_group": ("rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"),
    "aws_db_subnet_group": ("rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"),
    "aws_default_network_acl": ("ec2:DescribeNetworkAcls",),
    "aws_default_security_group": ("ec2:DescribeSecurityGroups",),
    "aws_eip": ("ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"),
    "aws_elasticache_parameter_group": (
        "elasticache:DescribeCacheParameterGroups",
        "elasticache:DescribeCacheParameters",
        "elasticache:ListTagsForResource",
    ),
    "aws_elasticache_replication_group": (
        "elasticache:DescribeReplicationGroups",
        "elasticache:DescribeCacheClusters",
        "elasticache:ListTagsForResource",
    ),
    "aws_elasticache_subnet_group": ("elasticache:DescribeCacheSubnetGroups", "elasticache:ListTagsForResource"),
    "aws_elasticache_user": ("elasticache:DescribeUsers", "elasticache:ListTagsForResource"),
    "aws_elasticache_user_group": ("elasticache:DescribeUserGroups", "elasticache:ListTagsForResource"),
    "aws_flow_log": ("ec2:DescribeFlowLogs",),
    "aws_iam_role": ("iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListRoleTags"),
    "aws_iam_role_policy": ("iam:GetRolePolicy",),
    "aws_iam_role_policy_attachment": ("iam:ListAttachedRolePolicies",),
    "aws_internet_gateway": ("ec2:DescribeInternetGateways",),
    "aws_kinesis_stream": (
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:ListTagsForStream",
        "kinesis:ListTagsForResource",
    ),
    "aws_kms_alias": ("kms:ListAliases",),
    "aws_kms_key": ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"),
    "aws_lambda_event_source_mapping": ("lambda:GetEventSourceMapping", "lambda:ListTags"),
    "aws_lambda_function": (
        "lambda:GetFunction",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetFunctionConcurrency",
        "lambda:ListVersionsByFunction",
        "lambda:ListTags",
    ),
    "aws_lambda_invocation": (),  # its result is kept in state; a refresh calls nothing
    "aws_nat_gateway": ("ec2:DescribeNatGateways",),
    "aws_route": ("ec2:DescribeRouteTables",),
    "aws_route_table": ("ec2:DescribeRouteTables",),
    "aws_route_table_association": ("ec2:DescribeRouteTables",),
    "aws_scheduler_schedule": ("scheduler:GetSchedule",),
    "aws_secretsmanager_secret": ("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"),
    "aws_secretsmanager_secret_version": ("secretsmanager:DescribeSecret",),  # + the value: plan_policy
    "aws_security_group": ("ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"),
    "aws_sns_topic": ("sns:GetTopicAttributes", "sns:GetDataProtectionPolicy", "sns:ListTagsForResource"),
    "aws_sns_topic_policy": ("sns:GetTopicAttributes",),
    "aws_sns_topic_subscription": ("sns:GetSubscriptionAttributes",),
    "aws_sqs_queue": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"),
    "aws_sqs_queue_policy": ("sqs:GetQueueAttributes",),
    "aws_subnet": ("ec2:DescribeSubnets",),
    "aws_vpc": (
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
    ),
    "aws_vpc_endpoint": ("ec2:DescribeVpcEndpoints", "ec2:DescribePrefixLists"),
    "aws_vpc_security_group_egress_rule": ("ec2:DescribeSecurityGroupRules",),
    "aws_vpc_security_group_ingress_rule": ("ec2:DescribeSecurityGroupRules",),
    "random_password": (),
    "terraform_data": (),
    # data sources
    "data.aws_availability_zones": ("ec2:DescribeAvailabilityZones",),
    "data.aws_caller_identity": ("sts:GetCallerIdentity",),
    "data.aws_iam_policy_document": (),
    "data.aws_partition": (),
    "data.aws_region": (),
}
#: Reads every refresh makes whatever the resources: the provider's account lookup, EC2 tags.
BASE_READS = ("sts:GetCallerIdentity", "ec2:DescribeTags")
#: What lives in an environment's backup region (`database.backup_replication_region`): the replica key and the
#: replication itself; the plan and apply roles reach nothing else there.
BACKUP_REGION_TYPES = frozenset({"aws_kms_key", "aws_kms_alias", "aws_db_instance_automated_backups_replication"})
BACKUP_REGION_WRITES = (
    "kms:*",
    "rds:StartDBInstanceAutomatedBackupsReplication",
    "rds:StopDBInstanceAutomatedBackupsReplication",
)
#: Global services: their requests carry aws:RequestedRegion us-east-1 (commercial), never the stack's region.
GLOBAL_SERVICES = frozenset({"iam", "sts"})
#: Services whose AWS-generated resources an environment needs on first use (service-linked roles).
SERVICE_LINKED_ROLES = ("elasticache.amazonaws.com", "rds.amazonaws.com")

#: Workload roles (the environment stack's): contract 2, the most any of them may ever do.
WORKLOAD_LOG_WRITES = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "logs:DescribeLogStreams",
)
LAMBDA_VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
)
KINESIS_READS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:DescribeStreamConsumer",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
    "kinesis:ListStreamConsumers",
    "kinesis:SubscribeToShard",
)
SQS_ACTIONS = (
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
KMS_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey")
#: What the AWS managed policy AmazonRDSEnhancedMonitoringRole grants (the RDSOSMetrics log group).
RDS_MONITORING_GROUP_ACTIONS = ("logs:CreateLogGroup", "logs:PutRetentionPolicy")
RDS_MONITORING_STREAM_ACTIONS = (
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
)

STATE_READ = ("s3:GetObject",)
STATE_WRITE = ("s3:PutObject", "s3:DeleteObject")
STATE_KEY_DECRYPT = ("kms:Decrypt",)
STATE_KEY_USE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [s for s in statements if s]}


# --------------------------------------------------------------------------------------------------------
# Trust
# --------------------------------------------------------------------------------------------------------
def trust_policy(ids: Identities, env: str, kind: str) -> dict[str, Any]:
    """Web identity from GitHub's OIDC provider of the environment's account, audience `sts.amazonaws.com`,
    subject pinned to the job's GitHub environment (and, with the custom subject, the repository id and the
    workflow file and ref). One statement per job, so a pattern never widens an exact subject."""
    statements = []
    for job, subject in ids.subjects(env, kind).items():
        condition: dict[str, Any] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": GITHUB_OIDC_AUDIENCE}}
        if subject.pattern:
            condition["StringLike"] = {f"{GITHUB_OIDC_HOST}:sub": subject.value}
        else:
            condition["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"] = subject.value
        statements.append(
            {
                "Sid": "".join(part.capitalize() for part in job.split("-")),
                "Effect": "Allow",
                "Principal": {"Federated": ids.oidc_provider_arn(env)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        )
    return policy(*statements)


# --------------------------------------------------------------------------------------------------------
# Plan role
# --------------------------------------------------------------------------------------------------------
def refresh_actions(types: frozenset[str] | None = None) -> list[str]:
    """Every read a refresh of the environment stack's types makes (default: every known type)."""
    chosen = REFRESH_ACTIONS if types is None else {t: REFRESH_ACTIONS[t] for t in types}
    return sorted({*BASE_READS, *(a for actions in chosen.values() for a in actions)})


def _state_statements(ids: Identities, env: str, *, write: bool) -> list[dict[str, Any]]:
    actions = [*STATE_READ, *(STATE_WRITE if write else ())]
    return [
        {
            "Sid": "UseTheEnvironmentsState",
            "Effect": "Allow",
            "Action": actions,
            "Resource": ids.state_objects_arn(env),
        },
        {
            "Sid": "ListTheEnvironmentsStatePrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": ids.bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": ids.state_list_prefix(env)}},
        },
        {
            "Sid": "UseTheEnvironmentsStateKey",
            "Effect": "Allow",
            "Action": list(STATE_KEY_USE if write else STATE_KEY_DECRYPT),
            "Resource": ids.state_key_arn(env),
            "Condition": {"StringEquals": {"kms:ViaService": ids.s3_endpoint()}},
        },
    ]


def _secrets_arn(ids: Identities, env: str, name: str) -> str:
    e = ids.environment(env)
    return f"arn:{ids.partition(env)}:secretsmanager:{e.region}:{e.account_id}:secret:{name}"


def _regional(actions: list[str]) -> list[str]:
    """`actions` without those of global services (IAM, STS), which no region condition can hold."""
    return [a for a in actions if a.split(":")[0] not in GLOBAL_SERVICES]


def _backup_region(
    e: EnvironmentConfig, sid: str, actions: list[str], conditions: dict[str, Any]
) -> list[dict[str, Any]]:
    """`actions` in the environment's backup region only, or nothing where its backups are not replicated."""
    region = e.database.backup_replication_region
    if not region:
        return []
    return [
        {
            "Sid": sid,
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}, **conditions},
        }
    ]


def plan_policy(ids: Identities, env: str) -> dict[str, Any]:
    """Read-only, for `terraform plan -lock=false` of one environment (see the module docstring)."""
    e = ids.environment(env)
    reads = refresh_actions()
    regional = _regional(reads)
    global_reads = [a for a in reads if a.split(":")[0] in GLOBAL_SERVICES and not a.startswith("iam:")]
    iam_reads = [a for a in reads if a.startswith("iam:")]
    own_secrets = _secrets_arn(ids, env, f"{ids.project}/{env}/*")
    all_reads = [*STATE_READ, "s3:ListBucket", *STATE_KEY_DECRYPT, "secretsmanager:GetSecretValue", *reads]
    return policy(
        *_state_statements(ids, env, write=False),
        {
            "Sid": "RefreshTheEnvironment",
            "Effect": "Allow",
            "Action": regional,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": e.region}},
        },
        *_backup_region(e, "RefreshTheBackupRegion", _regional(refresh_actions(BACKUP_REGION_TYPES)), {}),
        {
            "Sid": "RefreshTheEnvironmentsRoles",
            "Effect": "Allow",
            "Action": iam_reads,
            "Resource": ids.workload_role_arns(env),
        },
        {"Sid": "IdentifyTheAccount", "Effect": "Allow", "Action": global_reads, "Resource": "*"},
        {
            "Sid": "ReadTheEnvironmentsProjectSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": own_secrets,
        },
        {
            "Sid": "DecryptTheEnvironmentsProjectSecrets",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:{ids.partition(env)}:kms:{e.region}:{e.account_id}:key/*",
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{e.region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:SecretARN": own_secrets},
            },
        },
        {
            "Sid": "NeverTheDatabaseMasterSecrets",
            "Effect": "Deny",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": f"arn:{ids.partition(env)}:secretsmanager:*:*:secret:rds!*",
        },
        {"Sid": "NothingButReads", "Effect": "Deny", "NotAction": sorted(set(all_reads)), "Resource": "*"},
    )


# --------------------------------------------------------------------------------------------------------
# Apply role
# --------------------------------------------------------------------------------------------------------
def deploy_services() -> list[str]:
    """The services the environment stack's resources live in (from `REFRESH_ACTIONS`), IAM and STS aside."""
    return sorted({a.split(":")[0] for a in refresh_actions()} - GLOBAL_SERVICES)


def apply_policy(ids: Identities, env: str) -> dict[str, Any]:
    """Deploy rights of one environment, and the apply role's own boundary (see the module docstring)."""
    e = ids.environment(env)
    workload_roles = ids.workload_role_arns(env)
    boundary = ids.workload_boundary_arn(env)
    # Never a resource (or a new tag) of another environment or project: in a shared account this keeps one
    # environment's apply role off the others' resources wherever the service supports tags.
    tag_conditions = {
        "StringEqualsIfExists": {
            "aws:ResourceTag/Environment": env,
            "aws:RequestTag/Environment": env,
            "aws:ResourceTag/Project": ids.project,
            "aws:RequestTag/Project": ids.project,
        }
    }
    control_plane = [
        *ids.ci_role_arns(tuple(x.name for x in ids.config.environments_in(e.account_id))),
        ids.oidc_provider_arn(env),
        ids.boundary_arns(env),
    ]
    return policy(
        *_state_statements(ids, env, write=True),
        {
            "Sid": "DeployTheEnvironmentsServices",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in deploy_services()],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:RequestedRegion": e.region},
                **tag_conditions,
            },
        },
        *_backup_region(
            e,
            "DeployTheBackupRegion",
            sorted({*BACKUP_REGION_WRITES, *_regional(refresh_actions(BACKUP_REGION_TYPES))}),
            tag_conditions,
        ),
        {"Sid": "IdentifyTheAccount", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
        {
            "Sid": "WorkloadRolesOnlyWithTheBoundary",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:PutRolePermissionsBoundary",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
            ],
            "Resource": workload_roles,
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {
            "Sid": "ManageTheWorkloadRoles",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRoleTags",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
                "iam:UpdateAssumeRolePolicy",
                "iam:DeleteRole",
                "iam:PassRole",
            ],
            "Resource": workload_roles,
        },
        {
            "Sid": "ReadManagedPolicies",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
            "Resource": "*",
        },
        {
            "Sid": "ServiceLinkedRolesOfTheStores",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED_ROLES)}},
        },
        {
            "Sid": "NoRoleWithoutTheWorkloadBoundary",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {"Sid": "NoBoundaryRemoved", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary", "Resource": "*"},
        {
            "Sid": "NoChangeToTheControlPlane",
            "Effect": "Deny",
            "NotAction": ["iam:Get*", "iam:List*"],
            "Resource": control_plane,
        },
    )


# --------------------------------------------------------------------------------------------------------
# Workload boundary (contract 2)
# --------------------------------------------------------------------------------------------------------
def workload_boundary(ids: Identities, env: str) -> dict[str, Any]:
    """The most any role of the environment stack may do, only in the environment's account and region."""
    e = ids.environment(env)

    def arn(service: str, resource: str) -> str:
        return f"arn:{ids.partition(env)}:{service}:{e.region}:{e.account_id}:{resource}"

    return policy(
        {"Sid": "WriteLogs", "Effect": "Allow", "Action": list(WORKLOAD_LOG_WRITES), "Resource": arn("logs", "*")},
        {
            "Sid": "RdsEnhancedMonitoringLogGroup",
            "Effect": "Allow",
            "Action": list(RDS_MONITORING_GROUP_ACTIONS),
            "Resource": arn("logs", "log-group:RDS*"),
        },
        {
            "Sid": "RdsEnhancedMonitoringLogStreams",
            "Effect": "Allow",
            "Action": list(RDS_MONITORING_STREAM_ACTIONS),
            "Resource": arn("logs", "log-group:RDS*:log-stream:*"),
        },
        {
            "Sid": "LambdaNetworkInterfaces",
            "Effect": "Allow",
            "Action": list(LAMBDA_VPC_ACTIONS),
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": e.region}},
        },
        {
            "Sid": "Traces",
            "Effect": "Allow",
            "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
            "Resource": "*",
        },
        {
            "Sid": "Metrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": e.region}},
        },
        {"Sid": "ReadStreams", "Effect": "Allow", "Action": list(KINESIS_READS), "Resource": arn("kinesis", "*")},
        {"Sid": "Queues", "Effect": "Allow", "Action": list(SQS_ACTIONS), "Resource": arn("sqs", "*")},
        {
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arn("secretsmanager", "secret:*"),
        },
        {"Sid": "UseKeys", "Effect": "Allow", "Action": list(KMS_ACTIONS), "Resource": arn("kms", "key/*")},
        {
            "Sid": "ConnectToTheStores",
            "Effect": "Allow",
            "Action": ["rds-db:connect", "elasticache:Connect"],
            "Resource": [arn("rds-db", "dbuser:*/*"), arn("elasticache", "*")],
        },
        {
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": arn("lambda", "function:*"),
        },
    )

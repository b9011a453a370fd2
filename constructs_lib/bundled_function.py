"""The functions of the processor's zip: the bundle as synthesized, and what each function built from it needs.

`TransactionProcessor`, `SchemaMigration` and `DataMaintenance` run the same zip; this module holds what they share
(the runtime, the role Lambda assumes, the private network, logs and traces) so each construct states only what is its
own. `bundled_function` builds one whole function of the zip that is not the processor.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import TerraformAsset
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from constructs import Construct

from .checkov import skip_check
from .encryption import Account, EnvironmentKeys
from .grants import PolicyGrantee
from .logs import encrypted_log_group
from .networking import Networking
from .validation import require_name

RUNTIME = "python3.12"

UNSIGNED_CODE = (
    "no AWS Signer profile in this project: the zip is built from the locked sources and pinned by source_code_hash"
)
_WILDCARD_REASON = (
    "'*' only for Lambda's VPC ENI actions (as in AWSLambdaVPCAccessExecutionRole) and X-Ray puts, "
    "which take no resource ARNs; every other statement is scoped"
)


@dataclass(frozen=True, kw_only=True)
class LambdaBundle:
    """A deterministic deployment zip, its base64 SHA-256 (Terraform's source_code_hash) and the
    SHA-256 (hex) of the schema migrations it carries: when that changes, the deploy migrates."""

    path: str
    sha256_base64: str
    migrations_checksum: str

    def __post_init__(self) -> None:
        require_name("migrations_checksum", self.migrations_checksum, r"[0-9a-f]{64}", "a hex SHA-256")


@dataclass(frozen=True, kw_only=True)
class BundledFunction:
    """A function of the processor's zip that is not the processor: its name, entry point, size and environment
    (`variables`), the zip (`bundle`, `code`), `keys` (`secrets`: its environment; `logs`: its log group), the
    private subnets it runs in and the retention of its logs. One runs at a time."""

    function_name: str
    handler: str
    policy_name: str
    description: str
    memory_mb: int
    timeout_seconds: int
    variables: dict[str, str]
    bundle: LambdaBundle
    code: TerraformAsset
    keys: EnvironmentKeys
    networking: Networking
    log_retention_days: int


def bundled_function(
    scope: Construct, spec: BundledFunction, grantee: PolicyGrantee
) -> tuple[LambdaFunction, IamRolePolicy]:
    """`spec` in the private subnets with the application security group, traced, logging to its own encrypted
    log group, under a role with what `grantee` was granted plus its own environment, logs, network and traces
    (ids logs, trust, role, permissions, policy, function in `scope`). Returns the function and the role's policy
    (to wait for)."""
    log_group = encrypted_log_group(
        scope,
        "logs",
        name=f"/aws/lambda/{spec.function_name}",
        key_arn=spec.keys.logs.key_arn,
        retention_days=spec.log_retention_days,
    )
    spec.keys.secrets.grant_decrypt(grantee, via="lambda", sid="DecryptOwnEnvironment")
    own_logs_and_network(grantee, log_group.arn)
    role, policy = lambda_role(scope, spec.function_name, spec.policy_name, spec.keys.secrets.account, grantee)
    function = LambdaFunction(
        scope,
        "function",
        function_name=spec.function_name,
        description=spec.description,
        role=role.arn,
        runtime=RUNTIME,
        handler=spec.handler,
        filename=spec.code.path,
        source_code_hash=spec.bundle.sha256_base64,
        memory_size=spec.memory_mb,
        timeout=spec.timeout_seconds,
        reserved_concurrent_executions=1,
        kms_key_arn=spec.keys.secrets.key_arn,
        vpc_config=private_vpc_config(spec.networking),
        environment=LambdaFunctionEnvironment(variables=spec.variables),
        tracing_config=LambdaFunctionTracingConfig(mode="Active"),
        logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
        depends_on=[log_group],
    )
    skip_check(function, "CKV_AWS_272", UNSIGNED_CODE)
    return function, policy


def allow_statement(sid: str, actions: list[str], resources: list[str]) -> DataAwsIamPolicyDocumentStatement:
    """One Allow statement, for a policy document a construct writes outside a `PolicyGrantee`."""
    return DataAwsIamPolicyDocumentStatement(sid=sid, actions=actions, resources=resources)


def own_logs_and_network(grantee: PolicyGrantee, log_group_arn: str) -> None:
    """What every function here needs of its own: its log group, ENIs in the private subnets, X-Ray.
    ENI management and X-Ray have no resource-level permissions."""
    grantee.allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"])
    grantee.allow(
        "AttachToThePrivateSubnets",
        [
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        ["*"],
    )
    grantee.allow("PublishTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])


def lambda_role(
    scope: Construct, role_name: str, policy_name: str, account: Account, grantee: PolicyGrantee
) -> tuple[IamRole, IamRolePolicy]:
    """A role Lambda assumes (for this account only) and its one inline policy of what `grantee` was granted (ids
    trust, role, permissions and policy in `scope`); the policy is returned so callers can wait for it.

    The trust is guarded by `aws:SourceAccount` only: Lambda documents no `aws:SourceArn` for assuming an
    execution role, and the role is named for one function, which is the only one given it (iam:PassRole)."""
    trust = DataAwsIamPolicyDocument(
        scope,
        "trust",
        statement=[
            DataAwsIamPolicyDocumentStatement(
                actions=["sts:AssumeRole"],
                principals=[
                    DataAwsIamPolicyDocumentStatementPrincipals(type="Service", identifiers=["lambda.amazonaws.com"])
                ],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="StringEquals", variable="aws:SourceAccount", values=[account.account_id]
                    )
                ],
            )
        ],
    )
    role = IamRole(scope, "role", name=role_name, assume_role_policy=trust.json)
    permissions = DataAwsIamPolicyDocument(scope, "permissions", statement=grantee.statements())
    skip_check(permissions, "CKV_AWS_111", _WILDCARD_REASON)
    skip_check(permissions, "CKV_AWS_356", _WILDCARD_REASON)
    policy = IamRolePolicy(scope, "policy", name=policy_name, role=role.id, policy=permissions.json)
    return role, policy


def private_vpc_config(networking: Networking) -> LambdaFunctionVpcConfig:
    return LambdaFunctionVpcConfig(
        subnet_ids=networking.private_subnet_ids, security_group_ids=[networking.app_security_group.id]
    )

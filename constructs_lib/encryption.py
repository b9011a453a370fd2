"""Customer-managed KMS keys, one per data class, with explicit administrator and user statements."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktf import TerraformProvider
from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocumentStatementCondition
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from .grants import PolicyGrantee
from .guards import source_condition
from .validation import require, require_int, require_name

#: Administration without use: nothing here encrypts or decrypts, and no grant can be created
#: (kms:CreateGrant is not listed; services create their grants through `ServicesCreateGrants`).
ADMINISTRATION_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
USE_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*")
GRANT_ACTIONS = ("kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant")
#: What a service principal publishing to an encrypted SNS topic needs (SNS's documented minimum).
PUBLISH_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")
_SERVICE = r"[a-z][a-z0-9-]{1,40}"


class Account(Construct):
    """Partition, account id and region of the stack, read once (data sources) and shared.

    provider: the AWS provider of another region (an aliased provider): the region read is that provider's,
    and keys made for this account (`EncryptionKey`) are created there. Default: the stack's provider.
    """

    def __init__(self, scope: Construct, construct_id: str, *, provider: TerraformProvider | None = None) -> None:
        super().__init__(scope, construct_id)
        self.provider: TerraformProvider | None = provider
        self.partition: str = DataAwsPartition(self, "partition", provider=provider).partition
        self.account_id: str = DataAwsCallerIdentity(self, "account", provider=provider).account_id
        self.region: str = DataAwsRegion(self, "region", provider=provider).name

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>` of this account."""
        return f"arn:{self.partition}:{service}:{self.region if regional else ''}:{self.account_id}:{resource}"

    def endpoint(self, service: str) -> str:
        """`<service>.<region>.amazonaws.com`, the form `kms:ViaService` compares with."""
        return f"{service}.{self.region}.amazonaws.com"


@dataclass(frozen=True, kw_only=True)
class ServicePublisher:
    """A service principal that encrypts with the key itself (not on behalf of a caller), e.g. CloudWatch
    alarms or RDS event notifications publishing to an encrypted SNS topic.

    principal: the service principal, e.g. `cloudwatch.amazonaws.com`.
    source_arn: the ARN (pattern) of this project's resources the service acts for; with `aws:SourceAccount`
      it closes the confused-deputy path.
    """

    principal: str
    source_arn: str

    def __post_init__(self) -> None:
        require_name(
            "principal",
            self.principal,
            r"[a-z0-9.-]+\.amazonaws\.com",
            "a service principal such as cloudwatch.amazonaws.com",
        )


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyProps:
    """Inputs of `EncryptionKey`.

    alias: the alias name without the `alias/` prefix, e.g. `japancart-dev-data`.
    description: the data class the key protects.
    account: partition, account and region of the stack.
    via_services: short names of the services (`kinesis`, `rds`, `secretsmanager`, ...) through which
      this account's principals may use the key (`kms:ViaService`) and create grants for AWS resources.
      Principals still need an IAM policy naming the key; nothing may use it directly.
    log_group_patterns: log-group names (with `*`) CloudWatch Logs may encrypt with the key.
      Default: none, which gives CloudWatch Logs no access.
    publishers: service principals that encrypt with the key for this project's resources.
      Default: none.
    deletion_window_days: how long a scheduled deletion can still be cancelled (7-30).
      Default: 30, the longest AWS allows, so a mistaken destroy is recoverable.
    """

    alias: str
    description: str
    account: Account
    via_services: tuple[str, ...]
    log_group_patterns: tuple[str, ...] = ()
    publishers: tuple[ServicePublisher, ...] = ()
    deletion_window_days: int = 30

    def __post_init__(self) -> None:
        require_name(
            "alias",
            self.alias,
            r"[A-Za-z0-9/_-]{1,250}",
            "letters, digits, '/', '_' or '-' (without the 'alias/' prefix)",
        )
        require(bool(self.via_services), "via_services", self.via_services, "at least one service")
        for index, service in enumerate(self.via_services):
            require_name(f"via_services[{index}]", service, _SERVICE, "a service's endpoint prefix such as kinesis")
        require_int("deletion_window_days", self.deletion_window_days, 7, 30)


class EncryptionKey(Construct):
    """A rotating customer-managed key for one data class.

    Key policy (no statement allows `kms:*`):
    * `AccountAdministersTheKey`: the account (root) keeps administration, so the key can never become
      unmanageable (KMS refuses a policy that locks its own administrators out, and a key nobody can
      administer needs AWS Support to recover). Who administers is decided by IAM policies in the account;
      administration includes no cryptographic use and no `kms:CreateGrant`.
    * `AccountUsesTheKeyThroughServices`: encrypt/decrypt only through `via_services`, only for this account.
    * `ServicesCreateGrants`: grants only for AWS resources (`kms:GrantIsForAWSResource`), through the same
      services: how RDS, ElastiCache and Lambda keep using the key.
    * `CloudWatchLogsEncryptsProjectLogGroups` and one statement per service publisher, each pinned to this
      project's resources.
    """

    def __init__(self, scope: Construct, construct_id: str, props: EncryptionKeyProps) -> None:
        super().__init__(scope, construct_id)
        account = props.account
        self.account: Account = account
        self.account_id: str = account.account_id
        self.region: str = account.region
        self.partition: str = account.partition
        root = {"AWS": f"arn:{account.partition}:iam::{account.account_id}:root"}
        via = {
            "kms:CallerAccount": account.account_id,
            "kms:ViaService": [account.endpoint(s) for s in props.via_services],
        }
        statements: list[dict[str, Any]] = [
            {
                "Sid": "AccountAdministersTheKey",
                "Effect": "Allow",
                "Principal": root,
                "Action": list(ADMINISTRATION_ACTIONS),
                "Resource": "*",
            },
            {
                "Sid": "AccountUsesTheKeyThroughServices",
                "Effect": "Allow",
                "Principal": root,
                "Action": list(USE_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": via},
            },
            {
                "Sid": "ServicesCreateGrants",
                "Effect": "Allow",
                "Principal": root,
                "Action": list(GRANT_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": via, "Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
        ]
        if props.log_group_patterns:
            statements.append(
                {
                    "Sid": "CloudWatchLogsEncryptsProjectLogGroups",
                    "Effect": "Allow",
                    "Principal": {"Service": account.endpoint("logs")},
                    "Action": [
                        "kms:Decrypt*",
                        "kms:Describe*",
                        "kms:Encrypt*",
                        "kms:GenerateDataKey*",
                        "kms:ReEncrypt*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": [
                                account.arn("logs", f"log-group:{pattern}") for pattern in props.log_group_patterns
                            ]
                        }
                    },
                }
            )
        for publisher in props.publishers:
            statements.append(
                {
                    "Sid": "PublishFor" + "".join(p.capitalize() for p in publisher.principal.split(".")[:-2]),
                    "Effect": "Allow",
                    "Principal": {"Service": publisher.principal},
                    "Action": list(PUBLISH_ACTIONS),
                    "Resource": "*",
                    "Condition": source_condition(account.account_id, publisher.source_arn),
                }
            )
        self.policy: dict[str, Any] = {"Version": "2012-10-17", "Statement": statements}
        self.key = _rotating_key(
            self, props.alias, props.description, self.policy, props.deletion_window_days, account.provider
        )
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id
        self.via_services: tuple[str, ...] = props.via_services

    def grant_decrypt(self, grantee: PolicyGrantee, *, via: str, sid: str) -> None:
        """Let `grantee` decrypt with this key, only through the service `via` (one of `via_services`)."""
        grantee.allow(sid, ["kms:Decrypt"], [self.key_arn], via=self.via(via))

    def grant_encrypt_decrypt(self, grantee: PolicyGrantee, *, via: str, sid: str) -> None:
        """Let `grantee` encrypt (new data keys) and decrypt with this key, only through the service `via`."""
        grantee.allow(sid, ["kms:Decrypt", "kms:GenerateDataKey"], [self.key_arn], via=self.via(via))

    def via(self, service: str) -> DataAwsIamPolicyDocumentStatementCondition:
        """The `kms:ViaService` condition of an IAM statement that uses this key through `service` only."""
        require(service in self.via_services, "service", service, f"one of this key's services {self.via_services}")
        return DataAwsIamPolicyDocumentStatementCondition(
            test="StringEquals", variable="kms:ViaService", values=[self.account.endpoint(service)]
        )


def _rotating_key(
    scope: Construct,
    alias: str,
    description: str,
    policy: dict[str, Any],
    deletion_window_days: int,
    provider: TerraformProvider | None = None,
) -> KmsKey:
    """A rotating key with `policy` and its alias (construct ids `key` and `alias`: Terraform addresses), in the
    region of `provider` (default: the stack's)."""
    key = KmsKey(
        scope,
        "key",
        provider=provider,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=deletion_window_days,
        policy=json.dumps(policy),
    )
    KmsAlias(scope, "alias", provider=provider, name=f"alias/{alias}", target_key_id=key.key_id)
    return key


@dataclass(frozen=True, kw_only=True)
class PolicyKeyProps:
    """Inputs of `PolicyKey`.

    alias: the alias name without the `alias/` prefix.
    description: what the key protects.
    policy: the complete key policy (the caller's: e.g. who may use a stack's state key).
    deletion_window_days: how long a scheduled deletion can still be cancelled (7-30). Default: 30.
    """

    alias: str
    description: str
    policy: dict[str, Any]
    deletion_window_days: int = 30

    def __post_init__(self) -> None:
        require_name(
            "alias",
            self.alias,
            r"[A-Za-z0-9/_-]{1,250}",
            "letters, digits, '/', '_' or '-' (without the 'alias/' prefix)",
        )
        statements = self.policy.get("Statement") or []
        require(bool(statements), "policy", self.policy, "a key policy with statements")
        require(
            not any(s.get("Effect") == "Allow" and s.get("Action") in ("kms:*", ["kms:*"]) for s in statements),
            "policy",
            self.policy,
            "a policy whose Allow statements name their actions (never kms:*)",
        )
        require_int("deletion_window_days", self.deletion_window_days, 7, 30)


class PolicyKey(Construct):
    """A rotating customer-managed key whose policy the caller writes (state keys: who uses them is decided by
    the control plane's configuration, not by a data class)."""

    def __init__(self, scope: Construct, construct_id: str, props: PolicyKeyProps) -> None:
        super().__init__(scope, construct_id)
        self.policy: dict[str, Any] = props.policy
        self.key = _rotating_key(self, props.alias, props.description, props.policy, props.deletion_window_days)
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id


@dataclass(frozen=True, kw_only=True)
class EnvironmentKeys:
    """The keys of one environment, one per data class, so a grant on one never opens another.

    data: transaction data at rest (stream, RDS storage and Performance Insights, Redis, dead-letter queue).
    secrets: Secrets Manager secrets (incl. RDS's managed master secret) and Lambda environments.
    logs: CloudWatch log groups and the alarm topic.
    """

    data: EncryptionKey
    secrets: EncryptionKey
    logs: EncryptionKey

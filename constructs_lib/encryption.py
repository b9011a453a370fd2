"""One customer-managed KMS key per environment, used by every store in it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from .validation import require_name, require_range


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyProps:
    """Inputs of `EncryptionKey`.

    alias: the alias name without the `alias/` prefix, e.g. `japancart-dev`.
    deletion_window_days: how long a scheduled deletion can still be cancelled (7-30).
    Default: 30, the longest AWS allows, so a mistaken destroy is recoverable.
    """

    alias: str
    deletion_window_days: int = 30

    def __post_init__(self) -> None:
        require_name("alias", self.alias, r"[A-Za-z0-9/_-]{1,250}",
                     "letters, digits, '/', '_' or '-' (without the 'alias/' prefix)")
        require_range("deletion_window_days", self.deletion_window_days, 7, 30)


class EncryptionKey(Construct):
    """A rotating customer-managed key whose policy admits CloudWatch Logs and alarms.

    Account principals get the key through IAM (the root statement delegates to IAM
    policies), which is how Kinesis, ElastiCache, RDS, Secrets Manager, SQS and Lambda
    use it on a caller's behalf. CloudWatch Logs and CloudWatch alarms (publishing to
    the encrypted SNS topic) act as service principals, so the policy names them.
    """

    def __init__(self, scope: Construct, construct_id: str, props: EncryptionKeyProps) -> None:
        super().__init__(scope, construct_id)
        partition = DataAwsPartition(self, "partition").partition
        account = DataAwsCallerIdentity(self, "account").account_id
        region = DataAwsRegion(self, "region").name
        self.account_id: str = account
        self.region: str = region
        self.partition: str = partition

        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKeyThroughIam",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account}:log-group:*"
                        }
                    },
                },
                {
                    "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        }
        self.key = KmsKey(
            self,
            "key",
            description=f"Encrypts every data store of {props.alias}",
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_days,
            policy=json.dumps(policy),
        )
        KmsAlias(self, "alias", name=f"alias/{props.alias}", target_key_id=self.key.key_id)
        self.key_arn: str = self.key.arn
        self.key_id: str = self.key.key_id

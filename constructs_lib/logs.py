"""Encrypted CloudWatch log groups with retention: the one way this project creates them."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from constructs import Construct


def encrypted_log_group(scope: Construct, construct_id: str, *, name: str, key_arn: str,
                        retention_days: int) -> CloudwatchLogGroup:
    """A log group encrypted with the environment key, expiring after `retention_days`."""
    return CloudwatchLogGroup(scope, construct_id, name=name, kms_key_id=key_arn,
                              retention_in_days=retention_days)

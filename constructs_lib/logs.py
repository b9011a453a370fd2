"""Encrypted CloudWatch log groups with retention: the one way this project creates them."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from constructs import Construct

from .checkov import skip_check


def encrypted_log_group(
    scope: Construct, construct_id: str, *, name: str, key_arn: str, retention_days: int
) -> CloudwatchLogGroup:
    """A log group encrypted with the environment key, expiring after `retention_days`."""
    group = CloudwatchLogGroup(scope, construct_id, name=name, kms_key_id=key_arn, retention_in_days=retention_days)
    if retention_days < 365:
        skip_check(
            group,
            "CKV_AWS_338",
            f"retention of {retention_days} days is this environment's configured "
            "log_retention_days (config/environments.toml), chosen below a year on purpose",
        )
    return group

"""The state bucket every environment stack keeps its Terraform state in, and the key that encrypts it.

Two phases (README, "Deploying"): phase 1 applies this stack with local state in the project root
(`terraform.bootstrap.tfstate`, a path relative to the stack directory); phase 2 (`[backend]
bootstrap_state = "s3"`) moves that state into the bucket it created, under `<project>/bootstrap/`.
"""

from __future__ import annotations

import json

from cdktf import LocalBackend, TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration
from constructs import Construct

from constructs_lib.checkov import skip_check
from constructs_lib.encryption import Account, EncryptionKey, EncryptionKeyProps

from .config import BOOTSTRAP_LOCAL_STATE, AppConfig, BackendConfig
from .providers import aws_provider, common_tags, s3_backend

#: Object actions a role of one environment is kept to its own state prefix for.
STATE_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")

NONCURRENT_STATE_DAYS = 90


class StateBootstrapStack(TerraformStack):
    """A versioned, KMS-encrypted, private, TLS-only bucket for remote state and its lock files."""

    def __init__(self, scope: Construct, config: AppConfig) -> None:
        super().__init__(scope, "bootstrap")
        backend = config.backend
        aws_provider(self, region=backend.region, tags=common_tags(config, "shared"), emulator=config.emulator)
        if backend.bootstrap_state == "s3":
            s3_backend(self, backend=backend, key=config.state_key("bootstrap"), emulator=config.emulator)
        else:
            # Relative to cdktf.out/stacks/bootstrap: the project root, which synth never replaces.
            LocalBackend(self, path=BOOTSTRAP_LOCAL_STATE)
        key = EncryptionKey(self, "key", EncryptionKeyProps(
            alias=f"{config.project.name}-terraform-state", account=Account(self, "account"), via_services=("s3",),
            description="Terraform state of every environment"))

        bucket = S3Bucket(self, "state", bucket=backend.bucket, lifecycle={"prevent_destroy": True})
        skip_check(bucket, "CKV_AWS_144", "Terraform state: versioned and KMS-encrypted in one region; a replica "
                                          "would be a second copy of every secret in state to protect")
        skip_check(bucket, "CKV2_AWS_62", "nothing consumes object events of the state bucket")
        skip_check(bucket, "CKV_AWS_18", "server access logs would need a second bucket (itself unlogged); "
                                         "state changes are recorded as object versions")
        S3BucketVersioningA(self, "versioning", bucket=bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        S3BucketServerSideEncryptionConfigurationA(self, "encryption", bucket=bucket.id, rule=[
            S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="aws:kms", kms_master_key_id=key.key_arn)),
                bucket_key_enabled=True)])
        S3BucketPublicAccessBlock(self, "public-access", bucket=bucket.id, block_public_acls=True,
                                  block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "ownership", bucket=bucket.id,
                                  rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"))
        policy = state_bucket_policy(bucket.arn, key.key_arn, config.project.name, backend)
        S3BucketPolicy(self, "tls-only", bucket=bucket.id, policy=json.dumps(policy))
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=bucket.id, rule=[
            S3BucketLifecycleConfigurationRule(
                id="expire-old-state-versions", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=NONCURRENT_STATE_DAYS)],
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=7)],
            )])
        TerraformOutput(self, "state_bucket", value=bucket.bucket, description="Bucket holding every environment's state")
        TerraformOutput(self, "state_key_arn", value=key.key_arn, description="Key encrypting the state")


def state_bucket_policy(bucket_arn: str, key_arn: str, project: str, backend: BackendConfig) -> dict:
    """TLS only; every upload SSE-KMS under the state key; optionally each environment's roles kept to
    their own `<project>/<env>/` prefix (they may still list the bucket: Terraform needs that)."""
    objects = f"{bucket_arn}/*"
    statements: list[dict] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            # A missing header counts as "not equal", so uploads without SSE-KMS are refused too.
            "Sid": "DenyUploadsNotEncryptedWithTheStateKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}},
        },
    ]
    for environment, roles in sorted(backend.environment_roles.items()):
        statements.append({
            "Sid": f"Keep{environment.capitalize()}RolesToTheirPrefix",
            "Effect": "Deny",
            "Principal": "*",
            "Action": list(STATE_OBJECT_ACTIONS),
            "NotResource": f"{bucket_arn}/{project}/{environment}/*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": list(roles)}},
        })
    return {"Version": "2012-10-17", "Statement": statements}

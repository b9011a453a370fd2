"""The state bucket every stack keeps its Terraform state in, and one key per stack that encrypts it.

Two phases (docs/deploying.md): phase 1 applies this stack with local state in the project root
(`terraform.bootstrap.tfstate`, a path relative to the stack directory); phase 2 (`[backend]
bootstrap_state = "s3"`) moves that state into the bucket it created, under `<project>/bootstrap/`.

Every stack (`bootstrap`, `ci-<account>`, each environment) gets its own key and its own prefix
`<project>/<stack>/`; the bucket policy and the key policies (stacks/state_policies.py) keep each environment's
roles to their own prefix and key, whatever account the roles live in.
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
from constructs_lib.encryption import PolicyKey, PolicyKeyProps

from .config import AppConfig
from .identity import Identities
from .platform_config import BOOTSTRAP_LOCAL_STATE
from .providers import aws_provider, common_tags, state_backend
from .state_policies import state_bucket_policy, state_key_policy

NONCURRENT_STATE_DAYS = 90


class StateBootstrapStack(TerraformStack):
    """A versioned, KMS-encrypted, private, TLS-only bucket for remote state and its lock files, and the state
    keys of every stack."""

    def __init__(self, scope: Construct, config: AppConfig) -> None:
        super().__init__(scope, "bootstrap")
        backend = config.backend
        ids = Identities(config)
        aws_provider(
            self,
            region=backend.region,
            account_id=backend.account_id,
            tags=common_tags(config, "shared"),
            emulator=config.emulator,
        )
        if backend.bootstrap_state == "s3":
            state_backend(self, config, "bootstrap")
        else:
            # Relative to cdktf.out/stacks/bootstrap: the project root, which synth never replaces.
            LocalBackend(self, path=BOOTSTRAP_LOCAL_STATE)
        # The bootstrap's own key keeps the construct id `key` (the Terraform address of the former single state
        # key): objects written under it stay readable, and it is never scheduled for deletion by this change.
        keys = {
            stack: PolicyKey(
                self,
                "key" if stack == "bootstrap" else f"state-key-{stack}",
                PolicyKeyProps(
                    alias=ids.state_key_alias(stack),
                    description=f"Terraform state of the {stack} stack",
                    policy=state_key_policy(ids, stack),
                ),
            )
            for stack in config.stack_names()
        }
        key = keys["bootstrap"]

        bucket = S3Bucket(self, "state", bucket=backend.bucket, lifecycle={"prevent_destroy": True})
        skip_check(
            bucket,
            "CKV_AWS_144",
            "Terraform state: versioned and KMS-encrypted in one region; a replica "
            "would be a second copy of every secret in state to protect",
        )
        skip_check(bucket, "CKV2_AWS_62", "nothing consumes object events of the state bucket")
        skip_check(
            bucket,
            "CKV_AWS_18",
            "server access logs would need a second bucket (itself unlogged); "
            "state changes are recorded as object versions",
        )
        S3BucketVersioningA(
            self,
            "versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="aws:kms", kms_master_key_id=key.key_arn
                        )
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        S3BucketPublicAccessBlock(
            self,
            "public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        policy = state_bucket_policy(ids, {stack: k.key_arn for stack, k in keys.items()})
        S3BucketPolicy(self, "tls-only", bucket=bucket.id, policy=json.dumps(policy))
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-old-state-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=NONCURRENT_STATE_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                )
            ],
        )
        TerraformOutput(
            self, "state_bucket", value=bucket.bucket, description="Bucket holding every environment's state"
        )
        TerraformOutput(
            self,
            "state_key_arns",
            value={stack: k.key_arn for stack, k in keys.items()},
            description="Per stack, the key of its state: [backend] state_keys or JAPANCART_STATE_KEYS",
        )

"""Provider and backend settings shared by every stack, including the emulator switch."""

from __future__ import annotations

from cdktf import S3Backend, TerraformStack
from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints
from constructs import Construct

from .config import AppConfig
from .identity import Identities
from .platform_config import BackendConfig, EmulatorConfig

# Services the stacks call; in emulator mode each is pointed at the emulator.
_EMULATED_SERVICES = (
    "cloudwatch",
    "ec2",
    "elasticache",
    "iam",
    "kinesis",
    "kms",
    "lambda_",
    "logs",
    "rds",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)
AWS_PROVIDER_REQUIREMENT = {"source": "hashicorp/aws", "version": "~> 5.99"}


def aws_provider(
    scope: Construct,
    *,
    region: str,
    account_id: str,
    tags: dict[str, str],
    emulator: EmulatorConfig | None,
    alias: str | None = None,
) -> AwsProvider:
    """The AWS provider of one account, tagging everything once through default_tags.

    `allowed_account_ids`: credentials of any other account stop the run before anything is read or changed (a
    prod stack planned with dev's credentials, or the other way round). Credentials come from the environment
    (a CI role's session, an operator's profile), in the emulator too: its sessions of other accounts are how
    the per-account layout is applied there.

    alias: a second provider of the same account in another `region` (construct id `aws-<alias>`), for the few
    resources that must live there; resources name it with `provider=`.
    """
    options: dict = {}
    if emulator is not None:
        options = dict(
            endpoints=[AwsProviderEndpoints(**{service: emulator.endpoint for service in _EMULATED_SERVICES})],
            skip_credentials_validation=True,
            skip_metadata_api_check="true",
            skip_region_validation=True,
            s3_use_path_style=True,
        )
    provider = AwsProvider(
        scope,
        f"aws-{alias}" if alias else "aws",
        alias=alias,
        region=region,
        allowed_account_ids=[account_id],
        default_tags=[AwsProviderDefaultTags(tags=tags)],
        **options,
    )
    # The bindings are generated from 5.99.1 and pin it exactly; any later 5.x provider reads the same JSON.
    TerraformStack.of(scope).add_override("terraform.required_providers.aws", AWS_PROVIDER_REQUIREMENT)
    return provider


def s3_backend(
    stack: TerraformStack,
    *,
    backend: BackendConfig,
    key: str,
    kms_key_id: str | None,
    workspace_key_prefix: str,
    emulator: EmulatorConfig | None,
) -> None:
    """S3 state encrypted with the stack's own state key, with S3-native locking (Terraform 1.10+, no DynamoDB
    table), every object of the stack under its own prefix.

    `encrypt` alone would write SSE-S3 objects (the backend's own default overrides the bucket's KMS default);
    `kms_key_id` makes every state and lock object SSE-KMS under the stack's key, the only key the bucket
    policy accepts for that prefix. `workspace_key_prefix` keeps the workspace listing that every `init` and
    `plan` makes inside the stack's prefix (the default `env:` is outside it, and the bucket policy lets a
    stack's roles list nothing else).
    """
    S3Backend(
        stack,
        bucket=backend.bucket,
        key=key,
        region=backend.region,
        encrypt=True,
        kms_key_id=kms_key_id,
        workspace_key_prefix=workspace_key_prefix,
    )
    # cdktf 0.20's S3Backend has no field for use_lockfile; the override writes it into the backend block.
    stack.add_override("terraform.backend.s3.use_lockfile", True)
    if emulator is not None:
        for name, value in {
            "endpoints": {"s3": emulator.endpoint},
            "use_path_style": True,
            "skip_credentials_validation": True,
            "skip_metadata_api_check": True,
            "skip_region_validation": True,
            "skip_requesting_account_id": True,
        }.items():
            stack.add_override(f"terraform.backend.s3.{name}", value)


def state_backend(stack: TerraformStack, config: AppConfig, name: str) -> None:
    """The S3 backend of stack `name`: its own key in the bucket, its own state key, its own prefix."""
    s3_backend(
        stack,
        backend=config.backend,
        key=config.state_key(name),
        kms_key_id=config.backend.state_keys.get(name),
        workspace_key_prefix=Identities(config).workspace_key_prefix(name),
        emulator=config.emulator,
    )


def common_tags(config: AppConfig, environment: str) -> dict[str, str]:
    return {
        "Project": config.project.name,
        "Environment": environment,
        "Owner": config.project.owner,
        "ManagedBy": "cdktf",
    }

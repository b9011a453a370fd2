"""The platform every environment stands on: the state backend, the CI identity and the local emulator.

Settings of `[backend]`, `[ci]` and `[emulator]` and the environment variables that override them; split from
stacks/config.py (which loads the file and owns the environments) so each concept reads in one file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from constructs_lib.validation import (
    require,
    require_choice,
    require_name,
    require_region,
)
from processor.contract import ENVIRONMENTS

KNOWN_ENVIRONMENTS = frozenset(ENVIRONMENTS)  # the processor validates the same names at run time

# Environment variables that override the file (synth never needs AWS, so these are plain values).
ENV_CONFIG_FILE = "JAPANCART_CONFIG"
ENV_STATE_BUCKET = "JAPANCART_STATE_BUCKET"
ENV_STATE_REGION = "JAPANCART_STATE_REGION"
ENV_STATE_KEYS = "JAPANCART_STATE_KEYS"
ENV_EMULATOR_ENDPOINT = "JAPANCART_AWS_ENDPOINT"
#: Replaced by JAPANCART_STATE_KEYS (one key per stack): refused by name, never silently ignored.
ENV_RETIRED_STATE_KEY = "JAPANCART_STATE_KMS_KEY_ID"

#: The shipped `[backend] bucket`: S3 bucket names are global, so every organisation must choose its own.
PLACEHOLDER_BUCKET = "choose-your-own-state-bucket"
#: The shipped account ids (examples from AWS's documentation) and repository: `make synth` (review) accepts
#: them so a fresh clone synthesizes; anything that deploys refuses them, like the placeholder bucket.
PLACEHOLDER_ACCOUNTS = frozenset({"111122223333", "444455556666", "777788889999", "999988887777"})
PLACEHOLDER_REPOSITORY = "example-org/japancart-infrastructure"
PLACEHOLDER_REPOSITORY_ID = 123456789
ACCOUNT_PATTERN = r"\d{12}"
KMS_KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})"
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/*-]{1,512}"
STACK_NAME_PATTERN = r"[a-z][a-z0-9-]{1,40}"
OIDC_SUBJECTS = frozenset({"default", "immutable", "custom"})
BOOTSTRAP_STATE = frozenset({"local", "s3"})
#: Phase 1 of the bootstrap keeps its state here, relative to its stack directory (cdktf.out/stacks/bootstrap):
#: the project root, outside cdktf.out (which every synth replaces) and never an absolute machine path.
BOOTSTRAP_LOCAL_STATE = "../../../terraform.bootstrap.tfstate"


def require_account(field: str, value: Any) -> None:
    """A 12-digit AWS account id, written as a string (an integer would lose leading zeros)."""
    require_name(field, value, ACCOUNT_PATTERN, 'a 12-digit AWS account id in quotes, such as "111122223333"')


@dataclass(frozen=True, kw_only=True)
class BackendConfig:
    """Remote state: an S3 bucket (made by the bootstrap stack) with S3-native locking, one KMS key per stack.

    bucket: the state bucket's globally unique name (no default: choose your own).
    account_id: the AWS account that holds the bucket and every state key (the bootstrap stack's account).
    state_keys: per stack (`bootstrap`, `ci-<account>`, each environment), the ARN of its state key: the
      bootstrap stack's output `state_key_arns`. Every state object of a stack is written with its key, and the
      bucket refuses uploads to a stack's prefix under any other key. Empty while only the bootstrap stack
      exists (phase 1).
    bootstrap_state: where the bootstrap stack keeps its own state: "local" (phase 1, a file in the project
      root) or "s3" (phase 2, `<project>/bootstrap/terraform.tfstate` in the bucket it created).
    environment_roles: optional, per environment, IAM role ARNs (wildcards allowed, account explicit) that run
      that environment's Terraform besides its CI roles (a break-glass operator): they get the same state key
      and are kept to the same `<project>/<env>/` prefix as the environment's plan and apply roles.
    """

    bucket: str
    account_id: str
    region: str = "ap-northeast-1"
    state_keys: Mapping[str, str] = field(default_factory=dict)
    bootstrap_state: str = "local"
    environment_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_name("bucket", self.bucket, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name")
        require_account("account_id", self.account_id)
        require_region("region", self.region)
        require(
            isinstance(self.state_keys, Mapping),
            "state_keys",
            self.state_keys,
            "a table of stack name = state key ARN (the bootstrap stack's output state_key_arns)",
        )
        for stack, arn in self.state_keys.items():
            require_name("state_keys", stack, STACK_NAME_PATTERN, "a stack name such as dev or ci-111122223333")
            require_name(
                f"state_keys.{stack}",
                arn,
                KMS_KEY_ARN_PATTERN,
                "the ARN of a KMS key (the bootstrap stack's output state_key_arns)",
            )
            require(
                arn.split(":")[3:5] == [self.region, self.account_id],
                f"state_keys.{stack}",
                arn,
                f"a key of the state bucket's region and account ({self.region}, {self.account_id})",
            )
        duplicated = sorted({arn for arn in self.state_keys.values() if list(self.state_keys.values()).count(arn) > 1})
        require(not duplicated, "state_keys", duplicated[:1], "a different key for every stack")
        require_choice("bootstrap_state", self.bootstrap_state, BOOTSTRAP_STATE)
        require(
            self.bootstrap_state == "local" or "bootstrap" in self.state_keys,
            "bootstrap_state",
            self.bootstrap_state,
            "'local' until state_keys.bootstrap is set (phase 1 of the bootstrap)",
        )
        require(
            isinstance(self.environment_roles, Mapping),
            "environment_roles",
            self.environment_roles,
            "a table of environment name = [role ARNs]",
        )
        for name, roles in self.environment_roles.items():
            require_choice("environment_roles", name, KNOWN_ENVIRONMENTS)
            require(
                isinstance(roles, (list, tuple)) and len(roles) > 0,
                f"environment_roles.{name}",
                roles,
                "a non-empty list of IAM role ARNs",
            )
            for index, role in enumerate(roles):
                require_name(
                    f"environment_roles.{name}[{index}]",
                    role,
                    ROLE_ARN_PATTERN,
                    "an IAM role ARN such as arn:aws:iam::111122223333:role/japancart-dev-apply",
                )

    def require_chosen(self) -> None:
        """Outside tests, the shipped placeholder bucket and account must have been replaced."""
        require(
            self.bucket != PLACEHOLDER_BUCKET,
            "backend.bucket",
            self.bucket,
            f"your own globally unique S3 bucket name (config/environments.toml [backend] or {ENV_STATE_BUCKET}), "
            "not the shipped placeholder",
        )
        require_real_account("backend.account_id", self.account_id)

    def require_state_key(self, stack: str) -> None:
        """A stack's backend encrypts with its own key from the bootstrap stack: the key's ARN must be known."""
        require(
            stack in self.state_keys,
            f"backend.state_keys.{stack}",
            self.state_keys.get(stack, ""),
            f'the bootstrap stack\'s output state_key_arns["{stack}"] ({ENV_STATE_KEYS} or [backend] state_keys); '
            "until then synthesize only the bootstrap stack: python main.py bootstrap",
        )


def require_real_account(field: str, account: str) -> None:
    require(
        account not in PLACEHOLDER_ACCOUNTS,
        field,
        account,
        "your own AWS account id (config/environments.toml), not a shipped placeholder",
    )


@dataclass(frozen=True, kw_only=True)
class CiConfig:
    """The GitHub side of the CI identities: which repository's workflows may assume the plan and apply roles.

    repository: `owner/name` of the GitHub repository whose workflows deploy (no default).
    repository_id: its numeric id (`gh api repos/<owner>/<name> --jq .id`); needed by the `custom` and
      `immutable` subjects. Default: none.
    repository_owner_id: the owner's numeric id (`--jq .owner.id`); needed by the `immutable` subject.
      Default: none.
    oidc_subject: the `sub` claim format the roles trust, as the repository is set up (docs/plan-review.md):
      `default` (GitHub's `repo:<owner>/<name>:environment:<env>`), `immutable` (GitHub's default for
      repositories created after 15 July 2026: `repo:<owner>@<owner id>/<name>@<id>:environment:<env>`) or
      `custom`, the recommended one: the repository's subject template set to the claims `repository_id`,
      `context` and `job_workflow_ref`, so a token names the repository by its id (immune to renames and
      recycled names) and the workflow file and ref it runs from. Default: `default`.
    approver_teams: `org/team-slug` of the teams whose members may approve destructive changes (the
      `allow-destructive` label; read by the label gate). Default: none.
    pull_request_workflow / deploy_workflow: the workflow files whose jobs plan pull requests and preview and
      apply deployments (the `job_workflow_ref` of the `custom` subject).
    """

    repository: str
    repository_id: int | None = None
    repository_owner_id: int | None = None
    oidc_subject: str = "default"
    approver_teams: tuple[str, ...] = ()
    pull_request_workflow: str = ".github/workflows/pull-request.yml"
    deploy_workflow: str = ".github/workflows/deploy-environment.yml"

    def __post_init__(self) -> None:
        require_name(
            "repository",
            self.repository,
            r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}",
            "a GitHub repository as owner/name",
        )
        for name in ("repository_id", "repository_owner_id"):
            value = getattr(self, name)
            if value is not None:
                require(
                    isinstance(value, int) and not isinstance(value, bool) and value > 0,
                    name,
                    value,
                    "a GitHub numeric id (a positive whole number)",
                )
        require_choice("oidc_subject", self.oidc_subject, OIDC_SUBJECTS)
        if self.oidc_subject in ("custom", "immutable"):
            require(
                self.repository_id is not None,
                "repository_id",
                self.repository_id,
                f"set when oidc_subject is '{self.oidc_subject}'",
            )
        if self.oidc_subject == "immutable":
            require(
                self.repository_owner_id is not None,
                "repository_owner_id",
                self.repository_owner_id,
                "set when oidc_subject is 'immutable'",
            )
        require(
            isinstance(self.approver_teams, tuple), "approver_teams", self.approver_teams, "a list of org/team-slug"
        )
        for index, team in enumerate(self.approver_teams):
            require_name(
                f"approver_teams[{index}]",
                team,
                r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[a-z0-9][a-z0-9_-]{0,99}",
                "a GitHub team as org/team-slug",
            )
        require(
            len(set(self.approver_teams)) == len(self.approver_teams),
            "approver_teams",
            self.approver_teams,
            "a list without repeats",
        )
        for name in ("pull_request_workflow", "deploy_workflow"):
            require_name(
                name,
                getattr(self, name),
                r"\.github/workflows/[A-Za-z0-9._-]+\.ya?ml",
                "a workflow file such as .github/workflows/deploy.yml",
            )

    def require_chosen(self) -> None:
        require(
            self.repository != PLACEHOLDER_REPOSITORY,
            "ci.repository",
            self.repository,
            "your own GitHub repository (config/environments.toml [ci]), not the shipped placeholder",
        )
        require(
            self.repository_id != PLACEHOLDER_REPOSITORY_ID,
            "ci.repository_id",
            self.repository_id,
            "your repository's own id (gh api repos/<owner>/<name> --jq .id), not the shipped placeholder",
        )


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Test-only: point providers and the backend at a local AWS emulator (moto)."""

    endpoint: str

    def __post_init__(self) -> None:
        require_name(
            "endpoint",
            self.endpoint,
            r"https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?",
            "a loopback URL such as http://127.0.0.1:5000",
        )

"""Who is who in the control plane: every name and ARN of the CI identities, the boundaries and the state,
derived from the configuration alone (so the bootstrap's policies can name roles that do not exist yet, and
nothing has to be listed by hand).

Per environment `<env>` in account `<acct>` (partition from the environment's region):

* roles `<project>-<env>-plan` and `<project>-<env>-apply`, trusted by GitHub's OIDC provider of `<acct>`;
* permissions boundaries `<project>-<env>-workload-boundary` (every role the environment stack creates) and
  `<project>-<env>-apply-boundary` (the apply role's own);
* state under `<project>/<env>/` in the state bucket, encrypted with the key `state_keys[<env>]`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import AppConfig, EnvironmentConfig

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
GITHUB_OIDC_AUDIENCE = "sts.amazonaws.com"
DEPLOY_REF = "refs/heads/main"
#: The GitHub environments the jobs run in: pull-request plans, the deploy preview, the daily drift check, the
#: deploy apply.
PR_PLAN_ENVIRONMENT = "pr-plan-{env}"
PREVIEW_ENVIRONMENT = "preview-{env}"
DRIFT_ENVIRONMENT = "drift-{env}"
#: The scheduled drift check's workflow (docs/operations.md). Its own environment, not `pr-plan-<env>`: that one
#: has required reviewers (a daily run would wait for a human) and its subject pins the pull-request workflow.
DRIFT_WORKFLOW = ".github/workflows/drift.yml"
APPLY_ENVIRONMENT = "{env}"
#: The repository's OIDC subject template for `oidc_subject = "custom"` (docs/plan-review.md).
CUSTOM_SUBJECT_TEMPLATE = {"use_default": False, "include_claim_keys": ["repository_id", "context", "job_workflow_ref"]}


def partition_of(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Subject:
    """One trusted `sub` claim: compared with StringEquals, or StringLike when `pattern` (a pull request's
    merge ref has the pull request's number in it)."""

    value: str
    pattern: bool = False


@dataclass(frozen=True)
class Identities:
    """Names and ARNs of the control plane of one configuration."""

    config: AppConfig

    @property
    def project(self) -> str:
        return self.config.project.name

    # --- state -------------------------------------------------------------------------------------------
    @property
    def backend_partition(self) -> str:
        return partition_of(self.config.backend.region)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.backend_partition}:s3:::{self.config.backend.bucket}"

    def state_objects_arn(self, stack: str) -> str:
        """Every object of a stack's state: the state, its lock file and its workspaces."""
        return f"{self.bucket_arn}/{self.config.state_prefix(stack)}/*"

    def state_list_prefix(self, stack: str) -> str:
        """The `s3:prefix` a stack's roles may list (Terraform lists its workspaces under it)."""
        return f"{self.config.state_prefix(stack)}/*"

    def workspace_key_prefix(self, stack: str) -> str:
        """Non-default workspaces of a stack stay under its own prefix (S3 backend `workspace_key_prefix`;
        the default `env:` would make every init list outside it)."""
        return f"{self.config.state_prefix(stack)}/workspaces"

    def state_key_alias(self, stack: str) -> str:
        return f"{self.project}-{stack}-state"

    def state_key_arn(self, stack: str) -> str:
        """The configured key of a stack's state; before the bootstrap has run (review synthesis only) its alias
        ARN stands in, which names the same key but which IAM does not accept as a key resource."""
        known = self.config.backend.state_keys.get(stack)
        if known:
            return known
        backend = self.config.backend
        return f"arn:{self.backend_partition}:kms:{backend.region}:{backend.account_id}:alias/{self.state_key_alias(stack)}"

    def s3_endpoint(self) -> str:
        """`kms:ViaService` of the state keys: S3 of the bucket's region."""
        return f"s3.{self.config.backend.region}.amazonaws.com"

    # --- roles ---------------------------------------------------------------------------------------------
    def environment(self, name: str) -> EnvironmentConfig:
        (env,) = [e for e in self.config.environments if e.name == name]
        return env

    def partition(self, env: str) -> str:
        return partition_of(self.environment(env).region)

    def _iam_arn(self, env: str, resource: str) -> str:
        return f"arn:{self.partition(env)}:iam::{self.environment(env).account_id}:{resource}"

    def role_name(self, env: str, kind: str) -> str:
        return f"{self.project}-{env}-{kind}"

    def role_arn(self, env: str, kind: str) -> str:
        """`kind`: `plan` or `apply`."""
        return self._iam_arn(env, f"role/{self.role_name(env, kind)}")

    def ci_role_arns(self, envs: tuple[str, ...] | None = None) -> list[str]:
        """The plan and apply roles of the given environments (default: every environment)."""
        names = envs if envs is not None else tuple(e.name for e in self.config.environments)
        return [self.role_arn(env, kind) for env in names for kind in ("plan", "apply")]

    def state_principals(self, env: str) -> list[str]:
        """Who runs an environment's Terraform: its plan and apply roles and the configured extra roles."""
        return [*self.ci_role_arns((env,)), *self.config.backend.environment_roles.get(env, ())]

    def writers(self, env: str) -> list[str]:
        """Those of `state_principals` that write state: every one but the plan role."""
        return [arn for arn in self.state_principals(env) if arn != self.role_arn(env, "plan")]

    def workload_role_arns(self, env: str) -> str:
        """Every role the environment stack may create: `<project>-<env>-*` in its account."""
        return self._iam_arn(env, f"role/{self.project}-{env}-*")

    def workload_boundary_name(self, env: str) -> str:
        return f"{self.project}-{env}-workload-boundary"

    def workload_boundary_arn(self, env: str) -> str:
        return self._iam_arn(env, f"policy/{self.workload_boundary_name(env)}")

    def apply_boundary_name(self, env: str) -> str:
        return f"{self.project}-{env}-apply-boundary"

    def apply_boundary_arn(self, env: str) -> str:
        return self._iam_arn(env, f"policy/{self.apply_boundary_name(env)}")

    def boundary_arns(self, env: str) -> str:
        """Every boundary policy of the project in the environment's account (none of them may change)."""
        return self._iam_arn(env, f"policy/{self.project}-*-boundary")

    def oidc_provider_arn(self, env: str) -> str:
        return self._iam_arn(env, f"oidc-provider/{GITHUB_OIDC_HOST}")

    # --- trust ---------------------------------------------------------------------------------------------
    def subjects(self, env: str, kind: str) -> dict[str, Subject]:
        """The trusted `sub` claims of a role, by the job that presents them (`pull-request-plan`, `preview`,
        `drift`, `apply`), in the repository's subject format (`[ci] oidc_subject`)."""
        jobs = {
            "plan": {
                "pull-request-plan": PR_PLAN_ENVIRONMENT,
                "preview": PREVIEW_ENVIRONMENT,
                "drift": DRIFT_ENVIRONMENT,
            },
            "apply": {"apply": APPLY_ENVIRONMENT},
        }[kind]
        return {job: self._subject(environment.format(env=env), job) for job, environment in jobs.items()}

    def _subject(self, github_environment: str, job: str) -> Subject:
        ci = self.config.ci
        context = f"environment:{github_environment}"
        if ci.oidc_subject == "default":
            return Subject(f"repo:{ci.repository}:{context}")
        if ci.oidc_subject == "immutable":
            owner, name = ci.repository.split("/")
            return Subject(f"repo:{owner}@{ci.repository_owner_id}/{name}@{ci.repository_id}:{context}")
        if job == "pull-request-plan":  # the job runs from the pull request's merge ref: refs/pull/<n>/merge
            ref = f"{ci.repository}/{ci.pull_request_workflow}@refs/pull/*/merge"
            return Subject(f"repository_id:{ci.repository_id}:{context}:job_workflow_ref:{ref}", pattern=True)
        workflow = DRIFT_WORKFLOW if job == "drift" else ci.deploy_workflow  # both run from main only
        ref = f"{ci.repository}/{workflow}@{DEPLOY_REF}"
        return Subject(f"repository_id:{ci.repository_id}:{context}:job_workflow_ref:{ref}")

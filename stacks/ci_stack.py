"""The CI identities of one AWS account, as one Terraform stack (`ci-<account id>`).

One stack per account because GitHub's OIDC provider exists once per account: in the supported layout (one
account per environment) each holds one environment's roles; in the single-account fallback one stack holds
them all. It is applied by an operator of that account (the roles cannot create themselves), after the
bootstrap and before the environment's first deploy, since every role the environment stack creates must
carry the workload boundary made here.

Per environment of the account: the plan and apply roles (stacks/ci_policies.py: trust, permissions), the
apply role's own boundary, and the workload boundary of the environment's roles.
"""

from __future__ import annotations

import json

from cdktf import TerraformOutput, TerraformStack
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from constructs import Construct

from constructs_lib.ci_identity import DeploymentRole, DeploymentRoleProps, GithubOidcProvider, GithubOidcProviderProps

from . import ci_policies
from .config import AppConfig
from .identity import GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_URL, Identities
from .providers import aws_provider, common_tags, state_backend

#: Apply jobs ask for 7200 s (they time out after 110 minutes and must still write state and release the lock).
APPLY_SESSION_SECONDS = 7200


class CiIdentityStack(TerraformStack):
    """GitHub's OIDC provider and, per environment of the account, its plan and apply roles and boundaries."""

    def __init__(self, scope: Construct, config: AppConfig, account: str) -> None:
        name = config.ci_stack_name(account)
        super().__init__(scope, name)
        environments = config.environments_in(account)
        ids = Identities(config)
        aws_provider(
            self,
            region=environments[0].region,
            account_id=account,
            tags=common_tags(config, "ci"),
            emulator=config.emulator,
        )
        state_backend(self, config, name)

        github = GithubOidcProvider(
            self, "github", GithubOidcProviderProps(url=GITHUB_OIDC_URL, audiences=(GITHUB_OIDC_AUDIENCE,))
        )
        plan_roles, apply_roles = {}, {}
        for env in (e.name for e in environments):
            IamPolicy(
                self,
                f"{env}-workload-boundary",
                name=ids.workload_boundary_name(env),
                description=f"The most any role of the {env} environment stack may do",
                policy=json.dumps(ci_policies.workload_boundary(ids, env)),
            )
            apply_boundary = IamPolicy(
                self,
                f"{env}-apply-boundary",
                name=ids.apply_boundary_name(env),
                description=f"The most the {env} apply role may do",
                policy=json.dumps(ci_policies.apply_policy(ids, env)),
            )
            plan_roles[env] = DeploymentRole(
                self,
                f"{env}-plan",
                DeploymentRoleProps(
                    name=ids.role_name(env, "plan"),
                    description=f"Read-only plans of {env}: pull requests and the deploy preview",
                    trust_policy=ci_policies.trust_policy(ids, env, "plan"),
                    policy=ci_policies.plan_policy(ids, env),
                    depends_on=(github.provider,),
                ),
            ).arn
            apply_roles[env] = DeploymentRole(
                self,
                f"{env}-apply",
                DeploymentRoleProps(
                    name=ids.role_name(env, "apply"),
                    description=f"Deploys {env} after approval",
                    trust_policy=ci_policies.trust_policy(ids, env, "apply"),
                    policy=ci_policies.apply_policy(ids, env),
                    max_session_seconds=APPLY_SESSION_SECONDS,
                    boundary_arn=apply_boundary.arn,
                    depends_on=(github.provider,),
                ),
            ).arn

        TerraformOutput(
            self,
            "github_oidc_provider_arn",
            value=github.arn,
            description="GitHub's OIDC identity provider of this account",
        )
        TerraformOutput(
            self,
            "plan_role_arns",
            value=plan_roles,
            description="Per environment: repository variable AWS_PLAN_ROLE_ARN_<ENV>",
        )
        TerraformOutput(
            self,
            "apply_role_arns",
            value=apply_roles,
            description="Per environment: repository variable AWS_APPLY_ROLE_ARN_<ENV>",
        )

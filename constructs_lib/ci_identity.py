"""The CI side of the control plane: GitHub's OIDC provider of an account, and a role a workflow assumes.

The policy documents come from the caller (stacks/ci_policies.py builds them from the configuration); these
constructs only check what every such role must satisfy: a web-identity trust, a session that outlives the
job, a name AWS accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdktf import ITerraformDependable
from cdktf_cdktf_provider_aws.iam_openid_connect_provider import IamOpenidConnectProvider
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from .validation import require, require_int, require_name

ROLE_NAME = r"[A-Za-z0-9+=,.@_-]{1,64}"


@dataclass(frozen=True, kw_only=True)
class GithubOidcProviderProps:
    """Inputs of `GithubOidcProvider`.

    url: the issuer, `https://token.actions.githubusercontent.com` (or an enterprise's own issuer URL).
    audiences: the `aud` values AWS accepts: `sts.amazonaws.com`, what aws-actions/configure-aws-credentials asks for.
    """

    url: str
    audiences: tuple[str, ...]

    def __post_init__(self) -> None:
        require_name("url", self.url, r"https://[a-z0-9.-]+(/[A-Za-z0-9._-]+)*", "an https issuer URL")
        require(bool(self.audiences), "audiences", self.audiences, "at least one audience")


class GithubOidcProvider(Construct):
    """The account's IAM OIDC identity provider for GitHub Actions (one per account and issuer). No thumbprint is
    pinned: IAM verifies GitHub's certificate against its own trusted CAs, and a pinned thumbprint would break
    on GitHub's next certificate change."""

    def __init__(self, scope: Construct, construct_id: str, props: GithubOidcProviderProps) -> None:
        super().__init__(scope, construct_id)
        self.provider = IamOpenidConnectProvider(self, "provider", url=props.url, client_id_list=list(props.audiences))
        self.arn: str = self.provider.arn


@dataclass(frozen=True, kw_only=True)
class DeploymentRoleProps:
    """Inputs of `DeploymentRole`.

    name: the role's name, e.g. `japancart-dev-apply`.
    description: what the role is for.
    trust_policy: the assume-role policy; every statement must be `sts:AssumeRoleWithWebIdentity` with an
      audience and a subject condition (a token of any workflow must never be enough).
    policy: the inline policy document (the role's permissions).
    max_session_seconds: how long a session may last (3600-43200); the workflow's request must fit.
      Default: 3600, AWS's default.
    boundary_arn: the role's permissions boundary, if any. Default: none.
    depends_on: resources the trust needs first (the OIDC provider). Default: none.
    """

    name: str
    description: str
    trust_policy: Mapping[str, Any]
    policy: Mapping[str, Any]
    max_session_seconds: int = 3600
    boundary_arn: str | None = None
    depends_on: tuple[ITerraformDependable, ...] = ()

    def __post_init__(self) -> None:
        require_name("name", self.name, ROLE_NAME, "an IAM role name (1-64 of letters, digits, +=,.@_-)")
        require_int("max_session_seconds", self.max_session_seconds, 3600, 43200)
        statements = self.trust_policy.get("Statement") or []
        require(bool(statements), "trust_policy", self.trust_policy, "at least one statement")
        for index, statement in enumerate(statements):
            condition = statement.get("Condition") or {}
            keys = {key.rsplit(":", 1)[-1] for operator in condition.values() for key in operator}
            require(
                statement.get("Action") == "sts:AssumeRoleWithWebIdentity" and {"aud", "sub"} <= keys,
                f"trust_policy.Statement[{index}]",
                statement,
                "sts:AssumeRoleWithWebIdentity conditioned on the token's aud and sub",
            )


class DeploymentRole(Construct):
    """A role a CI job assumes with its OIDC token, with one inline policy."""

    def __init__(self, scope: Construct, construct_id: str, props: DeploymentRoleProps) -> None:
        super().__init__(scope, construct_id)
        self.role = IamRole(
            self,
            "role",
            name=props.name,
            description=props.description,
            assume_role_policy=json.dumps(props.trust_policy),
            max_session_duration=props.max_session_seconds,
            permissions_boundary=props.boundary_arn,
            depends_on=list(props.depends_on) or None,
        )
        IamRolePolicy(self, "policy", name=props.name, role=self.role.id, policy=json.dumps(props.policy))
        self.arn: str = self.role.arn
        self.name: str = props.name

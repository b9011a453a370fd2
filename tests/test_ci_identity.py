"""The control plane as code: CI stacks per account, trust, plan and apply permissions, boundaries, state keys
and the state bucket's per-environment denies.

No engine offline evaluates these policies (moto's AssumeRoleWithWebIdentity checks no trust condition and
moto enforces no key policy), so the synthesized documents are evaluated with tools/iam_policy.py
(tests/tools/test_iam_policy.py holds it to AWS's documented semantics), against the request contexts AWS
builds: GitHub's token claims for a trust policy, the caller and `kms:ViaService` for a key, the requester and
`s3:prefix` for the bucket. The emulator round trip (tests/e2e) applies the same stacks and proves the bucket
denies against real sessions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processor.contract import ENVIRONMENTS
from synthesis import TEST_ACCOUNTS, TEST_BACKEND, TEST_REPOSITORY, TEST_REPOSITORY_ID, TEST_STATE_KEYS, StackView
from tools.iam_policy import ALLOW, DENY, IMPLICIT_DENY, Principal, Request, evaluate, evaluate_all

HOST = "token.actions.githubusercontent.com"
REGION = "ap-northeast-1"
BUCKET = "arn:aws:s3:::japancart-terraform-state"
DEV, PROD = TEST_ACCOUNTS["dev"], TEST_ACCOUNTS["prod"]


@pytest.fixture(scope="module")
def ids():
    from stacks.config import load_config
    from stacks.identity import Identities

    return Identities(load_config(TEST_BACKEND))


def identities(tmp_path: Path, environments: dict[str, dict[str, Any]] | None = None, **sections: Any):
    from config_files import write_config

    from stacks.config import load_config
    from stacks.identity import Identities

    path = write_config(
        tmp_path, environments or {"dev": {}, "prod": {"network": {"vpc_cidr": "10.30.0.0/16"}}}, **sections
    )
    return Identities(load_config({"JAPANCART_CONFIG": str(path)}))


# ---------------------------------------------------------------------------------------------------------
# Stacks: one CI stack per account
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_account_gets_the_github_provider_and_its_environments_roles(stacks, env: str) -> None:
    ci = StackView(stacks[f"ci-{TEST_ACCOUNTS[env]}"])
    ((_, provider),) = ci.resources("aws_iam_openid_connect_provider").items()
    assert provider["url"] == f"https://{HOST}" and provider["client_id_list"] == ["sts.amazonaws.com"]
    assert "thumbprint_list" not in provider  # IAM trusts GitHub's certificate through its own CAs
    roles = {r["name"]: r for r in ci.resources("aws_iam_role").values()}
    assert set(roles) == {f"japancart-{env}-plan", f"japancart-{env}-apply"}
    apply, plan = roles[f"japancart-{env}-apply"], roles[f"japancart-{env}-plan"]
    assert apply["max_session_duration"] == 7200  # the deploy workflow asks for 7200 s
    assert plan["max_session_duration"] == 3600 and "permissions_boundary" not in plan
    boundaries = {p["name"]: (key, p) for key, p in ci.resources("aws_iam_policy").items()}
    assert set(boundaries) == {f"japancart-{env}-workload-boundary", f"japancart-{env}-apply-boundary"}
    key, apply_boundary = boundaries[f"japancart-{env}-apply-boundary"]
    assert apply["permissions_boundary"] == ci.ref("aws_iam_policy", key, "arn")
    inline = {p["name"]: json.loads(p["policy"]) for p in ci.resources("aws_iam_role_policy").values()}
    assert inline[f"japancart-{env}-apply"] == json.loads(apply_boundary["policy"])  # the boundary caps it
    assert stacks[f"ci-{TEST_ACCOUNTS[env]}"]["output"]["apply_role_arns"]["value"] == {
        env: ci.ref("aws_iam_role", [k for k, r in ci.resources("aws_iam_role").items() if r is apply][0], "arn")
    }


def test_single_account_fallback_has_one_ci_stack_for_every_environment(tmp_path: Path) -> None:
    from config_files import write_config

    from synthesis import synth_stacks

    one = "123456789012"
    config = write_config(
        tmp_path,
        {
            "dev": {"account_id": one},
            "staging": {"account_id": one, "network": {"vpc_cidr": "10.20.0.0/16"}},
            "prod": {"account_id": one, "network": {"vpc_cidr": "10.30.0.0/16"}},
        },
        backend={"account_id": one},
    )
    stacks = synth_stacks(tmp_path / "out", {"JAPANCART_CONFIG": str(config)})
    assert sorted(stacks) == sorted(["bootstrap", f"ci-{one}", "dev", "staging", "prod"])
    ci = StackView(stacks[f"ci-{one}"])
    assert len(ci.resources("aws_iam_openid_connect_provider")) == 1
    assert sorted(r["name"] for r in ci.resources("aws_iam_role").values()) == sorted(
        f"japancart-{env}-{kind}" for env in ENVIRONMENTS for kind in ("plan", "apply")
    )
    # Same account as the bucket: no cross-account Allow, the denies alone keep environments apart.
    _, policy = StackView(stacks["bootstrap"]).one("aws_s3_bucket_policy")
    assert {s["Effect"] for s in json.loads(policy["policy"])["Statement"]} == {"Deny"}


# ---------------------------------------------------------------------------------------------------------
# Trust: GitHub claim sets admitted and refused
# ---------------------------------------------------------------------------------------------------------
def assume(trust: dict, sub: str, *, aud: str = "sts.amazonaws.com", account: str = DEV) -> str:
    """The trust policy's decision on AssumeRoleWithWebIdentity for a token with these claims, presented
    through the OIDC provider of `account`."""
    provider = Principal.federated(f"arn:aws:iam::{account}:oidc-provider/{HOST}")
    return evaluate(
        trust,
        Request("sts:AssumeRoleWithWebIdentity", principal=provider, context={f"{HOST}:aud": aud, f"{HOST}:sub": sub}),
    )


REPO = TEST_REPOSITORY
PR_REF = f"{REPO}/.github/workflows/pull-request.yml@refs/pull/42/merge"
DEPLOY_REF = f"{REPO}/.github/workflows/deploy-environment.yml@refs/heads/main"
DRIFT_REF = f"{REPO}/.github/workflows/drift.yml@refs/heads/main"
CUSTOM = f"repository_id:{TEST_REPOSITORY_ID}"


@pytest.mark.parametrize(
    ("kind", "sub", "admitted"),
    [
        # the shipped, recommended subject: repository id, GitHub environment, workflow file and ref
        ("plan", f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{PR_REF}", True),
        ("plan", f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{PR_REF.replace('42', '7')}", True),
        ("plan", f"{CUSTOM}:environment:preview-dev:job_workflow_ref:{DEPLOY_REF}", True),
        ("plan", f"{CUSTOM}:environment:pr-plan-prod:job_workflow_ref:{PR_REF}", False),  # another environment
        # the scheduled drift check: its own environment, its own workflow, from main only
        ("plan", f"{CUSTOM}:environment:drift-dev:job_workflow_ref:{DRIFT_REF}", True),
        ("plan", f"{CUSTOM}:environment:drift-dev:job_workflow_ref:{DRIFT_REF.replace('main', 'feature')}", False),
        ("plan", f"{CUSTOM}:environment:drift-dev:job_workflow_ref:{DEPLOY_REF}", False),  # another workflow
        ("plan", f"{CUSTOM}:environment:drift-dev:job_workflow_ref:{PR_REF.replace('pull-request', 'drift')}", False),
        ("plan", f"{CUSTOM}:environment:drift-prod:job_workflow_ref:{DRIFT_REF}", False),  # another environment
        ("plan", f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{DRIFT_REF}", False),
        ("plan", f"{CUSTOM}:environment:dev:job_workflow_ref:{DEPLOY_REF}", False),  # the apply environment
        ("plan", f"repository_id:700000002:environment:pr-plan-dev:job_workflow_ref:{PR_REF}", False),  # another repo
        (
            "plan",
            f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{REPO}/.github/workflows/evil.yml@refs/pull/42/merge",
            False,
        ),
        (
            "plan",
            f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{REPO}/.github/workflows/pull-request.yml@refs/heads/feature",
            False,
        ),
        ("plan", f"{CUSTOM}:environment:preview-dev:job_workflow_ref:{DEPLOY_REF.replace('main', 'feature')}", False),
        ("plan", f"{CUSTOM}:ref:refs/heads/main:job_workflow_ref:{DEPLOY_REF}", False),  # no environment
        ("plan", f"{CUSTOM}:pull_request:job_workflow_ref:{PR_REF}", False),  # no environment
        ("plan", f"repo:{REPO}:environment:pr-plan-dev", False),  # default format: not this repo's
        ("plan", f"repo:{REPO}:ref:refs/heads/main", False),  # the old trust's subject
        ("apply", f"{CUSTOM}:environment:dev:job_workflow_ref:{DEPLOY_REF}", True),
        ("apply", f"{CUSTOM}:environment:dev:job_workflow_ref:{DEPLOY_REF.replace('main', 'feature')}", False),
        (
            "apply",
            f"{CUSTOM}:environment:dev:job_workflow_ref:{REPO}/.github/workflows/pull-request.yml@refs/heads/main",
            False,
        ),
        ("apply", f"{CUSTOM}:environment:preview-dev:job_workflow_ref:{DEPLOY_REF}", False),
        ("apply", f"{CUSTOM}:environment:pr-plan-dev:job_workflow_ref:{PR_REF}", False),
        ("apply", f"{CUSTOM}:environment:drift-dev:job_workflow_ref:{DRIFT_REF}", False),  # drift plans, never applies
        ("apply", f"{CUSTOM}:environment:prod:job_workflow_ref:{DEPLOY_REF}", False),
        ("apply", f"repository_id:7000000011:environment:dev:job_workflow_ref:{DEPLOY_REF}", False),
    ],
)
def test_custom_subject_trust(ids, kind: str, sub: str, admitted: bool) -> None:
    from stacks.ci_policies import trust_policy

    assert assume(trust_policy(ids, "dev", kind), sub) == (ALLOW if admitted else IMPLICIT_DENY)


def test_audience_and_provider_account_are_pinned(ids) -> None:
    from stacks.ci_policies import trust_policy

    sub = f"{CUSTOM}:environment:dev:job_workflow_ref:{DEPLOY_REF}"
    trust = trust_policy(ids, "dev", "apply")
    assert assume(trust, sub) == ALLOW
    assert assume(trust, sub, aud="https://github.com/acme-payments") == IMPLICIT_DENY  # GitHub's default aud
    assert assume(trust, sub, account=PROD) == IMPLICIT_DENY  # prod's provider: not this role's account


@pytest.mark.parametrize(
    ("kind", "sub", "admitted"),
    [
        ("plan", f"repo:{REPO}:environment:pr-plan-dev", True),
        ("plan", f"repo:{REPO}:environment:preview-dev", True),
        ("plan", f"repo:{REPO}:environment:drift-dev", True),
        ("plan", f"repo:{REPO}:environment:drift-prod", False),
        ("plan", f"repo:{REPO}:ref:refs/heads/main", False),  # any workflow or event on main: no longer
        ("plan", f"repo:{REPO}:pull_request", False),
        ("plan", f"repo:{REPO}:environment:dev", False),
        ("plan", f"repo:{REPO}:environment:pr-plan-prod", False),
        ("plan", f"repo:{REPO}:environment:pr-plan-dev-2", False),
        ("plan", "repo:acme-payments/another-repo:environment:pr-plan-dev", False),
        ("plan", f"repo:{REPO.upper()}:environment:pr-plan-dev", False),
        ("apply", f"repo:{REPO}:environment:dev", True),
        ("apply", f"repo:{REPO}:environment:preview-dev", False),
        ("apply", f"repo:{REPO}:environment:drift-dev", False),
        ("apply", f"repo:{REPO}:environment:pr-plan-dev", False),
        ("apply", f"repo:{REPO}:ref:refs/heads/main", False),
        ("apply", f"repo:{REPO}:environment:prod", False),
        ("apply", "repo:acme-payments/fork:environment:dev", False),
    ],
)
def test_default_subject_trust(tmp_path: Path, kind: str, sub: str, admitted: bool) -> None:
    from stacks.ci_policies import trust_policy

    default = identities(tmp_path, ci={"oidc_subject": "default"})
    trust = trust_policy(default, "dev", kind)
    assert "StringLike" not in json.dumps(trust), "no wildcard in a default subject"
    assert assume(trust, sub) == (ALLOW if admitted else IMPLICIT_DENY)


def test_immutable_subject_trust(tmp_path: Path) -> None:
    from stacks.ci_policies import trust_policy

    immutable = identities(tmp_path, ci={"oidc_subject": "immutable", "repository_id": 456, "repository_owner_id": 123})
    trust = trust_policy(immutable, "dev", "apply")
    assert assume(trust, "repo:acme-payments@123/japancart-infrastructure@456:environment:dev") == ALLOW
    assert assume(trust, f"repo:{REPO}:environment:dev") == IMPLICIT_DENY  # a recycled name cannot pass
    assert assume(trust, "repo:acme-payments@123/japancart-infrastructure@457:environment:dev") == IMPLICIT_DENY


# ---------------------------------------------------------------------------------------------------------
# Plan role: read-only, its own state, key and project secrets
# ---------------------------------------------------------------------------------------------------------
def allowed(policy: dict, action: str, resource: str, **context: Any) -> str:
    return evaluate(policy, Request(action, resource, context=context))


@pytest.fixture(scope="module")
def dev_plan(ids) -> dict:
    from stacks.ci_policies import plan_policy

    return plan_policy(ids, "dev")


def test_plan_role_reads_only_its_own_state(dev_plan) -> None:
    assert allowed(dev_plan, "s3:GetObject", f"{BUCKET}/japancart/dev/terraform.tfstate") == ALLOW
    assert allowed(dev_plan, "s3:GetObject", f"{BUCKET}/japancart/prod/terraform.tfstate") == IMPLICIT_DENY
    assert allowed(dev_plan, "s3:GetObjectVersion", f"{BUCKET}/japancart/dev/terraform.tfstate") == DENY
    assert allowed(dev_plan, "s3:ListBucket", BUCKET, **{"s3:prefix": "japancart/dev/workspaces/"}) == ALLOW
    assert allowed(dev_plan, "s3:ListBucket", BUCKET, **{"s3:prefix": "japancart/prod/"}) == IMPLICIT_DENY
    assert allowed(dev_plan, "s3:PutObject", f"{BUCKET}/japancart/dev/terraform.tfstate.tflock") == DENY  # no lock
    via_s3 = {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
    assert allowed(dev_plan, "kms:Decrypt", TEST_STATE_KEYS["dev"], **via_s3) == ALLOW
    assert allowed(dev_plan, "kms:Decrypt", TEST_STATE_KEYS["dev"]) == IMPLICIT_DENY  # only through S3
    assert allowed(dev_plan, "kms:Decrypt", TEST_STATE_KEYS["prod"], **via_s3) == IMPLICIT_DENY
    assert allowed(dev_plan, "kms:GenerateDataKey", TEST_STATE_KEYS["dev"], **via_s3) == DENY


def test_plan_role_reads_its_environments_project_secrets_and_never_rds_ones(dev_plan) -> None:
    secret = f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:japancart/dev/db-connection-AbCdEf"
    assert allowed(dev_plan, "secretsmanager:GetSecretValue", secret) == ALLOW
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com", "kms:EncryptionContext:SecretARN": secret}
    assert allowed(dev_plan, "kms:Decrypt", f"arn:aws:kms:{REGION}:{DEV}:key/1234", **via) == ALLOW
    other = secret.replace("japancart/dev/", "japancart/prod/")
    assert allowed(dev_plan, "secretsmanager:GetSecretValue", other) == IMPLICIT_DENY
    assert (
        allowed(
            dev_plan,
            "kms:Decrypt",
            f"arn:aws:kms:{REGION}:{DEV}:key/1234",
            **{**via, "kms:EncryptionContext:SecretARN": other},
        )
        == IMPLICIT_DENY
    )
    rds = f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:rds!db-0123abcd-AbCdEf"
    assert allowed(dev_plan, "secretsmanager:GetSecretValue", rds) == DENY
    assert allowed(dev_plan, "secretsmanager:PutSecretValue", secret) == DENY


@pytest.mark.parametrize(
    "action",
    [
        "ec2:RunInstances",
        "ec2:CreateVpc",
        "iam:CreateRole",
        "iam:PassRole",
        "kms:ScheduleKeyDeletion",
        "rds:DeleteDBInstance",
        "lambda:InvokeFunction",
        "lambda:UpdateFunctionCode",
        "sts:AssumeRole",
        "s3:DeleteObject",
        "logs:GetLogEvents",
    ],
)
def test_plan_role_writes_nothing(dev_plan, action: str) -> None:
    assert allowed(dev_plan, action, "*", **{"aws:RequestedRegion": REGION}) == DENY


def types_in(document: dict) -> set[str]:
    return {*document.get("resource", {}), *(f"data.{t}" for t in document.get("data", {}))}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_plan_role_can_refresh_every_type_of_the_environment_stack(stacks, ids, env: str) -> None:
    """A resource type the plan role cannot read would fail the PR plan with AccessDenied: every type of the
    stack must have its refresh reads listed, and the plan role allowed each in the environment's region."""
    from stacks.ci_policies import REFRESH_ACTIONS, plan_policy

    unknown = types_in(stacks[env]) - set(REFRESH_ACTIONS)
    assert not unknown, f"add the refresh reads of {sorted(unknown)} to stacks/ci_policies.REFRESH_ACTIONS"
    plan = plan_policy(ids, env)
    role = f"arn:aws:iam::{TEST_ACCOUNTS[env]}:role/japancart-{env}-processor"
    for resource_type in types_in(stacks[env]):
        for action in REFRESH_ACTIONS[resource_type]:
            resource = role if action.startswith("iam:") else "*"
            assert allowed(plan, action, resource, **{"aws:RequestedRegion": REGION}) == ALLOW, (resource_type, action)
            if not action.startswith(("iam:", "sts:")):
                assert allowed(plan, action, resource, **{"aws:RequestedRegion": "us-east-1"}) != ALLOW


# ---------------------------------------------------------------------------------------------------------
# Apply role: deploy rights, roles only with the workload boundary, nothing on the control plane
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev_apply(ids) -> list[dict]:
    """The apply role's identity policy and its permissions boundary (the same document): both must allow."""
    from stacks.ci_policies import apply_policy

    return [apply_policy(ids, "dev"), apply_policy(ids, "dev")]


WORKLOAD_BOUNDARY = f"arn:aws:iam::{DEV}:policy/japancart-dev-workload-boundary"


def apply_decision(policies: list[dict], action: str, resource: str, **context: Any) -> str:
    return evaluate_all(policies, Request(action, resource, context=context))


def role(name: str, account: str = DEV) -> str:
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.mark.parametrize(
    ("action", "resource", "boundary", "decision"),
    [
        ("iam:CreateRole", role("japancart-dev-processor"), WORKLOAD_BOUNDARY, ALLOW),
        ("iam:CreateRole", role("japancart-dev-processor"), None, DENY),
        (
            "iam:CreateRole",
            role("japancart-dev-processor"),
            f"arn:aws:iam::{DEV}:policy/japancart-dev-apply-boundary",
            DENY,
        ),
        ("iam:CreateRole", role("japancart-dev-processor"), "arn:aws:iam::aws:policy/AdministratorAccess", DENY),
        ("iam:CreateRole", role("japancart-prod-processor"), WORKLOAD_BOUNDARY, IMPLICIT_DENY),
        ("iam:CreateRole", role("other-team-role"), WORKLOAD_BOUNDARY, IMPLICIT_DENY),
        ("iam:CreateRole", role("japancart-dev-apply"), WORKLOAD_BOUNDARY, DENY),
        ("iam:PutRolePolicy", role("japancart-dev-processor"), WORKLOAD_BOUNDARY, ALLOW),
        ("iam:PutRolePolicy", role("japancart-dev-processor"), None, IMPLICIT_DENY),  # a role without the boundary
        ("iam:AttachRolePolicy", role("japancart-dev-database-monitoring"), WORKLOAD_BOUNDARY, ALLOW),
        (
            "iam:AttachRolePolicy",
            role("japancart-dev-apply"),
            f"arn:aws:iam::{DEV}:policy/japancart-dev-apply-boundary",
            DENY,
        ),
        (
            "iam:PutRolePolicy",
            role("japancart-dev-apply"),
            f"arn:aws:iam::{DEV}:policy/japancart-dev-apply-boundary",
            DENY,
        ),
        ("iam:PutRolePermissionsBoundary", role("japancart-dev-processor"), WORKLOAD_BOUNDARY, ALLOW),
        (
            "iam:PutRolePermissionsBoundary",
            role("japancart-dev-processor"),
            "arn:aws:iam::aws:policy/PowerUserAccess",
            DENY,
        ),
        ("iam:DeleteRolePermissionsBoundary", role("japancart-dev-processor"), WORKLOAD_BOUNDARY, DENY),
        ("iam:DeleteRolePermissionsBoundary", role("japancart-dev-apply"), None, DENY),
        ("iam:UpdateAssumeRolePolicy", role("japancart-dev-plan"), None, DENY),
        ("iam:UpdateAssumeRolePolicy", role("japancart-dev-processor"), None, ALLOW),
        ("iam:DeleteRole", role("japancart-dev-apply"), None, DENY),
        ("iam:DeleteRole", role("japancart-dev-processor"), None, ALLOW),
        ("iam:PassRole", role("japancart-dev-processor"), None, ALLOW),
        ("iam:PassRole", role("japancart-dev-apply"), None, DENY),
        ("iam:CreatePolicyVersion", WORKLOAD_BOUNDARY, None, DENY),
        ("iam:SetDefaultPolicyVersion", f"arn:aws:iam::{DEV}:policy/japancart-dev-apply-boundary", None, DENY),
        ("iam:DeletePolicy", WORKLOAD_BOUNDARY, None, DENY),
        ("iam:CreatePolicy", f"arn:aws:iam::{DEV}:policy/japancart-dev-anything", None, IMPLICIT_DENY),
        ("iam:DeleteOpenIDConnectProvider", f"arn:aws:iam::{DEV}:oidc-provider/{HOST}", None, DENY),
        ("iam:UpdateOpenIDConnectProviderThumbprint", f"arn:aws:iam::{DEV}:oidc-provider/{HOST}", None, DENY),
        ("iam:CreateUser", f"arn:aws:iam::{DEV}:user/intruder", None, IMPLICIT_DENY),
        ("iam:CreateAccessKey", f"arn:aws:iam::{DEV}:user/intruder", None, IMPLICIT_DENY),
    ],
)
def test_apply_role_creates_roles_only_with_the_workload_boundary(
    dev_apply, action: str, resource: str, boundary: str | None, decision: str
) -> None:
    context = {"iam:PermissionsBoundary": boundary} if boundary else {}
    assert apply_decision(dev_apply, action, resource, **context) == decision


def test_apply_role_deploys_its_environment_only(dev_apply) -> None:
    region = {"aws:RequestedRegion": REGION}
    assert apply_decision(dev_apply, "ec2:CreateVpc", "*", **region, **{"aws:RequestTag/Environment": "dev"}) == ALLOW
    assert apply_decision(dev_apply, "rds:CreateDBInstance", "*", **region) == ALLOW
    assert apply_decision(dev_apply, "ec2:CreateVpc", "*", **{"aws:RequestedRegion": "us-east-1"}) == IMPLICIT_DENY
    # a resource (or a new tag) of another environment or project: never, wherever the service supports tags
    assert (
        apply_decision(dev_apply, "ec2:DeleteVpc", "*", **region, **{"aws:ResourceTag/Environment": "prod"})
        == IMPLICIT_DENY
    )
    assert (
        apply_decision(dev_apply, "kms:PutKeyPolicy", "*", **region, **{"aws:ResourceTag/Environment": "shared"})
        == IMPLICIT_DENY
    )
    assert (
        apply_decision(dev_apply, "ec2:CreateTags", "*", **region, **{"aws:RequestTag/Environment": "prod"})
        == IMPLICIT_DENY
    )
    assert apply_decision(dev_apply, "s3:CreateBucket", "*", **region) == IMPLICIT_DENY
    assert apply_decision(dev_apply, "s3:PutObject", f"{BUCKET}/japancart/dev/terraform.tfstate") == ALLOW
    assert apply_decision(dev_apply, "s3:PutObject", f"{BUCKET}/japancart/prod/terraform.tfstate") == IMPLICIT_DENY
    via_s3 = {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
    assert apply_decision(dev_apply, "kms:GenerateDataKey", TEST_STATE_KEYS["dev"], **via_s3) == ALLOW
    assert apply_decision(dev_apply, "kms:Decrypt", TEST_STATE_KEYS["prod"], **via_s3) == IMPLICIT_DENY


def test_apply_role_can_deploy_every_service_of_the_environment_stack(stacks) -> None:
    from stacks.ci_policies import REFRESH_ACTIONS, deploy_services

    services = {a.split(":")[0] for env in ENVIRONMENTS for t in types_in(stacks[env]) for a in REFRESH_ACTIONS[t]}
    assert services - {"iam", "sts"} <= set(deploy_services())


# ---------------------------------------------------------------------------------------------------------
# Workload boundary: every role of every environment stack carries it, and it covers what they do
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_role_of_an_environment_stack_carries_the_workload_boundary(stacks, env: str) -> None:
    roles = StackView(stacks[env]).resources("aws_iam_role").values()
    assert len(roles) >= 5
    expected = f"arn:aws:iam::{TEST_ACCOUNTS[env]}:policy/japancart-{env}-workload-boundary"
    assert {r["name"]: r.get("permissions_boundary") for r in roles} == {r["name"]: expected for r in roles}


def test_a_role_any_construct_adds_gets_the_boundary_and_another_boundary_is_refused() -> None:
    import cdktf
    from cdktf import Aspects, TerraformStack
    from cdktf_cdktf_provider_aws.iam_role import IamRole

    from constructs_lib.boundary import PermissionsBoundary
    from processor.contract import ConfigError

    boundary = "arn:aws:iam::210987654321:policy/japancart-dev-workload-boundary"
    stack = TerraformStack(cdktf.Testing.app(), "aspect")
    Aspects.of(stack).add(PermissionsBoundary(boundary))
    IamRole(stack, "added-later", name="japancart-dev-new", assume_role_policy="{}")
    (role_body,) = json.loads(cdktf.Testing.synth(stack))["resource"]["aws_iam_role"].values()
    assert role_body["permissions_boundary"] == boundary

    other = TerraformStack(cdktf.Testing.app(), "other")
    Aspects.of(other).add(PermissionsBoundary(boundary))
    IamRole(other, "own-boundary", name="x", assume_role_policy="{}", permissions_boundary="arn:aws:iam::aws:policy/x")
    # Raised inside jsii's aspect callback, it comes back as jsii's RuntimeError with the same message.
    with pytest.raises((ConfigError, RuntimeError), match="own-boundary.permissions_boundary must be unset or arn:aws"):
        cdktf.Testing.synth(other)


def workload_statements(document: dict) -> list[dict]:
    """The statements of every role policy of an environment stack (data aws_iam_policy_document)."""
    trusts = {
        k
        for k, v in document.get("data", {}).get("aws_iam_policy_document", {}).items()
        if any("sts:AssumeRole" in s.get("actions", []) for s in v["statement"])
    }
    return [
        s
        for k, v in document.get("data", {}).get("aws_iam_policy_document", {}).items()
        if k not in trusts
        for s in v["statement"]
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_workload_boundary_allows_everything_the_workload_roles_do(stacks, ids, env: str) -> None:
    """Contract 2: a role whose policy needs more than the boundary would fail at run time: every action of
    every role policy of the stack (and of AmazonRDSEnhancedMonitoringRole) must be within it."""
    from stacks.ci_policies import RDS_MONITORING_GROUP_ACTIONS, RDS_MONITORING_STREAM_ACTIONS, workload_boundary

    boundary = workload_boundary(ids, env)
    account = TEST_ACCOUNTS[env]
    actions = {a for s in workload_statements(stacks[env]) for a in s["actions"]}
    assert {"rds-db:connect", "kinesis:GetRecords", "secretsmanager:GetSecretValue", "lambda:InvokeFunction"} <= actions
    for action in actions | set(RDS_MONITORING_GROUP_ACTIONS) | set(RDS_MONITORING_STREAM_ACTIONS):
        service = action.split(":")[0]
        resource = {
            "logs": f"arn:aws:logs:{REGION}:{account}:log-group:RDSOSMetrics:log-stream:x",
            "rds-db": f"arn:aws:rds-db:{REGION}:{account}:dbuser:db-ABC/txn_writer",
        }.get(
            service,
            f"arn:aws:{service}:{REGION}:{account}:"
            + {"kms": "key/1", "secretsmanager": "secret:x", "lambda": "function:x"}.get(service, "x"),
        )
        decision = evaluate(boundary, Request(action, resource, context={"aws:RequestedRegion": REGION}))
        assert decision == ALLOW, action


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("iam:PassRole", "*"),
        ("iam:CreateRole", "*"),
        ("sts:AssumeRole", "*"),
        ("s3:GetObject", "*"),
        ("kms:CreateGrant", f"arn:aws:kms:{REGION}:{DEV}:key/1"),
        ("kms:PutKeyPolicy", f"arn:aws:kms:{REGION}:{DEV}:key/1"),
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{PROD}:secret:japancart/prod/x"),
        ("secretsmanager:PutSecretValue", f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:x"),
        ("kinesis:PutRecord", f"arn:aws:kinesis:{REGION}:{DEV}:stream/x"),
        ("sqs:PurgeQueue", f"arn:aws:sqs:{REGION}:{DEV}:x"),
        ("ec2:AuthorizeSecurityGroupIngress", "*"),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{DEV}:function:x"),
    ],
)
def test_the_workload_boundary_allows_nothing_else(ids, action: str, resource: str) -> None:
    from stacks.ci_policies import workload_boundary

    assert (
        evaluate(workload_boundary(ids, "dev"), Request(action, resource, context={"aws:RequestedRegion": REGION}))
        == IMPLICIT_DENY
    )


# ---------------------------------------------------------------------------------------------------------
# State keys: each used only by its own stack's roles, through S3
# ---------------------------------------------------------------------------------------------------------
def key_decision(ids, stack: str, principal: Principal, action: str, **context: Any) -> str:
    from stacks.state_policies import state_key_policy

    return evaluate(state_key_policy(ids, stack), Request(action, "*", principal, context))


VIA_S3 = {"kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
DEV_APPLY = Principal.role(DEV, "japancart-dev-apply")
DEV_PLAN = Principal.role(DEV, "japancart-dev-plan")
PROD_APPLY = Principal.role(PROD, "japancart-prod-apply")
BACKEND_ADMIN = Principal.role(TEST_ACCOUNTS["backend"], "platform-admin")


@pytest.mark.parametrize(
    ("stack", "principal", "action", "context", "decision"),
    [
        ("dev", DEV_APPLY, "kms:GenerateDataKey", VIA_S3, ALLOW),
        ("dev", DEV_APPLY, "kms:Decrypt", VIA_S3, ALLOW),
        ("dev", DEV_APPLY, "kms:Decrypt", {}, IMPLICIT_DENY),  # not through S3
        ("dev", DEV_PLAN, "kms:Decrypt", VIA_S3, ALLOW),
        ("dev", DEV_PLAN, "kms:GenerateDataKey", VIA_S3, DENY),  # the plan role never writes state
        ("prod", DEV_APPLY, "kms:Decrypt", VIA_S3, DENY),  # another environment's key
        ("prod", DEV_PLAN, "kms:Decrypt", VIA_S3, DENY),
        ("dev", PROD_APPLY, "kms:Decrypt", VIA_S3, DENY),
        ("dev", DEV_APPLY, "kms:PutKeyPolicy", {}, DENY),  # no CI role administers a key
        ("dev", DEV_APPLY, "kms:ScheduleKeyDeletion", {}, DENY),
        ("dev", DEV_APPLY, "kms:CreateGrant", VIA_S3, DENY),
        ("dev", BACKEND_ADMIN, "kms:PutKeyPolicy", {}, ALLOW),  # the bucket's account administers...
        ("dev", BACKEND_ADMIN, "kms:Decrypt", VIA_S3, IMPLICIT_DENY),  # ...and uses nothing
        ("dev", Principal.role(DEV, "japancart-dev-processor"), "kms:Decrypt", VIA_S3, IMPLICIT_DENY),
        (
            "bootstrap",
            BACKEND_ADMIN,
            "kms:GenerateDataKey",
            {**VIA_S3, "kms:CallerAccount": TEST_ACCOUNTS["backend"]},
            ALLOW,
        ),
        ("bootstrap", DEV_APPLY, "kms:Decrypt", {**VIA_S3, "kms:CallerAccount": DEV}, DENY),
        (
            f"ci-{DEV}",
            Principal.role(DEV, "OrganizationAccountAccessRole"),
            "kms:Decrypt",
            {**VIA_S3, "kms:CallerAccount": DEV},
            ALLOW,
        ),
        (f"ci-{DEV}", DEV_APPLY, "kms:Decrypt", {**VIA_S3, "kms:CallerAccount": DEV}, DENY),
        (
            f"ci-{DEV}",
            Principal.role(PROD, "OrganizationAccountAccessRole"),
            "kms:Decrypt",
            {**VIA_S3, "kms:CallerAccount": PROD},
            IMPLICIT_DENY,
        ),
    ],
)
def test_state_keys(ids, stack: str, principal: Principal, action: str, context: dict, decision: str) -> None:
    assert key_decision(ids, stack, principal, action, **context) == decision


def test_extra_environment_roles_use_their_environments_key(tmp_path: Path) -> None:
    extra = "arn:aws:iam::408765432109:role/platform-break-glass"
    ids = identities(tmp_path, backend={"environment_roles": {"prod": [extra]}})
    glass = Principal("AWS", extra, "408765432109")
    assert key_decision(ids, "prod", glass, "kms:GenerateDataKey", **VIA_S3) == ALLOW
    assert key_decision(ids, "dev", glass, "kms:Decrypt", **VIA_S3) == IMPLICIT_DENY


# ---------------------------------------------------------------------------------------------------------
# State bucket: every object action of another environment's prefix is denied
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bucket_policy(ids) -> dict:
    from stacks.state_policies import state_bucket_policy

    return state_bucket_policy(ids, {stack: ids.state_key_arn(stack) for stack in ids.config.stack_names()})


def s3(policy: dict, principal: Principal, action: str, key: str | None = None, **context: Any) -> str:
    resource = BUCKET + (f"/{key}" if key is not None else "")
    return evaluate(policy, Request(action, resource, principal, {"aws:SecureTransport": "true", **context}))


PROD_STATE = "japancart/prod/terraform.tfstate"
DEV_STATE = "japancart/dev/terraform.tfstate"
SSE = "s3:x-amz-server-side-encryption-aws-kms-key-id"


@pytest.mark.parametrize(
    "action",
    [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAcl",
        "s3:GetObjectTagging",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:RestoreObject",
        "s3:ReplicateObject",
    ],
)
@pytest.mark.parametrize("principal", [DEV_APPLY, DEV_PLAN], ids=["apply", "plan"])
def test_dev_roles_touch_nothing_of_prods_state(bucket_policy, principal: Principal, action: str) -> None:
    assert s3(bucket_policy, principal, action, PROD_STATE, **{SSE: TEST_STATE_KEYS["dev"]}) == DENY
    assert s3(bucket_policy, principal, action, "japancart/bootstrap/terraform.tfstate") == DENY
    assert s3(bucket_policy, principal, action, f"japancart/ci-{DEV}/terraform.tfstate") == DENY


@pytest.mark.parametrize(
    ("prefix", "decision"),
    [
        ("japancart/dev/", ALLOW),
        ("japancart/dev/workspaces/", ALLOW),
        ("japancart/prod/", DENY),
        ("japancart/", DENY),
        ("japancart/development/", DENY),
        (None, DENY),
    ],
)
def test_dev_roles_list_only_their_prefix(bucket_policy, prefix: str | None, decision: str) -> None:
    context = {} if prefix is None else {"s3:prefix": prefix}
    assert s3(bucket_policy, DEV_APPLY, "s3:ListBucket", **context) == decision  # ALLOW: the cross-account grant
    assert s3(bucket_policy, DEV_APPLY, "s3:ListBucketVersions", **context) == DENY


def test_dev_roles_use_their_own_state_as_the_s3_backend_does(bucket_policy) -> None:
    own_key = {SSE: TEST_STATE_KEYS["dev"]}
    for key in (DEV_STATE, f"{DEV_STATE}.tflock", "japancart/dev/workspaces/blue/terraform.tfstate"):
        assert s3(bucket_policy, DEV_APPLY, "s3:GetObject", key) == ALLOW
        assert s3(bucket_policy, DEV_APPLY, "s3:PutObject", key, **own_key) == ALLOW
        assert s3(bucket_policy, DEV_APPLY, "s3:DeleteObject", key) == ALLOW
        assert s3(bucket_policy, DEV_PLAN, "s3:GetObject", key) == ALLOW
        assert s3(bucket_policy, DEV_PLAN, "s3:PutObject", key, **own_key) == DENY  # not even the lock file
    assert s3(bucket_policy, DEV_APPLY, "s3:PutObject", DEV_STATE) == DENY  # without SSE-KMS
    assert s3(bucket_policy, DEV_APPLY, "s3:PutObject", DEV_STATE, **{SSE: TEST_STATE_KEYS["prod"]}) == DENY
    assert s3(bucket_policy, DEV_APPLY, "s3:GetObjectVersion", DEV_STATE) == DENY  # only the backend's actions
    for action in ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning", "s3:GetBucketPolicy"):
        assert s3(bucket_policy, DEV_APPLY, action) == DENY


def test_nothing_is_uploaded_outside_the_stacks_prefixes(bucket_policy) -> None:
    admin = Principal.root(TEST_ACCOUNTS["backend"])
    assert s3(bucket_policy, admin, "s3:PutObject", "loose/file", **{SSE: TEST_STATE_KEYS["bootstrap"]}) == DENY
    assert (
        s3(
            bucket_policy,
            admin,
            "s3:PutObject",
            "japancart/bootstrap/terraform.tfstate",
            **{SSE: TEST_STATE_KEYS["bootstrap"]},
        )
        == IMPLICIT_DENY
    )  # not denied: the bucket's own account


def test_ci_stack_operators_reach_their_stacks_state_across_accounts(bucket_policy) -> None:
    operator = Principal.role(DEV, "OrganizationAccountAccessRole")
    state = f"japancart/ci-{DEV}/terraform.tfstate"
    assert s3(bucket_policy, operator, "s3:PutObject", state, **{SSE: TEST_STATE_KEYS[f"ci-{DEV}"]}) == ALLOW
    assert s3(bucket_policy, operator, "s3:ListBucket", **{"s3:prefix": f"japancart/ci-{DEV}/"}) == ALLOW
    assert s3(bucket_policy, operator, "s3:GetObject", PROD_STATE) == IMPLICIT_DENY  # no grant across accounts


def test_without_tls_nothing_at_all(bucket_policy) -> None:
    assert s3(bucket_policy, DEV_APPLY, "s3:GetObject", DEV_STATE, **{"aws:SecureTransport": "false"}) == DENY


def test_the_bootstrap_synthesizes_these_policies(stacks, ids) -> None:
    from stacks.state_policies import state_bucket_policy, state_key_policy

    bootstrap = StackView(stacks["bootstrap"])
    refs = {
        a["name"].removeprefix("alias/japancart-").removesuffix("-state"): bootstrap.ref(
            "aws_kms_key", a["target_key_id"].split(".")[1], "arn"
        )
        for a in bootstrap.resources("aws_kms_alias").values()
    }
    _, policy = bootstrap.one("aws_s3_bucket_policy")
    assert json.loads(policy["policy"]) == state_bucket_policy(ids, {s: refs[s] for s in ids.config.stack_names()})
    for stack, ref in refs.items():
        key = bootstrap.resources("aws_kms_key")[ref.split(".")[1]]
        assert json.loads(key["policy"]) == state_key_policy(ids, stack)


def test_readme_gives_the_subject_template_the_custom_trust_expects() -> None:
    """The roles' trust is code now (no policy to paste); what an operator sets by hand is GitHub's subject
    template, and docs/plan-review.md must give exactly the claims the `custom` subject is built from."""
    import re

    from stacks.identity import CUSTOM_SUBJECT_TEMPLATE
    from synthesis import ROOT

    section = (ROOT / "docs" / "plan-review.md").read_text(encoding="utf-8")
    (template,) = re.findall(
        r"gh api -X PUT repos/<owner>/<repo>/actions/oidc/customization/sub`\s+with `(\{.*?\})`", section, re.S
    )
    assert json.loads(template) == CUSTOM_SUBJECT_TEMPLATE
    assert '"Version": "2012-10-17"' not in section, "no trust policy to paste: the CI stacks make them"


# ---------------------------------------------------------------------------------------------------------
# The backup region (prod's database.backup_replication_region): the replica key and the replication, nothing else
# ---------------------------------------------------------------------------------------------------------
BACKUP_REGION = "ap-northeast-3"


def test_prod_roles_reach_the_backup_region_only_for_the_replica_key_and_the_replication(ids) -> None:
    from stacks.ci_policies import apply_policy, plan_policy

    plan, apply = plan_policy(ids, "prod"), apply_policy(ids, "prod")
    osaka = {"aws:RequestedRegion": BACKUP_REGION}
    for action in ("rds:DescribeDBInstanceAutomatedBackups", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListAliases"):
        assert allowed(plan, action, "*", **osaka) == ALLOW, action
    for action in ("rds:StartDBInstanceAutomatedBackupsReplication", "kms:CreateKey", "kms:DescribeKey"):
        assert apply_decision([apply, apply], action, "*", **osaka) == ALLOW, action
    for action in ("rds:CreateDBInstance", "ec2:CreateVpc", "kinesis:CreateStream", "lambda:CreateFunction"):
        assert apply_decision([apply, apply], action, "*", **osaka) != ALLOW, action
    assert allowed(plan, "kms:CreateKey", "*", **osaka) != ALLOW
    assert allowed(plan, "ec2:DescribeVpcs", "*", **osaka) != ALLOW
    # Another environment's tag keeps the apply role off its keys in that region too.
    other = {**osaka, "aws:ResourceTag/Environment": "dev"}
    assert apply_decision([apply, apply], "kms:ScheduleKeyDeletion", "*", **other) != ALLOW


def test_environments_without_replication_reach_no_second_region(ids) -> None:
    from stacks.ci_policies import apply_policy, plan_policy

    osaka = {"aws:RequestedRegion": BACKUP_REGION}
    for env in ("dev", "staging"):
        assert allowed(plan_policy(ids, env), "kms:DescribeKey", "*", **osaka) != ALLOW
        assert apply_decision([apply_policy(ids, env)] * 2, "kms:CreateKey", "*", **osaka) != ALLOW

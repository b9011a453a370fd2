"""The policies of the state's keys and bucket (the bootstrap stack), as plain JSON-ready dicts.

* `state_key_policy`: each stack's state key, used only by that stack's roles (or, for an operator-run stack,
  its account's principals), through S3; administered by the bucket's account.
* `state_bucket_policy`: each stack's roles reach only that stack's prefix of the bucket.

They admit what the roles' own policies grant (`stacks/ci_policies.py`: the same state actions). Pure
functions without constructs, so the tests evaluate them directly (tools/iam_policy.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from constructs_lib.encryption import ADMINISTRATION_ACTIONS

from .ci_policies import STATE_KEY_DECRYPT, STATE_KEY_USE, STATE_READ, STATE_WRITE, policy
from .identity import Identities


def _roots(arns: list[str]) -> list[str]:
    """The account roots of role ARNs: a key or bucket policy names accounts and narrows by aws:PrincipalArn,
    since KMS and S3 refuse a policy whose principal is a role that does not exist yet."""
    partition_accounts = dict.fromkeys((arn.split(":")[1], arn.split(":")[4]) for arn in arns)
    return [f"arn:{partition}:iam::{account}:root" for partition, account in partition_accounts]


def _one(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def state_key_policy(ids: Identities, stack: str) -> dict[str, Any]:
    """A stack's state key. The bucket's account administers it (no use). An environment's key is used only
    by that environment's roles (the plan role decrypts, the others also encrypt), through S3; the key of an
    operator-run stack (the bootstrap, a CI stack) by its account's principals, through S3. No CI role uses any
    other key or administers any key."""
    backend = ids.config.backend
    root = f"arn:{ids.backend_partition}:iam::{backend.account_id}:root"
    via = {"kms:ViaService": ids.s3_endpoint()}
    envs = {e.name for e in ids.config.environments}
    all_ci = ids.ci_role_arns()
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": list(ADMINISTRATION_ACTIONS),
            "Resource": "*",
        },
    ]
    if stack in envs:
        own = ids.state_principals(stack)
        statements += [
            {
                "Sid": "EnvironmentRolesUseTheKeyThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": _one(_roots(own))},
                "Action": list(STATE_KEY_USE),
                "Resource": "*",
                "Condition": {"StringEquals": via, "ArnLike": {"aws:PrincipalArn": ids.writers(stack)}},
            },
            {
                "Sid": "PlanRoleDecryptsThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": _one(_roots([ids.role_arn(stack, "plan")]))},
                "Action": list(STATE_KEY_DECRYPT),
                "Resource": "*",
                "Condition": {"StringEquals": via, "ArnEquals": {"aws:PrincipalArn": ids.role_arn(stack, "plan")}},
            },
            {
                "Sid": "NoOtherCIRoleUsesTheKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {
                    "ArnLike": {"aws:PrincipalArn": all_ci},
                    "ArnNotEquals": {"aws:PrincipalArn": ids.ci_role_arns((stack,))},
                },
            },
            {
                "Sid": "PlanRoleOnlyDecrypts",
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": list(STATE_KEY_DECRYPT),
                "Resource": "*",
                "Condition": {"ArnEquals": {"aws:PrincipalArn": ids.role_arn(stack, "plan")}},
            },
            {
                "Sid": "CIRolesNeverAdministerTheKey",
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": list(STATE_KEY_USE),
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": all_ci}},
            },
        ]
    else:
        account = backend.account_id if stack == "bootstrap" else stack.removeprefix("ci-")
        statements += [
            {
                "Sid": "OperatorsUseTheKeyThroughS3",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{ids.backend_partition}:iam::{account}:root"},
                "Action": list(STATE_KEY_USE),
                "Resource": "*",
                "Condition": {"StringEquals": {**via, "kms:CallerAccount": account}},
            },
            {
                "Sid": "NoCIRoleUsesTheKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn": all_ci}},
            },
        ]
    return policy(*statements)


def state_bucket_policy(ids: Identities, key_arns: Mapping[str, str]) -> dict[str, Any]:
    """TLS only; each stack's prefix takes uploads only under that stack's key, and nothing is uploaded outside
    the stacks' prefixes; each environment's roles reach only their prefix (every object action: versions,
    ACLs and tags included), list only under it, and touch no bucket setting; the plan role writes nothing.
    Roles in other accounts than the bucket's are allowed their own prefix (cross-account access needs the
    bucket's consent as well as their own policy); so are the operators of each CI stack's account."""
    bucket = ids.bucket_arn
    stacks = list(key_arns)
    envs = [e.name for e in ids.config.environments]
    backend_account = ids.config.backend.account_id
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket, f"{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyUploadsOutsideTheStacksPrefixes",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "NotResource": [ids.state_objects_arn(stack) for stack in stacks],
        },
    ]
    for stack in stacks:
        # A missing header counts as "not equal", so uploads without SSE-KMS are refused too.
        statements.append(
            {
                "Sid": f"{_sid(stack)}UploadsOnlyUnderItsKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": ids.state_objects_arn(stack),
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": key_arns[stack]}},
            }
        )
    for env in envs:
        principals = ids.state_principals(env)
        who = {"ArnLike": {"aws:PrincipalArn": principals}}
        prefix = ids.state_objects_arn(env)
        statements += [
            {
                "Sid": f"{_sid(env)}RolesOnlyTheirState",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "NotResource": [bucket, prefix],
                "Condition": who,
            },
            {
                "Sid": f"{_sid(env)}RolesOnlyTheBackendsActions",
                "Effect": "Deny",
                "Principal": "*",
                "NotAction": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"],
                "Resource": [bucket, prefix],
                "Condition": who,
            },
            {
                "Sid": f"{_sid(env)}RolesListOnlyTheirPrefix",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": bucket,
                "Condition": {**who, "StringNotLike": {"s3:prefix": ids.state_list_prefix(env)}},
            },
            {
                "Sid": f"{_sid(env)}PlanRoleWritesNothing",
                "Effect": "Deny",
                "Principal": "*",
                "Action": list(STATE_WRITE),
                "Resource": prefix,
                "Condition": {"ArnEquals": {"aws:PrincipalArn": ids.role_arn(env, "plan")}},
            },
        ]
        outside = [arn for arn in principals if arn.split(":")[4] != backend_account]
        if outside:
            roots = _one(_roots(outside))
            readers = {"ArnLike": {"aws:PrincipalArn": outside}}
            writers = [arn for arn in ids.writers(env) if arn in outside]
            statements += [
                {
                    "Sid": f"{_sid(env)}RolesReadTheirState",
                    "Effect": "Allow",
                    "Principal": {"AWS": roots},
                    "Action": list(STATE_READ),
                    "Resource": prefix,
                    "Condition": readers,
                },
                {
                    "Sid": f"{_sid(env)}RolesListTheirPrefix",
                    "Effect": "Allow",
                    "Principal": {"AWS": roots},
                    "Action": "s3:ListBucket",
                    "Resource": bucket,
                    "Condition": {**readers, "StringLike": {"s3:prefix": ids.state_list_prefix(env)}},
                },
            ]
            if writers:
                statements.append(
                    {
                        "Sid": f"{_sid(env)}RolesWriteTheirState",
                        "Effect": "Allow",
                        "Principal": {"AWS": _one(_roots(writers))},
                        "Action": list(STATE_WRITE),
                        "Resource": prefix,
                        "Condition": {"ArnLike": {"aws:PrincipalArn": writers}},
                    }
                )
    for stack in stacks:
        account = stack.removeprefix("ci-")
        if stack.startswith("ci-") and account != backend_account:
            root = f"arn:{ids.backend_partition}:iam::{account}:root"
            statements += [
                {
                    "Sid": f"{_sid(stack)}OperatorsUseItsState",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": [*STATE_READ, *STATE_WRITE],
                    "Resource": ids.state_objects_arn(stack),
                },
                {
                    "Sid": f"{_sid(stack)}OperatorsListItsPrefix",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": "s3:ListBucket",
                    "Resource": bucket,
                    "Condition": {"StringLike": {"s3:prefix": ids.state_list_prefix(stack)}},
                },
            ]
    return policy(*statements)


def _sid(stack: str) -> str:
    """A statement id for a stack name (`ci-111122223333` -> `Ci111122223333`): Sids are alphanumeric."""
    return "".join(part.capitalize() for part in stack.split("-"))

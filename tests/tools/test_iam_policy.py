"""The IAM evaluator the trust, key, role and bucket-policy tests rely on (tools/iam_policy.py).

Each case is a rule of AWS's documented policy evaluation; the evaluator must get every one right, since no
engine offline (moto included) evaluates these conditions for us. Where AWS's answer is surprising (a negated
operator on a missing key is true; ForAllValues on a missing key is true), the case says so.
"""

from __future__ import annotations

import pytest

from tools.iam_policy import (
    ALLOW,
    DENY,
    IMPLICIT_DENY,
    Principal,
    Request,
    UnsupportedPolicy,
    condition_matches,
    evaluate,
    evaluate_all,
)

ROLE = Principal.role("111122223333", "japancart-dev-apply")


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(**extra) -> dict:
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **extra}


@pytest.mark.parametrize(
    ("pattern", "action", "hit"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("s3:getobject", "S3:GETOBJECT", True),  # action names are case-insensitive
        ("s3:GetObject*", "s3:GetObjectVersion", True),
        ("s3:GetObject", "s3:GetObjectVersion", False),  # no implicit prefix match
        ("s3:Get?bject", "s3:GetObject", True),
        ("iam:*", "iam:CreateRole", True),
        ("*", "kms:Decrypt", True),
    ],
)
def test_action_wildcards(pattern: str, action: str, hit: bool) -> None:
    assert evaluate(policy(allow(Action=pattern)), Request(action, "*")) == (ALLOW if hit else IMPLICIT_DENY)


def test_not_action_applies_to_every_other_action() -> None:
    doc = policy({"Effect": "Deny", "NotAction": ["s3:ListBucket"], "Resource": "*"})
    assert evaluate(doc, Request("s3:ListBucket", "arn:aws:s3:::b")) == IMPLICIT_DENY
    assert evaluate(doc, Request("s3:PutBucketPolicy", "arn:aws:s3:::b")) == DENY


@pytest.mark.parametrize(
    ("pattern", "resource", "hit"),
    [
        ("arn:aws:s3:::b/japancart/dev/*", "arn:aws:s3:::b/japancart/dev/terraform.tfstate", True),
        ("arn:aws:s3:::b/japancart/dev/*", "arn:aws:s3:::b/japancart/prod/terraform.tfstate", False),
        ("arn:aws:s3:::b/japancart/dev/*", "arn:aws:s3:::b/japancart/dev", False),
        ("arn:aws:s3:::b/JAPANCART/dev/*", "arn:aws:s3:::b/japancart/dev/x", False),  # resources are case-sensitive
        ("arn:aws:iam::*:role/japancart-*", "arn:aws:iam::111122223333:role/japancart-dev-processor", True),
    ],
)
def test_resource_wildcards(pattern: str, resource: str, hit: bool) -> None:
    assert evaluate(policy(allow(Resource=pattern)), Request("s3:GetObject", resource)) == (
        ALLOW if hit else IMPLICIT_DENY
    )


def test_not_resource_covers_everything_outside_it() -> None:
    doc = policy({"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::b", "arn:aws:s3:::b/dev/*"]})
    assert evaluate(doc, Request("s3:GetObject", "arn:aws:s3:::b/dev/state")) == IMPLICIT_DENY
    assert evaluate(doc, Request("s3:GetObjectVersion", "arn:aws:s3:::b/prod/state")) == DENY
    assert evaluate(doc, Request("s3:ListBucket", "arn:aws:s3:::b")) == IMPLICIT_DENY


def test_deny_wins_over_allow_and_nothing_is_an_implicit_deny() -> None:
    doc = policy(allow(), {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/prod/*"})
    assert evaluate(doc, Request("s3:GetObject", "arn:aws:s3:::b/dev/x")) == ALLOW
    assert evaluate(doc, Request("s3:GetObject", "arn:aws:s3:::b/prod/x")) == DENY
    assert evaluate(doc, Request("s3:PutObject", "arn:aws:s3:::b/dev/x")) == IMPLICIT_DENY


def test_a_boundary_intersects_with_the_identity_policy() -> None:
    identity = policy({"Effect": "Allow", "Action": ["s3:*", "iam:*"], "Resource": "*"})
    boundary = policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert evaluate_all([identity, boundary], Request("s3:GetObject", "*")) == ALLOW
    assert evaluate_all([identity, boundary], Request("iam:CreateRole", "*")) == IMPLICIT_DENY
    assert (
        evaluate_all(
            [policy({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), boundary], Request("s3:GetObject", "*")
        )
        == DENY
    )


@pytest.mark.parametrize(
    ("element", "principal", "hit"),
    [
        ("*", ROLE, True),
        ({"AWS": "*"}, ROLE, True),
        ({"AWS": "arn:aws:iam::111122223333:root"}, ROLE, True),  # an account's root: any principal of it
        ({"AWS": "111122223333"}, ROLE, True),
        ({"AWS": "arn:aws:iam::444455556666:root"}, ROLE, False),
        ({"AWS": ["arn:aws:iam::111122223333:role/japancart-dev-apply"]}, ROLE, True),
        ({"AWS": "arn:aws:iam::111122223333:role/japancart-dev-plan"}, ROLE, False),
        ({"Service": "lambda.amazonaws.com"}, ROLE, False),
        (
            {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            Principal.federated("arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"),
            True,
        ),
        (
            {"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"},
            Principal.federated("arn:aws:iam::444455556666:oidc-provider/token.actions.githubusercontent.com"),
            False,
        ),
    ],
)
def test_principals(element, principal: Principal, hit: bool) -> None:
    doc = policy({"Effect": "Allow", "Principal": element, "Action": "s3:GetObject"})
    assert evaluate(doc, Request("s3:GetObject", principal=principal)) == (ALLOW if hit else IMPLICIT_DENY)


@pytest.mark.parametrize(
    ("condition", "context", "hit"),
    [
        ({"StringEquals": {"k": "a"}}, {"k": "a"}, True),
        ({"StringEquals": {"k": "a"}}, {"k": "A"}, False),
        ({"StringEquals": {"K": ["a", "b"]}}, {"k": "b"}, True),  # keys are case-insensitive; values OR
        ({"StringEquals": {"k": "a"}}, {}, False),  # a missing key never equals
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # ...but is "not equal" (AWS)
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
        ({"StringEqualsIgnoreCase": {"k": "a"}}, {"k": "A"}, True),
        ({"StringLike": {"k": "repo:o/r:environment:*"}}, {"k": "repo:o/r:environment:prod"}, True),
        ({"StringLike": {"k": "repo:o/r:environment:prod"}}, {"k": "repo:o/r:environment:prod2"}, False),
        ({"StringLike": {"k": "x?z"}}, {"k": "xyz"}, True),
        ({"StringNotLike": {"s3:prefix": "japancart/dev/*"}}, {"s3:prefix": "japancart/prod/"}, True),
        ({"StringNotLike": {"s3:prefix": "japancart/dev/*"}}, {"s3:prefix": "japancart/dev/"}, False),
        ({"StringNotLike": {"s3:prefix": "japancart/dev/*"}}, {}, True),  # listing without a prefix
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {}, False),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/japancart-*-plan"}},
            {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/japancart-dev-plan"},
            True,
        ),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/japancart-*-plan"}},
            {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/japancart-dev-apply"},
            False,
        ),
        ({"ArnLike": {"a": "arn:aws:iam::*:role/x"}}, {"a": "arn:aws:iam::111122223333:role/x:extra"}, False),
        ({"ArnEquals": {"a": "arn:aws:iam::111122223333:role/x"}}, {"a": "arn:aws:iam::111122223333:role/x"}, True),
        ({"ArnNotEquals": {"a": "arn:aws:iam::111122223333:role/x"}}, {"a": "arn:aws:iam::111122223333:role/y"}, True),
        ({"ArnNotLike": {"a": "arn:aws:iam::*:role/x"}}, {}, True),
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, {"a": "1", "b": "23"}, True),  # AND over operators
        ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1"}, False),  # AND over keys
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "Environment"}}, {"aws:TagKeys": ["Name", "Environment"]}, True),
        ({"ForAnyValue:StringEquals": {"aws:TagKeys": "Environment"}}, {}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["Name"]}}, {"aws:TagKeys": ["Name", "Environment"]}, False),
        ({"ForAllValues:StringEquals": {"aws:TagKeys": ["Name"]}}, {}, True),  # vacuously true (AWS)
    ],
)
def test_conditions(condition: dict, context: dict, hit: bool) -> None:
    assert condition_matches(condition, Request("s3:GetObject", "*", context=context)) is hit


def test_principal_arn_and_account_come_from_the_principal() -> None:
    condition = {"ArnEquals": {"aws:PrincipalArn": ROLE.arn}, "StringEquals": {"aws:PrincipalAccount": "111122223333"}}
    assert condition_matches(condition, Request("s3:GetObject", "*", principal=ROLE))
    other = Principal.role("444455556666", "japancart-dev-apply")
    assert not condition_matches(condition, Request("s3:GetObject", "*", principal=other))


@pytest.mark.parametrize(
    "bad",
    [
        {"Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "s3:*"},
        allow(Condition={"NumericLessThan": {"k": "1"}}),
        allow(Condition={"StringEquals": {"k": "${aws:username}"}}),
        allow(Condition={"ForEveryValue:StringEquals": {"k": "a"}}),
        {"Effect": "Maybe", "Action": "s3:*", "Resource": "*"},
    ],
)
def test_what_is_not_modelled_is_refused_not_guessed(bad: dict) -> None:
    with pytest.raises(UnsupportedPolicy):
        evaluate(policy(bad), Request("s3:GetObject", "*", principal=ROLE, context={"k": "a"}))


def test_a_multivalued_key_needs_a_set_qualifier() -> None:
    with pytest.raises(UnsupportedPolicy):
        condition_matches({"StringEquals": {"k": "a"}}, Request("s3:GetObject", "*", context={"k": ["a"]}))

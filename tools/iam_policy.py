"""A small, strict evaluator of IAM policy documents: which statements apply to one request, and the decision.

No engine evaluates IAM offline: moto's ``AssumeRoleWithWebIdentity`` assumes any role with any token (it
checks neither the trust policy nor its conditions), moto enforces no KMS key policy, and its bucket-policy
check ignores principals and most condition operators. So the trust policies, key policies and role policies
this project synthesizes are evaluated here, against the request contexts AWS would build, and the emulator's
S3 bucket-policy patch (``tools/emulator/patches/s3.py``) uses the same code for every S3 request.

What is modelled, with AWS's documented semantics (IAM User Guide, "Policy evaluation logic" and "IAM JSON
policy elements: Condition operators"):

* ``Action`` / ``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource`` / ``NotResource``
  (case-sensitive wildcards; a statement without either applies to every resource: trust policies);
* ``Principal`` (``"*"``, ``{"AWS": ...}`` with ``"*"``, an account id, an account's ``:root`` ARN (any
  principal of that account) or a role/user ARN; ``{"Federated": ...}``; ``{"Service": ...}``);
* ``Condition``: ``String(Not)Equals``, ``String(Not)EqualsIgnoreCase``, ``String(Not)Like``,
  ``Arn(Not)Equals``, ``Arn(Not)Like`` (each of the six ARN fields matched on its own), ``Bool``, ``Null``, the
  ``...IfExists`` suffix and the ``ForAnyValue:`` / ``ForAllValues:`` set qualifiers. AND across operators and
  keys, OR across a key's values. A key missing from the request: false, except for negated operators and
  ``...IfExists`` (true), ``ForAllValues`` (true) and ``Null``.
* Decision: an applicable ``Deny`` wins; else an applicable ``Allow``; else an implicit deny.

Anything else (``NotPrincipal``, numeric or date operators, policy variables) raises ``UnsupportedPolicy``
instead of being guessed at: a test must never pass because the evaluator ignored what it did not understand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ALLOW = "Allow"
DENY = "Deny"
IMPLICIT_DENY = "ImplicitDeny"

ContextValue = str | Sequence[str]

_NEGATED = frozenset({"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"})
_OPERATORS = (
    frozenset({"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool", "Null"})
    | _NEGATED
)
_KNOWN_ELEMENTS = frozenset(
    {"Sid", "Effect", "Principal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)


class UnsupportedPolicy(ValueError):
    """A policy element or operator this evaluator does not model."""


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an AWS principal (``arn`` of a role, user or ``:root``, and its ``account``), a
    federated identity provider (``arn`` of the provider) or a service (``arn`` = ``lambda.amazonaws.com``)."""

    kind: str
    arn: str
    account: str = ""

    @classmethod
    def role(cls, account: str, name: str, partition: str = "aws") -> Principal:
        return cls("AWS", f"arn:{partition}:iam::{account}:role/{name}", account)

    @classmethod
    def root(cls, account: str, partition: str = "aws") -> Principal:
        return cls("AWS", f"arn:{partition}:iam::{account}:root", account)

    @classmethod
    def federated(cls, arn: str) -> Principal:
        return cls("Federated", arn, arn.split(":")[4] if arn.count(":") >= 5 else "")

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls("Service", name)


@dataclass(frozen=True)
class Request:
    """One request: the action, the resource (None where a policy has no Resource: trust policies), who makes
    it (needed only for resource-based policies) and the request context's condition keys (case-insensitive
    names; a list for a multivalued key)."""

    action: str
    resource: str | None = None
    principal: Principal | None = None
    context: Mapping[str, ContextValue] = field(default_factory=dict)

    def value(self, key: str) -> ContextValue | None:
        lowered = key.lower()
        for name, value in self.context.items():
            if name.lower() == lowered:
                return value
        if self.principal is not None and self.principal.kind == "AWS":  # global keys AWS sets for every request
            if lowered == "aws:principalarn":
                return self.principal.arn
            if lowered == "aws:principalaccount":
                return self.principal.account
        return None


def evaluate(policy: Mapping[str, Any], request: Request) -> str:
    """``Deny`` if an applicable statement denies, else ``Allow`` if one allows, else ``ImplicitDeny``."""
    effects = {statement["Effect"] for statement in statements(policy) if applies(statement, request)}
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else IMPLICIT_DENY


def evaluate_all(policies: Iterable[Mapping[str, Any]], request: Request) -> str:
    """The decision when every policy must allow and any may deny: an identity policy with its permissions
    boundary (AWS: the effective permissions are the intersection, and an explicit deny in either wins)."""
    decisions = [evaluate(policy, request) for policy in policies]
    if DENY in decisions:
        return DENY
    return ALLOW if decisions and all(d == ALLOW for d in decisions) else IMPLICIT_DENY


def statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = policy.get("Statement", [])
    return list(found) if isinstance(found, list) else [found]


def applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether `statement` matches `request` (action, resource, principal and condition), whatever its effect."""
    unknown = set(statement) - _KNOWN_ELEMENTS
    if unknown:
        raise UnsupportedPolicy(f"statement elements {sorted(unknown)} are not modelled")
    if statement.get("Effect") not in (ALLOW, DENY):
        raise UnsupportedPolicy(f"Effect must be Allow or Deny, got {statement.get('Effect')!r}")
    if "Action" in statement:
        if not any(_like(pattern, request.action, ignore_case=True) for pattern in _values(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_like(pattern, request.action, ignore_case=True) for pattern in _values(statement["NotAction"])):
            return False
    else:
        raise UnsupportedPolicy("a statement needs Action or NotAction")
    if "Resource" in statement or "NotResource" in statement:
        if request.resource is None:
            raise UnsupportedPolicy("the statement names resources but the request has none")
        if "Resource" in statement:
            if not any(_like(p, request.resource) for p in _values(statement["Resource"])):
                return False
        elif any(_like(p, request.resource) for p in _values(statement["NotResource"])):
            return False
    if "Principal" in statement and not principal_matches(statement["Principal"], request.principal):
        return False
    return condition_matches(statement.get("Condition") or {}, request)


def principal_matches(element: Any, principal: Principal | None) -> bool:
    """``Principal`` of a resource-based or trust policy against the requester."""
    if element == "*":
        return True
    if principal is None:
        raise UnsupportedPolicy("a resource-based statement needs the request's principal")
    if not isinstance(element, Mapping):
        raise UnsupportedPolicy(f"Principal must be '*' or a map, got {element!r}")
    for kind, values in element.items():
        if kind not in ("AWS", "Federated", "Service"):
            raise UnsupportedPolicy(f"principal type {kind!r} is not modelled")
        if kind != principal.kind:
            continue
        for value in _values(values):
            if value == principal.arn or (kind == "AWS" and value == "*"):
                return True
            if kind == "AWS" and _account_of(value) == principal.account != "":
                return True  # an account (id or :root) stands for every principal of that account
    return False


def _account_of(value: str) -> str | None:
    """The account a principal value names as a whole (`111122223333` or `arn:aws:iam::111122223333:root`)."""
    if re.fullmatch(r"\d{12}", value):
        return value
    match = re.fullmatch(r"arn:[a-z-]+:iam::(\d{12}):root", value)
    return match.group(1) if match else None


def condition_matches(condition: Mapping[str, Any], request: Request) -> bool:
    """A ``Condition`` block: every operator, every key of it, must hold."""
    for operator, pairs in condition.items():
        qualifier, _, base = operator.rpartition(":")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise UnsupportedPolicy(f"condition qualifier {qualifier!r} is not modelled")
        if_exists = base.endswith("IfExists")
        base = base[: -len("IfExists")] if if_exists else base
        if base not in _OPERATORS:
            raise UnsupportedPolicy(f"condition operator {operator!r} is not modelled")
        for key, expected in pairs.items():
            if not _key_matches(qualifier, base, if_exists, [str(v) for v in _values(expected)], request.value(key)):
                return False
    return True


def _key_matches(
    qualifier: str, operator: str, if_exists: bool, expected: list[str], actual: ContextValue | None
) -> bool:
    for value in expected:
        if "${" in value:
            raise UnsupportedPolicy(f"policy variables are not modelled: {value!r}")
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if actual is None:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return if_exists or operator in _NEGATED
    if isinstance(actual, str):
        if qualifier:
            actual = [actual]
    elif not qualifier:
        raise UnsupportedPolicy("a multivalued context key needs ForAnyValue: or ForAllValues:")
    if qualifier == "ForAnyValue":
        return any(_single(operator, expected, value) for value in actual)
    if qualifier == "ForAllValues":
        return all(_single(operator, expected, value) for value in actual)
    return _single(operator, expected, actual)  # type: ignore[arg-type]


def _single(operator: str, expected: list[str], actual: str) -> bool:
    negated = operator in _NEGATED
    positive = operator.replace("Not", "", 1) if negated else operator
    if positive == "StringEquals":
        hit = actual in expected
    elif positive == "StringEqualsIgnoreCase":
        hit = actual.lower() in [v.lower() for v in expected]
    elif positive == "StringLike":
        hit = any(_like(v, actual) for v in expected)
    elif positive in ("ArnEquals", "ArnLike"):
        hit = any(_arn_like(v, actual, wildcards=positive == "ArnLike") for v in expected)
    elif positive == "Bool":
        hit = actual.lower() in [v.lower() for v in expected]
    else:  # pragma: no cover - _OPERATORS is checked first
        raise UnsupportedPolicy(operator)
    return not hit if negated else hit


def _arn_like(pattern: str, arn: str, *, wildcards: bool) -> bool:
    """ARN operators compare the six colon-separated fields one by one (the last may hold colons)."""
    expected, actual = pattern.split(":", 5), arn.split(":", 5)
    if len(expected) != 6 or len(actual) != 6:
        return False
    if not wildcards:
        return expected == actual
    return all(_like(p, a) for p, a in zip(expected, actual, strict=True))


def _like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _compiled(pattern, ignore_case).fullmatch(value) is not None


@lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _values(element: Any) -> list[Any]:
    return list(element) if isinstance(element, (list, tuple)) else [element]

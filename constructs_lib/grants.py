"""Grants: the resource that owns access adds the statement; the role only collects them.

A construct that needs access makes a `PolicyGrantee` for its role and asks each resource to
grant it (`secret.grant_read(grantee)`, `stream.grant_read(grantee)`, `key.grant_decrypt(grantee, via=...)`),
so no construct builds a statement around another construct's ARN. The statements keep the order
they were granted in; grants with the same Sid, actions and condition share one statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
)

from .validation import require


@dataclass
class _Statement:
    actions: tuple[str, ...]
    resources: list[str]
    via: DataAwsIamPolicyDocumentStatementCondition | None


@dataclass
class PolicyGrantee:
    """The permissions of one role's inline policy, in the order they were granted."""

    _statements: dict[str, _Statement] = field(default_factory=dict)

    def allow(
        self,
        sid: str,
        actions: list[str],
        resources: list[str],
        via: DataAwsIamPolicyDocumentStatementCondition | None = None,
    ) -> None:
        """Allow `actions` on `resources` (under `via`, a `kms:ViaService` condition); the same `sid` again with
        the same actions and condition adds its resources to that statement."""
        existing = self._statements.get(sid)
        if existing is None:
            self._statements[sid] = _Statement(tuple(actions), list(resources), via)
            return
        require(
            existing.actions == tuple(actions) and existing.via == via,
            "sid",
            sid,
            "a statement id used again only with the same actions and condition",
        )
        existing.resources.extend(r for r in resources if r not in existing.resources)

    def statements(self) -> list[DataAwsIamPolicyDocumentStatement]:
        """The policy document's statements."""
        return [
            DataAwsIamPolicyDocumentStatement(
                sid=sid,
                actions=list(s.actions),
                resources=s.resources,
                condition=[s.via] if s.via is not None else None,
            )
            for sid, s in self._statements.items()
        ]

"""Policy fragments every construct uses the same way: confused-deputy guards and TLS-only denies."""

from __future__ import annotations

from typing import Any

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import DataAwsIamPolicyDocumentStatementCondition


def service_source(account_id: str, *source_arns: str) -> list[DataAwsIamPolicyDocumentStatementCondition]:
    """Confused-deputy guard of a service principal: only for this account (`aws:SourceAccount`), only for
    `source_arns` (`aws:SourceArn`, ARNs or ARN patterns of this project's resources)."""
    return [
        DataAwsIamPolicyDocumentStatementCondition(
            test="StringEquals", variable="aws:SourceAccount", values=[account_id]
        ),
        DataAwsIamPolicyDocumentStatementCondition(test="ArnLike", variable="aws:SourceArn", values=list(source_arns)),
    ]


def source_condition(account_id: str, source_arn: str) -> dict[str, Any]:
    """The same guard as a JSON policy `Condition` block."""
    return {"StringEquals": {"aws:SourceAccount": account_id}, "ArnLike": {"aws:SourceArn": source_arn}}


def deny_insecure_transport(actions: str, resource: str) -> dict[str, Any]:
    """A resource-policy statement refusing every request made without TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": actions,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }

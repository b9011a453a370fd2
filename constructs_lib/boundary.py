"""Every IAM role of a stack gets the same permissions boundary, whoever adds the role (a cdktf Aspect)."""

from __future__ import annotations

import jsii
from cdktf import IAspect
from cdktf_cdktf_provider_aws.iam_role import IamRole
from constructs import IConstruct

from .validation import require, require_name

BOUNDARY_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:policy/[A-Za-z0-9+=,.@_/-]{1,128}"


@jsii.implements(IAspect)
class PermissionsBoundary:
    """Sets `permissions_boundary` on every `aws_iam_role` under the scope it is added to
    (`Aspects.of(stack).add(PermissionsBoundary(arn))`). A role that already names another boundary is a
    mistake in its construct and stops synthesis: the environment's boundary is the only one its apply role
    may create roles with (stacks/ci_policies.py)."""

    def __init__(self, boundary_arn: str) -> None:
        require_name("boundary_arn", boundary_arn, BOUNDARY_ARN_PATTERN, "the ARN of an IAM managed policy")
        self.boundary_arn = boundary_arn

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, IamRole):
            current = node.permissions_boundary_input
            require(
                current in (None, self.boundary_arn),
                f"{node.node.path}.permissions_boundary",
                current,
                f"unset or {self.boundary_arn} (the stack's boundary)",
            )
            node.permissions_boundary = self.boundary_arn

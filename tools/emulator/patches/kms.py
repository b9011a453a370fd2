"""KMS gap patch: a key policy's Deny applies only to whom it names (evaluated with tools/iam_policy.py).

Why: moto 5.2.5 refuses DescribeKey to everyone whenever any Deny statement names kms:* / kms:Describe* on '*',
whatever its Principal and Condition, so a state key that denies only other environments' CI roles became
unreadable to its own operator and to Terraform.
"""

from __future__ import annotations

import json
from typing import Any

from tools.emulator.patches.registry import gap
from tools.emulator.patches.requester import request_principal


@gap(
    "kms-key-policy-denies",
    "DescribeKey is refused (AccessDeniedException) whenever the key policy has any Deny statement naming kms:*, "
    "kms:Describe* or kms:DescribeKey on '*', whatever its Principal and Condition: a state key that denies only "
    "other environments' CI roles became unreadable to everyone, its own operator and Terraform included.",
    "Evaluate the key policy for the requester with tools/iam_policy.py (the role of an AssumeRole session, else "
    "the default account's root; aws:PrincipalArn, aws:PrincipalAccount, kms:CallerAccount): an applicable "
    "explicit Deny refuses, as in AWS. moto still checks no Allow (a key policy that grants nothing denies "
    "nothing here): who may use which key is evaluated in tests/test_ci_identity.py.",
)
def _patch_kms_key_policy_denies() -> None:
    """Observed on moto 5.2.5. The over-broad Deny is moto's basic key policy enforcement, getmoto/moto#5777
    (for getmoto/moto#4600, closed), which by design checks neither Principal nor Condition. Retire when moto
    evaluates a key policy's Principal and Condition."""
    from moto.kms.exceptions import AccessDeniedException
    from moto.kms.responses import KmsResponse

    from tools.iam_policy import DENY, Request, evaluate

    def validate_key_policy(self: Any, key_id: str, action: str) -> None:
        key = self.kms_backend.describe_key(self.kms_backend.get_key_id(key_id))
        try:
            document = json.loads(key.policy)
        except (TypeError, ValueError):
            return
        principal = request_principal(self.get_access_key())
        request = Request(action, key.arn, principal, {"kms:CallerAccount": principal.account})
        if evaluate(document, request) == DENY:
            raise AccessDeniedException(
                f"{principal.arn} is not authorized to perform {action} on {key.arn}: "
                "an explicit deny in the key policy"
            )

    KmsResponse._validate_key_policy = validate_key_policy


#: This module's patches, in the order they are applied.
PATCHES = (_patch_kms_key_policy_denies,)

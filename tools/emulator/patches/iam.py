"""IAM gap patch: AWS managed policies loaded.

Why: moto 5.2.5 loads them only with MOTO_IAM_LOAD_MANAGED_POLICIES (off by default), so attaching e.g.
AmazonRDSEnhancedMonitoringRole fails; the patch turns moto's own switch on without touching the environment.
"""

from __future__ import annotations

from tools.emulator.patches.registry import gap


@gap(
    "iam-aws-managed-policies",
    "AWS managed policies are not loaded by default (MOTO_IAM_LOAD_MANAGED_POLICIES), so attaching e.g. "
    "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole fails with NoSuchEntity.",
    "Turn moto's own switch on for this process's IAM backends (moto.iam.models.load_iam_aws_managed_policies "
    "-> True) without changing the process environment.",
)
def _patch_iam_managed_policies() -> None:
    """Observed on moto 5.2.5. Not a moto defect: its documented, off-by-default switch. Nothing to retire
    upstream; drop the patch only if the tests set MOTO_IAM_LOAD_MANAGED_POLICIES=true in the environment
    instead."""
    from moto.iam import models as iam

    iam.load_iam_aws_managed_policies = lambda: True


#: This module's patches, in the order they are applied.
PATCHES = (_patch_iam_managed_policies,)

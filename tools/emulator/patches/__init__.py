"""The emulator's gap patches: small, documented extensions of moto 5.2.5's classes, one module per AWS service,
applied in this process (hence to the in-process server).  They never touch the product.  Each exists because
the Terraform AWS provider, talking to moto, would otherwise fail or show a perpetual diff where AWS would not;
each patch's docstring names the moto version it was observed on and what upstream change would retire it.

``GAPS`` (for docs/testing.md, "Emulator gaps patched in the Terraform harness") is built from the modules'
``PATCHES`` and ``CONFIG_GAPS``; ``apply_gap_patches()`` applies every patch once per process, in this order
(both ElastiCache modules widen the backend's ARN pattern through one shared wrapper,
``elasticache.accept_arn_kinds``, so their order does not matter).  A new gap: a ``@gap`` function in its service's module, listed in its ``PATCHES``.
"""

from __future__ import annotations

import threading

from tools.emulator.patches import core, ec2, elasticache, elasticache_users, iam, kinesis, kms, lambda_, rds, s3, sns
from tools.emulator.patches.lambda_ import INVOKE_WITHOUT_DOCKER, LAMBDA_WITHOUT_DOCKER
from tools.emulator.patches.registry import Gap, Patch

#: The service modules, in the order their patches apply and their gaps are listed.
MODULES = (elasticache, elasticache_users, core, rds, kinesis, sns, lambda_, ec2, iam, s3, kms)
PATCHES: tuple[Patch, ...] = tuple(patch for module in MODULES for patch in module.PATCHES)
#: (name, what moto 5.2.5 does, what the emulator does): every patch's, and those closed by moto's own config.
GAPS: list[tuple[str, str, str]] = [
    tuple(found)  # type: ignore[misc]
    for module in MODULES
    for found in (*getattr(module, "CONFIG_GAPS", ()), *(patch.gap for patch in module.PATCHES))  # type: ignore[attr-defined]
]
_applied: set[str] = set()
_lock = threading.Lock()

__all__ = [
    "GAPS",
    "INVOKE_WITHOUT_DOCKER",
    "LAMBDA_WITHOUT_DOCKER",
    "PATCHES",
    "Gap",
    "apply_gap_patches",
    "describe_gaps",
]


def apply_gap_patches() -> list[str]:
    """Apply every patch in ``PATCHES`` once per process; returns the names applied so far."""
    with _lock:
        for patch in PATCHES:
            name = patch.gap.name  # type: ignore[attr-defined]
            if name not in _applied:
                patch()
                _applied.add(name)
        return sorted(_applied)


def describe_gaps() -> str:
    return "\n".join(f"- {name}: {problem}\n  patch: {fix}" for name, problem, fix in GAPS)

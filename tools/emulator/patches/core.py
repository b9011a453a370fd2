"""Gap patch for every service: an action moto does not implement fails at once instead of being retried.

Why: moto 5.2.5 answers NotImplementedError with HTTP 500, which the AWS SDK (and so Terraform) retries for many
minutes; a new gap should fail the run with a message naming the action.
"""

from __future__ import annotations

import logging
from typing import Any

from tools.emulator.patches.registry import gap


@gap(
    "not-implemented-fails-fast",
    "An action moto does not implement raises NotImplementedError, served as HTTP 500; the AWS SDK retries "
    "5xx, so Terraform hangs for many minutes on any unimplemented call instead of failing.",
    "Serve NotImplementedError as a non-retryable 400 'EmulatorNotImplemented' error naming the action, "
    "so a new gap fails the run at once with a clear message (then add a patch here).",
)
def _patch_not_implemented_fails_fast() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Not a moto defect to be fixed but
    how its server reports what it lacks; retire only if moto serves unimplemented actions as a non-retryable
    (4xx or 501) error."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    class EmulatorNotImplemented(ServiceException):
        code = "EmulatorNotImplemented"

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        try:
            return original(self)
        except NotImplementedError as error:
            message = f"emulator gap (moto): {error} [{getattr(self, 'service_name', '?')}]"
            logging.getLogger("tools.emulator").error(message)
            try:
                status, headers, body = self.serialized(ActionResult(EmulatorNotImplemented(message)))
            except Exception:  # noqa: BLE001 -- never turn a gap report into a 500
                return 400, {"Content-Type": "text/plain"}, message
            return (status if status >= 400 and status != 500 else 400), headers, body

    BaseResponse.call_action = call_action


#: This module's patches, in the order they are applied.
PATCHES = (_patch_not_implemented_fails_fast,)

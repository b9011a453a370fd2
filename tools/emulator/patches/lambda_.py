"""Lambda gaps: Invoke without Docker (moto's own switch, ``LAMBDA_WITHOUT_DOCKER``, set by ``start_emulator``)
and the function's DeadLetterConfig and LoggingConfig kept (a patch).

Why: these machines have no Docker, so moto 5.2.5 cannot run the schema migration's invocation; and it drops both
configs, a perpetual diff on dead_letter_config and logging_config. (``lambda_``: ``lambda`` is a keyword.)
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.registry import Gap, gap

#: moto's own switch for Lambda without Docker: Invoke returns the request payload as the function's result
#: instead of running the code in a container (moto.awslambda_simple).  Set on the server with
#: POST /moto-api/config by ``start_emulator`` (before any function exists: the switch selects a different
#: backend), restored by ``Emulator.stop``.
LAMBDA_WITHOUT_DOCKER = {"lambda": {"use_docker": False}}
#: Not a patch: moto's documented switch closes it (nothing to retire while these machines have no Docker).
INVOKE_WITHOUT_DOCKER = Gap(
    "lambda-invoke-without-docker",
    "Invoke runs the function's code in a Docker container (lambci/lambda images); this machine has no Docker, "
    "so aws_lambda_invocation (the schema migration run) fails.",
    "moto's documented config {'lambda': {'use_docker': False}} (POST /moto-api/config at start): Invoke "
    "returns without executing and echoes the payload, so the run's `result` is the input it was given.",
)
#: Gaps closed by configuration, not by a patch (listed in ``GAPS`` before this module's patches).
CONFIG_GAPS = (INVOKE_WITHOUT_DOCKER,)


@gap(
    "lambda-dead-letter-and-logging-config",
    "CreateFunction/UpdateFunctionConfiguration drop DeadLetterConfig and LoggingConfig and "
    "GetFunction never returns them: perpetual diff on dead_letter_config and logging_config.",
    "Keep both on the function (AWS's default LoggingConfig is Text to /aws/lambda/<name>) and return them.",
)
def _patch_lambda_configs() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto keeps
    DeadLetterConfig and LoggingConfig on a function and returns them from
    GetFunction/GetFunctionConfiguration."""
    from moto.awslambda import models as lm

    original_init = lm.LambdaFunction.__init__
    original_get = lm.LambdaFunction.get_configuration
    original_update = lm.LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self._emu_dead_letter_config = spec.get("DeadLetterConfig")
        self._emu_logging_config = {
            "LogFormat": "Text",
            "LogGroup": f"/aws/lambda/{self.function_name}",
            **(spec.get("LoggingConfig") or {}),
        }

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_get(self, *args, **kwargs)
        if getattr(self, "_emu_dead_letter_config", None):
            config["DeadLetterConfig"] = self._emu_dead_letter_config
        if getattr(self, "_emu_logging_config", None):
            config["LoggingConfig"] = self._emu_logging_config
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self._emu_dead_letter_config = config_updates["DeadLetterConfig"] or None
        if "LoggingConfig" in config_updates:
            self._emu_logging_config = {
                **getattr(self, "_emu_logging_config", {}),
                **(config_updates["LoggingConfig"] or {}),
            }
        return original_update(self, config_updates)

    lm.LambdaFunction.__init__ = __init__
    lm.LambdaFunction.get_configuration = get_configuration
    lm.LambdaFunction.update_configuration = update_configuration


#: This module's patches, in the order they are applied.
PATCHES = (_patch_lambda_configs,)

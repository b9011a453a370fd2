"""Synthesize one environment stack from a custom configuration (for variant tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cdktf import Testing
from config_files import write_config

from constructs_lib.bundled_function import LambdaBundle
from stacks.config import load_config
from stacks.monitoring_stack import TransactionMonitoringStack
from synthesis import StackView


def synth_environment(tmp_path: Path, name: str = "dev", project_name: str | None = None, **settings: Any) -> StackView:
    """One environment stack built from `settings` on top of the construct defaults (and `[project] name`)."""
    project = {"project": {"name": project_name}} if project_name else {}
    config = load_config({"JAPANCART_CONFIG": str(write_config(tmp_path, {name: settings}, **project))})
    bundle = LambdaBundle(path=str(Path(__file__).resolve()), sha256_base64="dGVzdA==", migrations_checksum="0" * 64)
    stack = TransactionMonitoringStack(Testing.app(), config, config.environments[0], bundle)
    return StackView(json.loads(Testing.synth(stack)))

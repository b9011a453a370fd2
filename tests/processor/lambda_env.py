"""The processor's Lambda environment on the rig: secrets in the emulator, in the constructs' shapes."""

from __future__ import annotations

import boto3
import pytest

from processor import handler as handler_module
from tests.support import pipeline


def create_secrets(pg_server, redis_server) -> dict:
    """The secrets in the emulator, shaped as the constructs write them (tests/support/pipeline.py)."""
    return pipeline.create_secrets(boto3.client("secretsmanager"), pg_server, redis_server)


def lambda_env(monkeypatch, env: dict, **overrides: str) -> None:
    for name, value in {**env, **overrides}.items():
        if not name.startswith("_"):
            monkeypatch.setenv(name, value)


@pytest.fixture
def entry_point(monkeypatch):
    """A fresh container for processor.handler.handle; closed afterwards."""
    monkeypatch.setattr(handler_module, "_container_processor", None)
    yield handler_module.handle
    if handler_module._container_processor is not None:
        handler_module._container_processor.close()



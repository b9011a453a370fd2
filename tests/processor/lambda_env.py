"""The processor's Lambda environment on the rig: secrets in the emulator, in the constructs' shapes."""

from __future__ import annotations

import boto3
from txn_events import STREAM_ARN

from tests.support import pipeline


def create_secrets(pg_server, redis_server, stream_arn: str = STREAM_ARN) -> dict:
    """The secrets in the emulator, shaped as the constructs write them (tests/support/pipeline.py), and the
    Lambda environment for a processor of ``stream_arn`` (by default the stream of txn_events' events)."""
    return pipeline.create_secrets(boto3.client("secretsmanager"), pg_server, redis_server, stream_arn)


def lambda_env(monkeypatch, env: dict, **overrides: str) -> None:
    for name, value in {**env, **overrides}.items():
        if not name.startswith("_"):
            monkeypatch.setenv(name, value)

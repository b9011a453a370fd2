"""Secrets Manager access, cached for the life of the Lambda container.

boto3 is imported lazily: the bundle builder and unit tests import this package
without needing AWS libraries. ``AWS_ENDPOINT_URL`` is honoured by boto3 itself.
"""

from __future__ import annotations

import threading
from typing import Any

_cache: dict[str, str] = {}
_lock = threading.Lock()
_client: Any | None = None


def _secrets_client() -> Any:
    global _client
    if _client is None:
        import boto3

        _client = boto3.client("secretsmanager")
    return _client


def fetch_secret_string(arn: str) -> str:
    """Return the SecretString for ``arn``; each ARN is fetched once per container."""
    with _lock:
        if arn not in _cache:
            response = _secrets_client().get_secret_value(SecretId=arn)
            secret = response.get("SecretString")
            if secret is None:
                raise ValueError(f"secret {arn} has no SecretString (binary secrets are not supported)")
            _cache[arn] = secret
        return _cache[arn]


def clear_cache() -> None:
    """Forget cached secrets and the client (after a password rotation, or in tests)."""
    global _client
    with _lock:
        _cache.clear()
        _client = None

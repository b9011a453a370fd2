"""Session fixtures shared by the processor and rig tests (loaded from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import TestCA, free_port


@pytest.fixture(scope="session")
def rig_ca() -> Iterator[TestCA]:
    """A throwaway certificate authority for the session's TLS servers."""
    ca = TestCA()
    yield ca
    ca.cleanup()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's in-process server on a free loopback port (Secrets Manager, Kinesis, SQS)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()

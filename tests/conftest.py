"""Shared fixtures: every stack is synthesized once per test session and parsed once."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

STACK_NAMES = ("bootstrap", "dev", "staging", "prod")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs main.py in subprocesses (seconds each)")


def synth_stacks(outdir: Path, environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Synthesize the app from the (default or given) configuration; return each stack's JSON."""
    from stacks.app import synthesize
    from stacks.config import load_config

    synthesize(load_config({} if environ is None else environ), str(outdir))
    return {path.name: json.loads((path / "cdk.tf.json").read_text()) for path in (outdir / "stacks").iterdir()}


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The default configuration's stacks, synthesized once for the whole session."""
    return synth_stacks(tmp_path_factory.mktemp("synth"))


class StackView:
    """Query helpers over one synthesized stack: match by type and properties, never by logical id."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("resource", {}).get(resource_type, {})

    def data(self, data_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("data", {}).get(data_type, {})

    def find(self, resource_type: str, **properties: Any) -> list[tuple[str, dict[str, Any]]]:
        return [(key, body) for key, body in self.resources(resource_type).items()
                if all(body.get(k) == v for k, v in properties.items())]

    def one(self, resource_type: str, **properties: Any) -> tuple[str, dict[str, Any]]:
        matches = self.find(resource_type, **properties)
        assert len(matches) == 1, f"expected one {resource_type} with {properties}, found {len(matches)}"
        return matches[0]

    @staticmethod
    def ref(resource_type: str, key: str, attribute: str) -> str:
        return f"${{{resource_type}.{key}.{attribute}}}"

    def __iter__(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for resource_type, items in self.document.get("resource", {}).items():
            for key, body in items.items():
                yield resource_type, key, body


@pytest.fixture(scope="session")
def dev(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["dev"])


@pytest.fixture(scope="session")
def prod(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["prod"])


@pytest.fixture(scope="session")
def bootstrap(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["bootstrap"])

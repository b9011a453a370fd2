"""Shared fixtures: every stack is synthesized once per test session and parsed once."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stacks import provider_import  # noqa: E402

provider_import.install()  # lazy provider submodules, exactly as main.py loads them

from tools.node_runtime import use_project_node  # noqa: E402

# jsii here, main.py and `npx cdktf` in subprocesses: all on the project's Node.js 24, even under a bare pytest.
use_project_node()

from synthesis import TEST_BACKEND, StackView, synth_stacks  # noqa: E402

# Tests stand in for the operator who replaced the placeholder bucket and recorded the state key's ARN,
# also for `python main.py` run in subprocesses (explicit settings of a test still win).
for _name, _value in TEST_BACKEND.items():
    os.environ.setdefault(_name, _value)

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: runs main.py in subprocesses (seconds each)")


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The default configuration's stacks, synthesized once for the whole session."""
    return synth_stacks(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def dev(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["dev"])


@pytest.fixture(scope="session")
def prod(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["prod"])


@pytest.fixture(scope="session")
def bootstrap(stacks: dict[str, dict[str, Any]]) -> StackView:
    return StackView(stacks["bootstrap"])

"""Golden files: the synthesized JSON of every stack, reviewed in pull requests.

A difference fails the test with a unified diff. After a change you meant, refresh the
files with `make golden` (UPDATE_GOLDEN=1) and let a reviewer read the diff.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from synthesis import ROOT, STACK_NAMES

GOLDEN = Path(__file__).resolve().parent / "golden"


BUNDLE_HASH = "<processor-bundle-sha256>"
MIGRATIONS_CHECKSUM = "<migrations-checksum>"


def normalise(document: dict[str, Any]) -> str:
    """Stable text of a stack: sorted keys, this checkout's path, the processor bundle's hash and the
    checksum of its migrations replaced.

    The bundle's bytes change with every edit of processor/ (tested there, and proven
    deterministic by its own test), its migrations checksum with every new migration (that the
    migration run is keyed on it is a unit test); the golden files watch the infrastructure around them.
    """
    text = json.dumps(document, indent=2, sort_keys=True).replace(str(ROOT), "<repo>")
    for function in document.get("resource", {}).get("aws_lambda_function", {}).values():
        text = text.replace(function["source_code_hash"], BUNDLE_HASH)
        asset_hash = function["filename"].split("/")[-2]
        text = text.replace(asset_hash, "<processor-bundle-asset>")
    for run in document.get("resource", {}).get("aws_lambda_invocation", {}).values():
        text = text.replace(run["triggers"]["migrations_checksum"], MIGRATIONS_CHECKSUM)
    return text + "\n"


@pytest.mark.parametrize("name", STACK_NAMES)
def test_stack_matches_golden_file(stacks, name: str) -> None:
    actual = normalise(stacks[name])
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run `make golden` and review the new file"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), f"golden/{name}.json", f"synthesized {name}", n=2
            )
        )
        pytest.fail(f"{name} differs from its golden file (run `make golden` if the change is intended):\n{diff}")

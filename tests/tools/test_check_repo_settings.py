"""tools/check_repo_settings.py on recorded `gh api` responses (issue 16, item 8).

The tests cannot reach GitHub, so the recordings are built from GitHub's own REST API documentation examples
(``fixtures/github-docs/``, provenance in its SOURCE.md): first checked as they are, then, per setting, one
recording with every setting on (``passing``) and one with that setting off (a single change, written out
below), each asserted to the exact line. Branch protection and rulesets are each tested on their own: a
setting counts from either.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import check_repo_settings as settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = Path(__file__).resolve().parent / "fixtures" / "github-docs"
ENVIRONMENTS = ("dev", "staging", "prod")
Pieces = dict[str, Any]


def docs(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


def write(directory: Path, pieces: Pieces) -> Path:
    """Lay the pieces out as `--record` does."""
    files = {
        settings.PROTECTION: pieces["protection"],
        settings.RULES: pieces["rules"],
        settings.ENVIRONMENTS: {"total_count": len(pieces["environments"]), "environments": pieces["environments"]},
    }
    files.update({f"{settings.RULESETS}/{i}.json": r for i, r in pieces["rulesets"].items()})
    files.update(
        {
            f"{settings.BRANCH_POLICIES}/{n}.json": {"total_count": len(p), "branch_policies": p}
            for n, p in pieces["policies"].items()
        }
    )
    for relative, document in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(json.dumps(document, indent=2), encoding="utf-8")
    return directory


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.check_repo_settings", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def findings(tmp_path: Path, pieces: Pieces) -> list[str]:
    result = run(str(write(tmp_path / "recorded", pieces)))
    assert result.returncode in (0, 1) and result.stderr == "", result.stderr
    return result.stdout.splitlines() if result.returncode == 1 else []


# ---------------------------------------------------------------------------------------------------------
# Recordings built from the documentation examples
# ---------------------------------------------------------------------------------------------------------
def environment(name: str, *, reviewers: bool = True, main_only: bool = True) -> dict[str, Any]:
    """The documentation's `staging` environment, renamed, with every setting this repository needs on: its
    required reviewers may not approve their own runs (the example has prevent_self_review false) and
    administrators cannot bypass it (the example has no can_admins_bypass)."""
    env = copy.deepcopy(docs("environments.json")["environments"][0])
    env.update(name=name, can_admins_bypass=False)
    env["protection_rules"] = [r for r in env["protection_rules"] if r["type"] != "wait_timer"]
    for rule in env["protection_rules"]:
        if rule["type"] == "required_reviewers":
            rule["prevent_self_review"] = True
    if not reviewers:
        env["protection_rules"] = [r for r in env["protection_rules"] if r["type"] != "required_reviewers"]
    if not main_only:  # a pull request's plan job runs on the pull request's ref
        env["protection_rules"] = [r for r in env["protection_rules"] if r["type"] != "branch_policy"]
        env["deployment_branch_policy"] = None
    return env


def main_only_policy() -> list[dict[str, Any]]:
    """The documentation's branch policies without `release/*`: `main` alone."""
    return [p for p in docs("deployment-branch-policies.json")["branch_policies"] if p["name"] == "main"]


def environments_passing() -> dict[str, Any]:
    envs = [environment(e, reviewers=e != "dev") for e in ENVIRONMENTS]
    envs += [environment(f"pr-plan-{e}", main_only=False) for e in ENVIRONMENTS]
    envs += [environment(f"drift-{e}", reviewers=False) for e in ENVIRONMENTS]
    policies = {name: main_only_policy() for e in ENVIRONMENTS for name in (e, f"drift-{e}")}
    return {"environments": envs, "policies": policies}


def ruleset(ruleset_id: int, **changes: Any) -> dict[str, Any]:
    """The documentation's ruleset, as ``ruleset_id``, nobody on its bypass list (the example has team 234)."""
    return {**docs("ruleset.json"), "id": ruleset_id, "bypass_actors": [], **changes}


def passing_with_branch_protection() -> Pieces:
    """The documentation's branch protection with what it lacks: our two required checks (it requires
    `continuous-integration/travis-ci`), force pushes and deletion blocked (it allows both), the last push
    approved by another (absent) and an empty bypass list; the documentation's rules and their rulesets."""
    protection = docs("branch-protection.json")
    protection["required_status_checks"]["contexts"] = list(settings.REQUIRED_CHECKS)
    protection["allow_force_pushes"]["enabled"] = False
    protection["allow_deletions"]["enabled"] = False
    protection["required_pull_request_reviews"]["require_last_push_approval"] = True
    protection["required_pull_request_reviews"]["bypass_pull_request_allowances"] = {
        "users": [],
        "teams": [],
        "apps": [],
    }
    return {
        "protection": protection,
        "rules": docs("rules-branch.json"),
        "rulesets": {42: ruleset(42), 73: ruleset(73)},
        **environments_passing(),
    }


def passing_with_rulesets() -> Pieces:
    """No branch protection (the 404 body) and ruleset 42 carrying every rule, in the shape of the documentation's
    rules for a branch."""
    source = {k: v for k, v in docs("rules-branch.json")[0].items() if k != "parameters" and k != "type"}
    rules = [
        {
            "type": "pull_request",
            **source,
            "parameters": {
                "required_approving_review_count": 1,
                "require_code_owner_review": True,
                "dismiss_stale_reviews_on_push": True,
                "require_last_push_approval": True,
                "required_review_thread_resolution": False,
            },
        },
        {
            "type": "required_status_checks",
            **source,
            "parameters": {
                "strict_required_status_checks_policy": True,
                "required_status_checks": [{"context": c, "integration_id": 15368} for c in settings.REQUIRED_CHECKS],
            },
        },
        {"type": "non_fast_forward", **source},
        {"type": "deletion", **source},
    ]
    return {
        "protection": docs("branch-not-protected.json"),
        "rules": rules,
        "rulesets": {42: ruleset(42)},
        **environments_passing(),
    }


# ---------------------------------------------------------------------------------------------------------
# The documentation examples as they are
# ---------------------------------------------------------------------------------------------------------
def test_the_documentation_examples_as_recorded(tmp_path: Path) -> None:
    """Everything the documentation's examples leave off, one line each (the rules of ruleset 42 only: the
    documentation shows no ruleset 73)."""
    pieces = {
        "protection": docs("branch-protection.json"),
        "rules": docs("rules-branch.json")[:1],
        "rulesets": {42: docs("ruleset.json")},
        "environments": docs("environments.json")["environments"],
        "policies": {"staging": docs("deployment-branch-policies.json")["branch_policies"]},
    }
    assert findings(tmp_path, pieces) == [
        "main: the most recent push must be approved by someone other than its pusher: not enforced",
        "main: force pushes are blocked: not enforced",
        "main: deleting the branch is blocked: not enforced",
        "main: required status check 'make test' is not required",
        "main: required status check 'destructive gate / decide' is not required",
        "main: ruleset 42 (super cool ruleset) can be bypassed by Team 234 (always)",
        "environment dev: does not exist (a job naming it would create it, unprotected)",
        "environment staging: prevent_self_review is off (whoever started the run may approve it)",
        "environment staging: can_admins_bypass not in the response (cannot tell whether administrators bypass it)",
        "environment staging: deployment branch policies allow branch main, branch release/* (allow only branch main)",
        "environment prod: does not exist (a job naming it would create it, unprotected)",
        "environment pr-plan-dev: does not exist (a job naming it would create it, unprotected)",
        "environment pr-plan-staging: does not exist (a job naming it would create it, unprotected)",
        "environment pr-plan-prod: does not exist (a job naming it would create it, unprotected)",
        "environment drift-dev: does not exist (a job naming it would create it, unprotected)",
        "environment drift-staging: does not exist (a job naming it would create it, unprotected)",
        "environment drift-prod: does not exist (a job naming it would create it, unprotected)",
    ]


# ---------------------------------------------------------------------------------------------------------
# One passing and one failing recording per setting
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("passing", [passing_with_branch_protection, passing_with_rulesets])
def test_every_setting_on_passes(passing: Callable[[], Pieces], tmp_path: Path) -> None:
    result = run(str(write(tmp_path, passing())))
    assert (result.returncode, result.stdout) == (
        0,
        "repository settings: main and 6 environments have every setting on, no bypass\n",
    )


def reviews(pieces: Pieces) -> dict[str, Any]:
    return pieces["protection"]["required_pull_request_reviews"]


def rule(pieces: Pieces, rule_type: str) -> dict[str, Any]:
    (found,) = [r for r in pieces["rules"] if r["type"] == rule_type]
    return found


def env(pieces: Pieces, name: str) -> dict[str, Any]:
    (found,) = [e for e in pieces["environments"] if e["name"] == name]
    return found


def reviewers_rule(pieces: Pieces, name: str) -> dict[str, Any]:
    (found,) = [r for r in env(pieces, name)["protection_rules"] if r["type"] == "required_reviewers"]
    return found


def without(pieces: Pieces, rule_type: str) -> None:
    pieces["rules"] = [r for r in pieces["rules"] if r["type"] != rule_type]


#: setting -> (the one change on `passing_with_branch_protection`, the line it produces)
BRANCH_PROTECTION_CASES: dict[str, tuple[Callable[[Pieces], Any], str]] = {
    "approving review": (
        lambda p: reviews(p).update(required_approving_review_count=0),
        "main: merging needs at least one approving review: not enforced",
    ),
    "code-owner review": (
        lambda p: reviews(p).update(require_code_owner_reviews=False),
        "main: code-owner review is required: not enforced",
    ),
    "stale approvals dismissed": (
        lambda p: reviews(p).update(dismiss_stale_reviews=False),
        "main: stale approvals are dismissed when new commits are pushed: not enforced",
    ),
    "last push approved by another": (
        lambda p: reviews(p).pop("require_last_push_approval"),
        "main: the most recent push must be approved by someone other than its pusher: not enforced",
    ),
    "no force pushes": (
        lambda p: p["protection"]["allow_force_pushes"].update(enabled=True),
        "main: force pushes are blocked: not enforced",
    ),
    "no deletion": (
        lambda p: p["protection"]["allow_deletions"].update(enabled=True),
        "main: deleting the branch is blocked: not enforced",
    ),
    "required checks": (
        lambda p: p["protection"]["required_status_checks"].update(contexts=["make test"]),
        "main: required status check 'destructive gate / decide' is not required",
    ),
    "no bypass for administrators": (
        lambda p: p["protection"]["enforce_admins"].update(enabled=False),
        "main: administrators are not held to branch protection (enforce_admins is off)",
    ),
    "no pull-request bypass": (
        lambda p: reviews(p)["bypass_pull_request_allowances"].update(
            users=copy.deepcopy(docs("branch-protection.json")["restrictions"]["users"])
        ),
        "main: may merge without the required reviews (bypass_pull_request_allowances): octocat",
    ),
    "no ruleset bypass": (
        lambda p: p["rulesets"].update({42: docs("ruleset.json")}),
        "main: ruleset 42 (super cool ruleset) can be bypassed by Team 234 (always)",
    ),
    "bypass actors known": (
        lambda p: p["rulesets"][73].pop("bypass_actors"),
        "main: ruleset 73 (super cool ruleset): bypass_actors not in the response "
        "(record with a token that may administer the ruleset)",
    ),
}

RULESET_CASES: dict[str, tuple[Callable[[Pieces], Any], str]] = {
    "approving review": (
        lambda p: rule(p, "pull_request")["parameters"].update(required_approving_review_count=0),
        "main: merging needs at least one approving review: not enforced",
    ),
    "code-owner review": (
        lambda p: rule(p, "pull_request")["parameters"].update(require_code_owner_review=False),
        "main: code-owner review is required: not enforced",
    ),
    "stale approvals dismissed": (
        lambda p: rule(p, "pull_request")["parameters"].update(dismiss_stale_reviews_on_push=False),
        "main: stale approvals are dismissed when new commits are pushed: not enforced",
    ),
    "last push approved by another": (
        lambda p: rule(p, "pull_request")["parameters"].update(require_last_push_approval=False),
        "main: the most recent push must be approved by someone other than its pusher: not enforced",
    ),
    "no force pushes": (lambda p: without(p, "non_fast_forward"), "main: force pushes are blocked: not enforced"),
    "no deletion": (lambda p: without(p, "deletion"), "main: deleting the branch is blocked: not enforced"),
    "required checks": (
        lambda p: rule(p, "required_status_checks")["parameters"]["required_status_checks"].pop(),
        "main: required status check 'destructive gate / decide' is not required",
    ),
    "no ruleset bypass": (
        lambda p: p["rulesets"][42].update(bypass_actors=docs("ruleset.json")["bypass_actors"]),
        "main: ruleset 42 (super cool ruleset) can be bypassed by Team 234 (always)",
    ),
}

ENVIRONMENT_CASES: dict[str, tuple[Callable[[Pieces], Any], str]] = {
    "required reviewers on staging": (
        lambda p: reviewers_rule(p, "staging").update(reviewers=[]),
        "environment staging: no required reviewers",
    ),
    "required reviewers on prod": (
        lambda p: env(p, "prod")["protection_rules"].remove(reviewers_rule(p, "prod")),
        "environment prod: no required reviewers",
    ),
    "required reviewers on a plan environment": (
        lambda p: reviewers_rule(p, "pr-plan-dev").update(reviewers=[]),
        "environment pr-plan-dev: no required reviewers",
    ),
    "self-review prevented": (
        lambda p: reviewers_rule(p, "prod").update(prevent_self_review=False),
        "environment prod: prevent_self_review is off (whoever started the run may approve it)",
    ),
    "self-review prevented on a plan environment": (
        lambda p: reviewers_rule(p, "pr-plan-prod").pop("prevent_self_review"),
        "environment pr-plan-prod: prevent_self_review is off (whoever started the run may approve it)",
    ),
    "no administrator bypass": (
        lambda p: env(p, "staging").update(can_admins_bypass=True),
        "environment staging: administrators can bypass its protection rules (can_admins_bypass)",
    ),
    "administrator bypass known": (
        lambda p: env(p, "dev").pop("can_admins_bypass"),
        "environment dev: can_admins_bypass not in the response (cannot tell whether administrators bypass it)",
    ),
    "deployment branches: some policy": (
        lambda p: env(p, "prod").update(deployment_branch_policy=None),
        "environment prod: any branch may deploy to it (no deployment branch policy; allow only main)",
    ),
    "deployment branches: not every protected branch": (
        lambda p: env(p, "dev").update(
            deployment_branch_policy={"protected_branches": True, "custom_branch_policies": False}
        ),
        "environment dev: every protected branch may deploy to it (allow only main, a custom branch policy)",
    ),
    "deployment branches: main only": (
        lambda p: p["policies"].update(staging=docs("deployment-branch-policies.json")["branch_policies"]),
        "environment staging: deployment branch policies allow branch main, branch release/* (allow only branch main)",
    ),
    "deployment branches: the branch main, not a tag": (
        lambda p: p["policies"]["prod"][0].update(type="tag"),
        "environment prod: deployment branch policies allow tag main (allow only branch main)",
    ),
    "the drift check's environment deploys from main only": (
        lambda p: env(p, "drift-prod").update(deployment_branch_policy=None),
        "environment drift-prod: any branch may deploy to it (no deployment branch policy; allow only main)",
    ),
    "the drift check's environment exists": (
        lambda p: p["environments"].remove(env(p, "drift-dev")),
        "environment drift-dev: does not exist (a job naming it would create it, unprotected)",
    ),
    "the environment exists": (
        lambda p: p["environments"].remove(env(p, "pr-plan-staging")),
        "environment pr-plan-staging: does not exist (a job naming it would create it, unprotected)",
    ),
}


CASES = [
    pytest.param(passing, *cases[case], id=f"{label}: {case}")
    for label, passing, cases in (
        ("branch protection", passing_with_branch_protection, BRANCH_PROTECTION_CASES),
        ("ruleset", passing_with_rulesets, RULESET_CASES),
        ("environment", passing_with_branch_protection, ENVIRONMENT_CASES),
    )
    for case in cases
]


@pytest.mark.parametrize("passing, change, expected", CASES)
def test_each_setting_off_is_one_line(
    passing: Callable[[], Pieces], change: Callable[[Pieces], Any], expected: str, tmp_path: Path
) -> None:
    """The passing recording with one setting off: exactly that setting's line."""
    pieces = passing()
    change(pieces)
    assert findings(tmp_path, pieces) == [expected]


def test_an_unprotected_main_without_rulesets_is_refused_for_every_branch_setting(tmp_path: Path) -> None:
    pieces = {**passing_with_rulesets(), "rules": [], "rulesets": {}}
    assert findings(tmp_path, pieces) == (
        [f"main: {setting}: not enforced" for setting, _ in settings.BRANCH_SETTINGS]
        + [f"main: required status check {c!r} is not required" for c in settings.REQUIRED_CHECKS]
    )


# ---------------------------------------------------------------------------------------------------------
# Input, recording, and the names the settings refer to
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "missing",
    [
        settings.PROTECTION,
        settings.RULES,
        f"{settings.RULESETS}/73.json",
        settings.ENVIRONMENTS,
        f"{settings.BRANCH_POLICIES}/prod.json",
    ],
)
def test_a_missing_response_is_one_error_line(missing: str, tmp_path: Path) -> None:
    directory = write(tmp_path, passing_with_branch_protection())
    (directory / missing).unlink()
    result = run(str(directory))
    assert (result.returncode, result.stdout) == (2, "")
    assert (
        result.stderr == f"repository settings: {directory / missing}: missing (record it with --record OWNER/REPO)\n"
    )


FAKE_GH = '''#!{python}
"""A stand-in for `gh api GET` serving the recorded files of SERVED; logs each endpoint; 404 for a missing one."""
import json, os, sys
from pathlib import Path
served = Path(os.environ["SERVED"])
assert sys.argv[1] == "api" and len(sys.argv) == 3, sys.argv
endpoint = sys.argv[2]
with open(os.environ["GH_LOG"], "a") as log:
    log.write(endpoint + "\\n")
path, _, query = endpoint.partition("?")
repo = "repos/octo-org/japancart/"
name = {{repo + "branches/main/protection": "branch-protection.json", repo + "rules/branches/main": "rules-main.json",
        repo + "environments": "environments.json"}}.get(path)
if name is None and path.startswith(repo + "rulesets/"):
    name = "rulesets/" + path.rsplit("/", 1)[1] + ".json"
if name is None and path.endswith("/deployment-branch-policies"):
    name = "deployment-branch-policies/" + path.split("/")[-2] + ".json"
document = json.loads((served / name).read_text()) if name and (served / name).exists() else {{"message": "Not Found"}}
if isinstance(document, dict) and "message" in document:  # GitHub's error body: gh prints it and fails
    print(json.dumps(document))
    print("gh: " + document["message"] + " (HTTP 404)", file=sys.stderr)
    sys.exit(1)
print(json.dumps(document))
'''


@pytest.mark.parametrize("passing", [passing_with_branch_protection, passing_with_rulesets])
def test_record_asks_gh_for_each_response_and_checks_what_it_wrote(
    passing: Callable[[], Pieces], tmp_path: Path
) -> None:
    """`--record` against a stand-in `gh` that serves a recording: the endpoints it asks for, the files it writes
    (exactly the served ones, so the check reads what it recorded) and the verdict; a 404 for an unprotected
    main is recorded as such, any other gh failure stops it."""
    served = write(tmp_path / "served", passing())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH.format(python=sys.executable), encoding="utf-8")
    (bin_dir / "gh").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SERVED": str(served),
        "GH_LOG": str(tmp_path / "gh.log"),
    }
    recorded = tmp_path / "recorded"
    result = subprocess.run(
        [sys.executable, "-m", "tools.check_repo_settings", "--record", "octo-org/japancart", str(recorded)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pieces = passing()
    rulesets = [f"repos/octo-org/japancart/rulesets/{i}" for i in sorted(pieces["rulesets"])]
    policies = [
        f"repos/octo-org/japancart/environments/{e}/deployment-branch-policies?per_page=100"
        for e in [*ENVIRONMENTS, *(f"drift-{e}" for e in ENVIRONMENTS)]
    ]
    assert (tmp_path / "gh.log").read_text().splitlines() == [
        "repos/octo-org/japancart/branches/main/protection",
        "repos/octo-org/japancart/rules/branches/main?per_page=100",
        *rulesets,
        "repos/octo-org/japancart/environments?per_page=100",
        *policies,
    ]
    written = sorted(str(p.relative_to(recorded)) for p in recorded.rglob("*.json"))
    assert written == sorted(str(p.relative_to(served)) for p in served.rglob("*.json"))
    for relative in written:
        assert json.loads((recorded / relative).read_text()) == json.loads((served / relative).read_text()), relative

    (served / settings.ENVIRONMENTS).unlink()
    failed = subprocess.run(
        [sys.executable, "-m", "tools.check_repo_settings", "--record", "octo-org/japancart", str(tmp_path / "again")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert (failed.returncode, failed.stderr) == (
        2,
        "repository settings: gh api repos/octo-org/japancart/environments?per_page=100: gh: Not Found (HTTP 404)\n",
    )


def test_the_required_checks_are_the_workflows_check_names() -> None:
    """A renamed job would leave branch protection requiring a check that never reports."""

    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text(encoding="utf-8"))

    pull_request = load("pull-request.yml")["jobs"]
    gate_caller = pull_request["gate"]
    assert gate_caller["uses"] == "./.github/workflows/destructive-gate.yml"
    names = {
        pull_request["test"]["name"],
        f"{gate_caller['name']} / {load('destructive-gate.yml')['jobs']['decide']['name']}",
    }
    assert names == set(settings.REQUIRED_CHECKS)


def test_the_readme_checklist_names_every_setting() -> None:
    text = (ROOT / "docs" / "plan-review.md").read_text(encoding="utf-8")
    section = text[text.index("## Repository settings checklist") :]
    end = section.find("\n## ", 3)
    section = section if end == -1 else section[:end]
    for setting, _ in settings.BRANCH_SETTINGS:
        assert setting in section, setting
    for check in settings.REQUIRED_CHECKS:
        assert f"`{check}`" in section, check
    for phrase in (
        "required reviewers",
        "prevent_self_review",
        "can_admins_bypass",
        "deployment branches",
        "bypass",
        "python -m tools.check_repo_settings --record",
    ):
        assert phrase in section, phrase

"""Check the GitHub repository settings the pipeline's gates rely on, from `gh api` responses.

Usage::

    python -m tools.check_repo_settings --record OWNER/REPO DIR    record the responses with `gh api`, then check
    python -m tools.check_repo_settings DIR                        check responses recorded before

What YAML cannot say lives in the repository's settings (docs/plan-review.md, the checklist): branch
protection or rulesets on ``main``, and the GitHub environments the workflows name. ``DIR`` holds one response
per endpoint, as ``gh api`` prints it (``--record`` writes them; a token with admin read on the repository is
needed, or ``bypass_actors`` of a ruleset is withheld and reported as unknown)::

    branch-protection.json                  GET repos/OWNER/REPO/branches/main/protection (a 404 body: unprotected)
    rules-main.json                         GET repos/OWNER/REPO/rules/branches/main (active rules from rulesets)
    rulesets/<id>.json                      GET repos/OWNER/REPO/rulesets/<id>, each ruleset those rules come from
    environments.json                       GET repos/OWNER/REPO/environments
    deployment-branch-policies/<env>.json   GET repos/OWNER/REPO/environments/<env>/deployment-branch-policies,
                                            for each environment with custom branch policies

A setting of ``main`` counts when branch protection or any active ruleset applying to ``main`` enforces it; a
bypass anywhere (administrators not included in branch protection, pull-request bypass allowances, a ruleset's
bypass actors) is a finding of its own. Environments come from ``config/environments.toml``: ``<env>`` (the
apply jobs), ``pr-plan-<env>`` (the pull-request plans) and ``drift-<env>`` (the scheduled drift check) must
exist; all but ``dev`` (applied on merge) and ``drift-*`` (a daily read-only run nobody is there to approve) and
every ``pr-plan-*`` need required reviewers who cannot approve their own runs; no administrator bypass on any of
them; ``<env>`` and ``drift-<env>`` deploy from ``main`` only.

Exit codes: 0 every setting is on (one summary line); 1 one line per missing setting, on stdout; 2 unusable
input (a missing or unreadable response, a `gh` failure): one error line on stderr naming the file.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_PASS = 0
EXIT_MISSING = 1
EXIT_INVALID_INPUT = 2

BRANCH = "main"
#: The checks branch protection must require: the workflows' check names (tests/tools/test_workflows.py holds
#: them to the workflow files).
REQUIRED_CHECKS = ("make test", "destructive gate / decide")
#: Apply environments without required reviewers: dev applies on merge (destructive changes were gated in the PR).
UNREVIEWED = ("dev",)
PLAN_ENVIRONMENT = "pr-plan-{}"
#: The drift check's environments (stacks/identity.py DRIFT_ENVIRONMENT): the plan roles trust them from main only.
DRIFT_ENVIRONMENT = "drift-{}"
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "environments.toml"
PAGE = 100

PROTECTION = "branch-protection.json"
RULES = "rules-main.json"
RULESETS = "rulesets"
ENVIRONMENTS = "environments.json"
BRANCH_POLICIES = "deployment-branch-policies"


class SettingsInputError(ValueError):
    """A recorded response is missing or unusable; the message names the file."""


# ---------------------------------------------------------------------------------------------------------
# Reading the recorded responses
# ---------------------------------------------------------------------------------------------------------
def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsInputError(f"{path}: missing (record it with --record OWNER/REPO)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SettingsInputError(f"{path}: not readable as JSON: {error}") from None


@dataclass(frozen=True)
class Recording:
    """The responses of one repository."""

    protection: Mapping[str, Any] | None  # None: main has no branch protection
    rules: Sequence[Mapping[str, Any]]
    rulesets: Mapping[int, Mapping[str, Any]]
    environments: Mapping[str, Mapping[str, Any]]
    branch_policies: Mapping[str, Sequence[Mapping[str, Any]]]


def load_recording(directory: Path) -> Recording:
    if not directory.is_dir():
        raise SettingsInputError(f"{directory}: no such directory (record it with --record OWNER/REPO)")
    protection = read_json(directory / PROTECTION)
    if not isinstance(protection, dict):
        raise SettingsInputError(f"{directory / PROTECTION}: not a branch protection object")
    if "url" not in protection and "message" in protection:  # GitHub's 404 body: "Branch not protected"
        protection = None
    rules = read_json(directory / RULES)
    if not isinstance(rules, list) or not all(isinstance(r, dict) and "type" in r for r in rules):
        raise SettingsInputError(f"{directory / RULES}: not a list of rules")
    rulesets = {}
    for ruleset_id in sorted({r.get("ruleset_id") for r in rules}, key=str):
        ruleset = read_json(directory / RULESETS / f"{ruleset_id}.json")
        if not isinstance(ruleset, dict) or ruleset.get("id") != ruleset_id:
            raise SettingsInputError(f"{directory / RULESETS / f'{ruleset_id}.json'}: not ruleset {ruleset_id}")
        rulesets[ruleset_id] = ruleset
    listed = read_json(directory / ENVIRONMENTS)
    if not isinstance(listed, dict) or not isinstance(listed.get("environments"), list):
        raise SettingsInputError(f"{directory / ENVIRONMENTS}: not a list of environments")
    environments = {e["name"]: e for e in listed["environments"]}
    policies = {}
    for name, environment in environments.items():
        if (environment.get("deployment_branch_policy") or {}).get("custom_branch_policies"):
            path = directory / BRANCH_POLICIES / f"{name}.json"
            recorded = read_json(path)
            if not isinstance(recorded, dict) or not isinstance(recorded.get("branch_policies"), list):
                raise SettingsInputError(f"{path}: not a list of deployment branch policies")
            policies[name] = recorded["branch_policies"]
    return Recording(protection, rules, rulesets, environments, policies)


def environment_names(config: Path) -> list[str]:
    """The environments of config/environments.toml, in file order."""
    try:
        document = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsInputError(f"{config}: cannot read the environments: {error}") from None
    names = list(document.get("environments", {}))
    if not names:
        raise SettingsInputError(f"{config}: no [environments.<name>] tables")
    return names


# ---------------------------------------------------------------------------------------------------------
# main: branch protection and rulesets
# ---------------------------------------------------------------------------------------------------------
def _parameters(recording: Recording, rule_type: str) -> list[Mapping[str, Any]]:
    return [r.get("parameters") or {} for r in recording.rules if r["type"] == rule_type]


def _reviews(recording: Recording) -> Mapping[str, Any]:
    return (recording.protection or {}).get("required_pull_request_reviews") or {}


def _enabled(recording: Recording, key: str) -> bool | None:
    """A classic protection switch (``allow_force_pushes`` ...); None without branch protection."""
    if recording.protection is None:
        return None
    return bool((recording.protection.get(key) or {}).get("enabled"))


def _review_setting(classic: str, rule: str, minimum: Any = True) -> Callable[[Recording], bool]:
    """A pull-request review setting, from branch protection or a ``pull_request`` rule."""

    def on(recording: Recording) -> bool:
        values = [_reviews(recording).get(classic)] + [p.get(rule) for p in _parameters(recording, "pull_request")]
        if minimum is True:
            return any(v is True for v in values)
        return any(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values)

    return on


#: (what must be on, as the checklist says it; how to read it) for main.
BRANCH_SETTINGS: tuple[tuple[str, Callable[[Recording], bool]], ...] = (
    (
        "merging needs at least one approving review",
        _review_setting("required_approving_review_count", "required_approving_review_count", minimum=1),
    ),
    ("code-owner review is required", _review_setting("require_code_owner_reviews", "require_code_owner_review")),
    (
        "stale approvals are dismissed when new commits are pushed",
        _review_setting("dismiss_stale_reviews", "dismiss_stale_reviews_on_push"),
    ),
    (
        "the most recent push must be approved by someone other than its pusher",
        _review_setting("require_last_push_approval", "require_last_push_approval"),
    ),
    (
        "force pushes are blocked",
        lambda r: _enabled(r, "allow_force_pushes") is False or bool(_parameters(r, "non_fast_forward")),
    ),
    (
        "deleting the branch is blocked",
        lambda r: _enabled(r, "allow_deletions") is False or bool(_parameters(r, "deletion")),
    ),
)


def required_checks(recording: Recording) -> set[str]:
    """Every status check that branch protection or a ruleset requires on main."""
    checks = (recording.protection or {}).get("required_status_checks") or {}
    names = set(checks.get("contexts") or []) | {c.get("context") for c in checks.get("checks") or []}
    for parameters in _parameters(recording, "required_status_checks"):
        names |= {c.get("context") for c in parameters.get("required_status_checks") or []}
    return names


def bypasses(recording: Recording) -> Iterable[str]:
    """Everyone who can get past main's rules without them."""
    if recording.protection is not None:
        if not (recording.protection.get("enforce_admins") or {}).get("enabled"):
            yield "administrators are not held to branch protection (enforce_admins is off)"
        allowances = _reviews(recording).get("bypass_pull_request_allowances") or {}
        names = (
            [u.get("login") for u in allowances.get("users") or []]
            + [t.get("slug") for t in allowances.get("teams") or []]
            + [a.get("slug") for a in allowances.get("apps") or []]
        )
        if names:
            yield f"may merge without the required reviews (bypass_pull_request_allowances): {', '.join(map(str, names))}"
    for ruleset_id, ruleset in recording.rulesets.items():
        label = f"ruleset {ruleset_id} ({ruleset.get('name')})"
        if "bypass_actors" not in ruleset:
            yield f"{label}: bypass_actors not in the response (record with a token that may administer the ruleset)"
        elif ruleset["bypass_actors"]:
            actors = [
                f"{a.get('actor_type')} {a.get('actor_id')} ({a.get('bypass_mode', 'always')})"
                for a in ruleset["bypass_actors"]
            ]
            yield f"{label} can be bypassed by {', '.join(actors)}"


def check_branch(recording: Recording) -> list[str]:
    findings = [f"{BRANCH}: {setting}: not enforced" for setting, on in BRANCH_SETTINGS if not on(recording)]
    present = required_checks(recording)
    findings += [
        f"{BRANCH}: required status check {check!r} is not required"
        for check in REQUIRED_CHECKS
        if check not in present
    ]
    findings += [f"{BRANCH}: {bypass}" for bypass in bypasses(recording)]
    return findings


# ---------------------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------------------
def _reviewer_rules(environment: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in environment.get("protection_rules") or [] if r.get("type") == "required_reviewers"]


def check_environment(
    name: str,
    environment: Mapping[str, Any] | None,
    policies: Sequence[Mapping[str, Any]],
    *,
    reviewed: bool,
    main_only: bool,
) -> list[str]:
    where = f"environment {name}"
    if environment is None:
        return [f"{where}: does not exist (a job naming it would create it, unprotected)"]
    findings = []
    if reviewed:
        rules = _reviewer_rules(environment)
        if not any(r.get("reviewers") for r in rules):
            findings.append(f"{where}: no required reviewers")
        elif not all(r.get("prevent_self_review") is True for r in rules):
            findings.append(f"{where}: prevent_self_review is off (whoever started the run may approve it)")
    if "can_admins_bypass" not in environment:
        findings.append(
            f"{where}: can_admins_bypass not in the response (cannot tell whether administrators bypass it)"
        )
    elif environment["can_admins_bypass"] is not False:
        findings.append(f"{where}: administrators can bypass its protection rules (can_admins_bypass)")
    if main_only:
        branch_policy = environment.get("deployment_branch_policy")
        if not branch_policy:
            findings.append(f"{where}: any branch may deploy to it (no deployment branch policy; allow only {BRANCH})")
        elif branch_policy.get("protected_branches"):
            findings.append(
                f"{where}: every protected branch may deploy to it (allow only {BRANCH}, a custom branch policy)"
            )
        else:
            allowed = sorted(f"{p.get('type', 'branch')} {p.get('name')}" for p in policies)
            if allowed != [f"branch {BRANCH}"]:
                findings.append(
                    f"{where}: deployment branch policies allow {', '.join(allowed) or 'nothing'} "
                    f"(allow only branch {BRANCH})"
                )
    return findings


def check(recording: Recording, environments: Sequence[str], unreviewed: Sequence[str] = UNREVIEWED) -> list[str]:
    """One line per setting that is not on."""
    findings = check_branch(recording)
    # (GitHub environment name of an environment, required reviewers, deployments from main only)
    kinds = (
        ("{}", None, True),  # deploy: reviewed unless listed in `unreviewed`
        (PLAN_ENVIRONMENT, True, False),  # pull-request plans: any branch, always reviewed
        (DRIFT_ENVIRONMENT, False, True),  # the daily drift check: main only, nobody to wait for
    )
    for template, reviewed, main_only in kinds:
        for env in environments:
            name = template.format(env)
            findings += check_environment(
                name,
                recording.environments.get(name),
                recording.branch_policies.get(name, ()),
                reviewed=env not in unreviewed if reviewed is None else reviewed,
                main_only=main_only,
            )
    return findings


# ---------------------------------------------------------------------------------------------------------
# Recording with gh
# ---------------------------------------------------------------------------------------------------------
def gh_api(endpoint: str, *, missing_ok: bool = False) -> Any:
    """One `gh api` GET; with ``missing_ok`` a 404 is returned as its error body instead of failing."""
    try:
        done = subprocess.run(
            ["gh", "api", endpoint], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SettingsInputError(f"gh api {endpoint}: {error}") from None
    if done.returncode != 0:
        if missing_ok and "HTTP 404" in done.stderr:
            try:
                return json.loads(done.stdout)
            except json.JSONDecodeError:
                return {"message": done.stderr.strip()}
        raise SettingsInputError(f"gh api {endpoint}: {done.stderr.strip() or f'exit {done.returncode}'}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise SettingsInputError(f"gh api {endpoint}: not JSON: {error}") from None


def record(repository: str, directory: Path) -> None:
    """Write every response the check reads, from the live repository, into ``directory``."""

    def write(relative: str, document: Any) -> None:
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")

    base = f"repos/{repository}"
    write(PROTECTION, gh_api(f"{base}/branches/{BRANCH}/protection", missing_ok=True))
    rules = gh_api(f"{base}/rules/branches/{BRANCH}?per_page={PAGE}")
    if isinstance(rules, list) and len(rules) >= PAGE:
        raise SettingsInputError(
            f"gh api {base}/rules/branches/{BRANCH}: {PAGE} rules or more, more than this tool reads"
        )
    write(RULES, rules)
    for ruleset_id in sorted({r.get("ruleset_id") for r in rules if isinstance(r, dict)}, key=str):
        write(f"{RULESETS}/{ruleset_id}.json", gh_api(f"{base}/rulesets/{ruleset_id}"))
    environments = gh_api(f"{base}/environments?per_page={PAGE}")
    write(ENVIRONMENTS, environments)
    for environment in environments.get("environments", []) if isinstance(environments, dict) else []:
        if (environment.get("deployment_branch_policy") or {}).get("custom_branch_policies"):
            name = environment["name"]
            write(
                f"{BRANCH_POLICIES}/{name}.json",
                gh_api(f"{base}/environments/{name}/deployment-branch-policies?per_page={PAGE}"),
            )


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.check_repo_settings", description=__doc__.split("\n\n", 1)[0]
    )
    parser.add_argument("directory", type=Path, help="the recorded `gh api` responses")
    parser.add_argument("--record", metavar="OWNER/REPO", help="first record them from this repository with `gh api`")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="environments (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        environments = environment_names(args.config)
        if args.record:
            record(args.record, args.directory)
        recording = load_recording(args.directory)
    except SettingsInputError as error:
        print(f"repository settings: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    findings = check(recording, environments)
    if findings:
        print("\n".join(findings))
        return EXIT_MISSING
    print(f"repository settings: {BRANCH} and {2 * len(environments)} environments have every setting on, no bypass")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())

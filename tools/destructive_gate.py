"""The pull request's destructive-change gate: pass, or say in one line per reason why not.

Usage (in CI, always the BASE branch's copy of this file and of the configuration, so a pull request cannot weaken
its own gate)::

    python tools/destructive_gate.py --context gate-context.json --verdicts plan-report/ \
        --config config/environments.toml [--memberships teams.json] [--stacks dev,staging,prod]
    python tools/destructive_gate.py --config config/environments.toml --print-approver-teams

``--verdicts`` holds one ``<stack>.verdict.json`` per planned stack, written by the plan job next to that
stack's masked report: ``{"stack": "dev", "head_sha": "<sha>", "exit_code": 0}`` where ``exit_code`` is
``tools.plan_report``'s (0 nothing red, 3 destructive, damaging, provisioner or state-location change); the file
name must match its ``stack``. ``--context`` is what the workflow read from the GitHub API just before (never from
the event payload, which goes stale)::

    {"head_sha": ..., "head_repo": "owner/repo", "base_repo": "owner/repo", "pr_author": "alice",
     "commit_users": ["carol", "web-flow"], "commits_listed": 3, "commits_total": 3, "pushers": ["carol", "dave"],
     "label": "allow-destructive", "labeled": true, "label_actor": "bob", "label_actor_type": "User",
     "labeled_at": "<ISO 8601>", "report_head_sha": ..., "report_created_at": "<ISO 8601>"}

``commit_users`` are the GitHub logins of every author and committer of every commit of the pull request
(``pulls.listCommits``; git metadata can name anyone, so this excludes more people, never fewer);
``pushers`` the actor and triggering actor of every plan run of the head commit (whoever pushed it, opened or
reopened the pull request, or re-ran the plan) and whoever force-pushed the branch. ``--config`` is the base
branch's ``config/environments.toml``: ``[ci] approver_teams = ["org/team-slug", ...]`` (read with ``tomllib``).
``--memberships`` is what the workflow read with a token that can see the organization's teams::

    {"label_actor": "bob", "teams": {"japancart/platform": "active", "japancart/sre": "none"}}

Passes when every expected stack has a verdict for the current head commit and either none is red, or the
label is on the pull request and was added
* by a person (not a bot or an app: a pull request's own workflow could add it),
* who is an active member of one of the approver teams,
* who is not the author, nor an author or committer of any of its commits, nor a pusher,
* after the report of this head commit was published (an approval given before the reviewer could see this plan
  approves nothing).
Fails closed on everything else: a fork, a missing or stale verdict, a plan that did not produce a report, a
pull request with more commits than the API lists, no approver teams configured, membership not checked.

Exit codes: 0 pass; 1 blocked (reasons on stdout); 2 unreadable input (one error line naming file and field).
Standard library and `processor/contract.py` (itself standard library only; it names the environments): the
workflow checks out `processor/` beside `tools/` and runs this with `PYTHONPATH=base`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from processor.contract import ENVIRONMENTS

EXIT_PASS = 0
EXIT_BLOCKED = 1
EXIT_INVALID_INPUT = 2

#: tools.plan_report's exit codes that mean "a report was written".
REPORT_CLEAN = 0
REPORT_RED = 3
#: A GitHub team as the membership API names it: organization login and team slug.
TEAM = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[a-z0-9][a-z0-9_-]*$")
#: The repository secret the gate workflow reads team membership with (docs/plan-review.md).
TEAMS_TOKEN_SECRET = "DESTRUCTIVE_GATE_TEAMS_TOKEN"


class GateInputError(ValueError):
    """An input file or one of its fields is unusable; the message names both."""


@dataclass(frozen=True)
class Verdict:
    """One stack's plan report outcome, as the plan job recorded it."""

    stack: str
    head_sha: str
    exit_code: int


@dataclass(frozen=True)
class Context:
    """The pull request as the GitHub API described it when the gate ran."""

    head_sha: str
    head_repo: str
    base_repo: str
    pr_author: str
    #: GitHub logins of every author and committer of every commit of the pull request (where GitHub links them).
    commit_users: tuple[str, ...]
    #: How many commits the API listed, and how many the pull request has (the list stops at 250).
    commits_listed: int
    commits_total: int
    #: Actor and triggering actor of every plan run of the head commit, and whoever force-pushed the branch.
    pushers: tuple[str, ...]
    label: str
    labeled: bool
    label_actor: str | None
    #: The labeler's account type: "User" for a person; "Bot" for an app or a workflow's token.
    label_actor_type: str | None
    labeled_at: datetime | None
    report_head_sha: str
    report_created_at: datetime


@dataclass(frozen=True)
class Memberships:
    """The labeler's membership of each approver team, as the workflow read it (``active``, ``pending``, ``none``)."""

    label_actor: str
    teams: Mapping[str, str]


@dataclass(frozen=True)
class Approvers:
    """Who may approve: the configured teams, or why they could not be read; and the labeler's memberships (None
    when the workflow did not check them)."""

    teams: tuple[str, ...]
    problem: str | None = None
    memberships: Memberships | None = None


@dataclass
class Decision:
    """Whether the gate passes, and every reason it does not (or the one reason it does)."""

    passed: bool
    reasons: list[str] = field(default_factory=list)


def _field(data: Mapping[str, Any], name: str, kind: type, source: str, *, optional: bool = False) -> Any:
    """``data[name]`` checked against ``kind``; a bad value names the file, the field and the value."""
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is str and not value) or (kind is int and isinstance(value, bool)):
        raise GateInputError(f"{source}: field {name!r} must be a non-empty {kind.__name__}, got {value!r}")
    return value


def _timestamp(data: Mapping[str, Any], name: str, source: str, *, optional: bool = False) -> datetime | None:
    """An ISO 8601 timestamp field (GitHub writes ``...Z``), timezone-aware."""
    text = _field(data, name, str, source, optional=optional)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GateInputError(f"{source}: field {name!r} must be an ISO 8601 timestamp, got {text!r}") from None
    if parsed.tzinfo is None:
        raise GateInputError(f"{source}: field {name!r} must carry a timezone, got {text!r}")
    return parsed


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateInputError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict):
        raise GateInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_context(path: Path) -> Context:
    """Read the API context the workflow wrote."""
    return context_from(_read_json(path), str(path))


def context_from(data: Mapping[str, Any], source: str) -> Context:
    """Check and convert the context's fields; ``source`` names where they came from in errors."""
    labeled = data.get("labeled")
    if not isinstance(labeled, bool):
        raise GateInputError(f"{source}: field 'labeled' must be true or false, got {labeled!r}")
    return Context(
        head_sha=_field(data, "head_sha", str, source),
        head_repo=_field(data, "head_repo", str, source),
        base_repo=_field(data, "base_repo", str, source),
        pr_author=_field(data, "pr_author", str, source),
        commit_users=_logins(data, "commit_users", source),
        commits_listed=_count(data, "commits_listed", source),
        commits_total=_count(data, "commits_total", source),
        pushers=_logins(data, "pushers", source),
        label=_field(data, "label", str, source),
        labeled=labeled,
        label_actor=_field(data, "label_actor", str, source, optional=True),
        label_actor_type=_field(data, "label_actor_type", str, source, optional=True),
        labeled_at=_timestamp(data, "labeled_at", source, optional=True),
        report_head_sha=_field(data, "report_head_sha", str, source),
        report_created_at=_timestamp(data, "report_created_at", source),  # type: ignore[arg-type]
    )


def _logins(data: Mapping[str, Any], name: str, source: str) -> tuple[str, ...]:
    """A list of GitHub logins."""
    users = data.get(name)
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise GateInputError(f"{source}: field {name!r} must be a list of logins, got {users!r}")
    return tuple(users)


def _count(data: Mapping[str, Any], name: str, source: str) -> int:
    """A whole number of zero or more."""
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise GateInputError(f"{source}: field {name!r} must be a whole number >= 0, got {value!r}")
    return value


def load_verdicts(directory: Path) -> dict[str, Verdict]:
    """Every ``*.verdict.json`` in ``directory``, by stack name (an absent directory holds none). A file must be named
    after the stack it speaks for: ``dev.verdict.json`` saying ``prod`` is a planted verdict."""
    verdicts: dict[str, Verdict] = {}
    for path in sorted(directory.glob("*.verdict.json")) if directory.is_dir() else []:
        data, source = _read_json(path), str(path)
        verdict = Verdict(
            _field(data, "stack", str, source),
            _field(data, "head_sha", str, source),
            _field(data, "exit_code", int, source),
        )
        if path.name != f"{verdict.stack}.verdict.json":
            raise GateInputError(
                f"{source}: field 'stack' must name this file's stack "
                f"{path.name.removesuffix('.verdict.json')!r}, got {verdict.stack!r}"
            )
        verdicts[verdict.stack] = verdict
    return verdicts


def load_approver_teams(path: Path) -> tuple[str, ...]:
    """``[ci] approver_teams`` of the configuration (the base branch's): a non-empty list of ``org/team-slug``."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateInputError(f"{path}: not a readable TOML file ({exc})") from None
    ci = document.get("ci")
    teams = ci.get("approver_teams") if isinstance(ci, dict) else None
    if not isinstance(teams, list) or not teams:
        raise GateInputError(
            f"{path}: ci.approver_teams must list the teams whose members may approve a destructive "
            f'change ("org/team-slug"), got {teams!r}'
        )
    for index, team in enumerate(teams):
        if not isinstance(team, str) or not TEAM.match(team):
            raise GateInputError(f'{path}: ci.approver_teams[{index}] must be "org/team-slug", got {team!r}')
    return tuple(teams)


def load_memberships(path: Path) -> Memberships:
    """The labeler's team memberships the workflow recorded."""
    data, source = _read_json(path), str(path)
    teams = data.get("teams")
    if not isinstance(teams, dict) or not all(
        isinstance(k, str) and v in ("active", "pending", "none") for k, v in teams.items()
    ):
        raise GateInputError(
            f"{source}: field 'teams' must map \"org/team-slug\" to active, pending or none, got {teams!r}"
        )
    return Memberships(_field(data, "label_actor", str, source), teams)


def load_approvers(config: Path, memberships: Path | None) -> Approvers:
    """The approver teams (a configuration problem is kept, not raised: it only matters when a plan is red) and the
    labeler's memberships, when the workflow recorded them."""
    recorded = load_memberships(memberships) if memberships is not None and memberships.exists() else None
    try:
        return Approvers(load_approver_teams(config), memberships=recorded)
    except GateInputError as exc:
        return Approvers((), problem=str(exc), memberships=recorded)


def membership_problem(actor: str, approvers: Approvers) -> str | None:
    """Why ``actor`` is not an approver (not in an approver team, or nobody could check), or None."""
    if approvers.problem is not None:
        return f"no approver teams: {approvers.problem}"
    checked = approvers.memberships
    if checked is None or checked.label_actor.casefold() != actor.casefold():
        return (
            f"{actor}'s membership of the approver teams was not checked: the repository secret {TEAMS_TOKEN_SECRET} "
            "(a token that can read the organization's team members) is not set"
        )
    if not any(checked.teams.get(team) == "active" for team in approvers.teams):
        return (
            f"{actor} is not an active member of an approver team ({', '.join(approvers.teams)}; or the "
            f"{TEAMS_TOKEN_SECRET} token cannot see the team); a member of one must review and add it"
        )
    return None


def approval_problem(context: Context, approvers: Approvers) -> str | None:
    """Why the label does not approve this head commit's red report, or None if it does."""
    if not context.labeled:
        return f"the '{context.label}' label is not on the pull request"
    if context.label_actor is None or context.labeled_at is None:
        return f"no record of who added the '{context.label}' label, or when"
    if context.label_actor_type != "User" or context.label_actor.endswith("[bot]"):
        return (
            f"the '{context.label}' label was added by {context.label_actor} ({context.label_actor_type}), not a person: "
            "a workflow or app token cannot approve; a reviewer must add it"
        )
    actor = context.label_actor.casefold()
    if actor == context.pr_author.casefold():
        return f"the '{context.label}' label was added by the pull request's author ({context.label_actor}); someone else must review and add it"
    if actor in {user.casefold() for user in context.commit_users}:
        return (
            f"the '{context.label}' label was added by {context.label_actor}, an author or committer of a commit of "
            "this pull request; someone else must review and add it"
        )
    if actor in {user.casefold() for user in context.pushers}:
        return (
            f"the '{context.label}' label was added by {context.label_actor}, who pushed this pull request's head "
            "(or opened, reopened or re-ran its plan); someone else must review and add it"
        )
    if context.labeled_at <= context.report_created_at:
        return (
            f"the '{context.label}' label was added at {context.labeled_at.isoformat()}, before the report of "
            f"{context.head_sha[:12]} was published ({context.report_created_at.isoformat()}): remove it, read the report, add it again"
        )
    return membership_problem(context.label_actor, approvers)


def decide(context: Context, verdicts: Mapping[str, Verdict], stacks: Sequence[str], approvers: Approvers) -> Decision:
    """The gate's decision; fails closed on anything it cannot vouch for."""
    if context.head_repo != context.base_repo:
        return Decision(
            False,
            [
                f"pull request from the fork {context.head_repo}: no plan can run for it, so nothing is approved "
                "(push the branch to this repository to plan it)"
            ],
        )
    problems: list[str] = []
    if context.report_head_sha != context.head_sha:
        problems.append(
            f"the plan report is for {context.report_head_sha[:12]}, not the head commit {context.head_sha[:12]}"
        )
    red: list[str] = []
    for stack in stacks:
        verdict = verdicts.get(stack)
        if verdict is None:
            problems.append(f"{stack}: no plan report (the plan failed, was skipped or is still waiting for approval)")
        elif verdict.head_sha != context.head_sha:
            problems.append(
                f"{stack}: the plan report is for {verdict.head_sha[:12]}, not the head commit {context.head_sha[:12]}"
            )
        elif verdict.exit_code == REPORT_RED:
            red.append(stack)
        elif verdict.exit_code != REPORT_CLEAN:
            problems.append(f"{stack}: the plan report failed (exit code {verdict.exit_code})")
    if problems:
        return Decision(False, problems)
    if not red:
        return Decision(True, ["no destructive change and no state move in any plan"])
    if context.commits_listed < context.commits_total:
        return Decision(
            False,
            [
                f"destructive change or state move in {', '.join(red)}; the pull request has "
                f"{context.commits_total} commits and the API listed {context.commits_listed}: who wrote "
                "them cannot be checked, so nobody can approve (split the pull request)"
            ],
        )
    problem = approval_problem(context, approvers)
    if problem is not None:
        return Decision(False, [f"destructive change or state move in {', '.join(red)}; {problem}"])
    return Decision(
        True,
        [
            f"destructive change or state move in {', '.join(red)}, approved by {context.label_actor} "
            f"for {context.head_sha[:12]}"
        ],
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python tools/destructive_gate.py", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--config", required=True, type=Path, help="the base branch's config/environments.toml ([ci] approver_teams)"
    )
    parser.add_argument(
        "--print-approver-teams", action="store_true", help="print [ci] approver_teams as one JSON list and exit"
    )
    parser.add_argument("--context", type=Path, help="the pull request as the GitHub API describes it (JSON)")
    parser.add_argument("--verdicts", type=Path, help="directory of <stack>.verdict.json files")
    parser.add_argument(
        "--memberships", type=Path, help="the labeler's approver-team memberships (JSON; absent: not checked)"
    )
    parser.add_argument(
        "--stacks", default=",".join(ENVIRONMENTS), help="stacks that must each have a verdict (comma-separated)"
    )
    args = parser.parse_args(argv)
    if not args.print_approver_teams and (args.context is None or args.verdicts is None):
        parser.error("--context and --verdicts are required (unless --print-approver-teams)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate; prints the decision, returns the exit code."""
    args = parse_args(argv)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    if not stacks:
        print(f"destructive_gate: error: --stacks names no stack: {args.stacks!r}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    try:
        if args.print_approver_teams:
            print(json.dumps(list(load_approver_teams(args.config))))
            return EXIT_PASS
        decision = decide(
            load_context(args.context),
            load_verdicts(args.verdicts),
            stacks,
            load_approvers(args.config, args.memberships),
        )
    except GateInputError as exc:
        print(f"destructive_gate: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    for reason in decision.reasons:
        print(("pass: " if decision.passed else "blocked: ") + reason)
    return EXIT_PASS if decision.passed else EXIT_BLOCKED


if __name__ == "__main__":
    sys.exit(main())

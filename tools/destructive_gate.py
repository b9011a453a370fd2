"""The pull request's destructive-change gate: pass, or say in one line per reason why not.

Usage (in CI, always the BASE branch's copy of this file, so a pull request cannot weaken its own gate)::

    python tools/destructive_gate.py --context gate-context.json --verdicts plan-report/ [--stacks dev,staging,prod]

``--verdicts`` holds one ``<stack>.verdict.json`` per planned stack, written by the plan job next to that
stack's masked report: ``{"stack": "dev", "head_sha": "<sha>", "exit_code": 0}`` where ``exit_code`` is
``tools.plan_report``'s (0 nothing red, 3 destructive or state-location change). ``--context`` is what the
workflow read from the GitHub API just before (never from the event payload, which goes stale)::

    {"head_sha": ..., "head_repo": "owner/repo", "base_repo": "owner/repo", "pr_author": "alice",
     "head_commit_users": ["carol"], "label": "allow-destructive", "labeled": true, "label_actor": "bob",
     "label_actor_type": "User", "labeled_at": "<ISO 8601>", "report_head_sha": ..., "report_created_at": "<ISO 8601>"}

Passes when every expected stack has a verdict for the current head commit and either none is red, or the
label is on the pull request, was added by a person (not a bot or an app: a pull request's own workflow could
add it) other than its author and the head commit's author and committer, and was added after the report of
this head commit was published (an approval given before the reviewer could see this plan approves nothing).
Fails closed on everything else: a fork, a missing or stale verdict, a plan that did not produce a report.

Exit codes: 0 pass; 1 blocked (reasons on stdout); 2 unreadable input (one error line naming file and field).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

EXIT_PASS = 0
EXIT_BLOCKED = 1
EXIT_INVALID_INPUT = 2

#: tools.plan_report's exit codes that mean "a report was written".
REPORT_CLEAN = 0
REPORT_RED = 3
DEFAULT_STACKS = ("dev", "staging", "prod")


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
    #: GitHub logins of the head commit's author and committer (where GitHub links them to an account).
    head_commit_users: tuple[str, ...]
    label: str
    labeled: bool
    label_actor: Optional[str]
    #: The labeler's account type: "User" for a person; "Bot" for an app or a workflow's token.
    label_actor_type: Optional[str]
    labeled_at: Optional[datetime]
    report_head_sha: str
    report_created_at: datetime


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


def _timestamp(data: Mapping[str, Any], name: str, source: str, *, optional: bool = False) -> Optional[datetime]:
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
    users = data.get("head_commit_users")
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise GateInputError(f"{source}: field 'head_commit_users' must be a list of logins, got {users!r}")
    return Context(
        head_sha=_field(data, "head_sha", str, source),
        head_repo=_field(data, "head_repo", str, source),
        base_repo=_field(data, "base_repo", str, source),
        pr_author=_field(data, "pr_author", str, source),
        head_commit_users=tuple(users),
        label=_field(data, "label", str, source),
        labeled=labeled,
        label_actor=_field(data, "label_actor", str, source, optional=True),
        label_actor_type=_field(data, "label_actor_type", str, source, optional=True),
        labeled_at=_timestamp(data, "labeled_at", source, optional=True),
        report_head_sha=_field(data, "report_head_sha", str, source),
        report_created_at=_timestamp(data, "report_created_at", source),  # type: ignore[arg-type]
    )


def load_verdicts(directory: Path) -> dict[str, Verdict]:
    """Every ``*.verdict.json`` in ``directory``, by stack name (an absent directory holds none)."""
    verdicts: dict[str, Verdict] = {}
    for path in sorted(directory.glob("*.verdict.json")) if directory.is_dir() else []:
        data, source = _read_json(path), str(path)
        verdict = Verdict(_field(data, "stack", str, source), _field(data, "head_sha", str, source), _field(data, "exit_code", int, source))
        verdicts[verdict.stack] = verdict
    return verdicts


def approval_problem(context: Context) -> Optional[str]:
    """Why the label does not approve this head commit's red report, or None if it does."""
    if not context.labeled:
        return f"the '{context.label}' label is not on the pull request"
    if context.label_actor is None or context.labeled_at is None:
        return f"no record of who added the '{context.label}' label, or when"
    if context.label_actor_type != "User" or context.label_actor.endswith("[bot]"):
        return (f"the '{context.label}' label was added by {context.label_actor} ({context.label_actor_type}), not a person: "
                "a workflow or app token cannot approve; a reviewer must add it")
    actor = context.label_actor.casefold()
    if actor == context.pr_author.casefold():
        return f"the '{context.label}' label was added by the pull request's author ({context.label_actor}); someone else must review and add it"
    if actor in {user.casefold() for user in context.head_commit_users}:
        return (f"the '{context.label}' label was added by {context.label_actor}, who wrote or committed the head commit; "
                "someone else must review and add it")
    if context.labeled_at <= context.report_created_at:
        return (f"the '{context.label}' label was added at {context.labeled_at.isoformat()}, before the report of "
                f"{context.head_sha[:12]} was published ({context.report_created_at.isoformat()}): remove it, read the report, add it again")
    return None


def decide(context: Context, verdicts: Mapping[str, Verdict], stacks: Sequence[str]) -> Decision:
    """The gate's decision; fails closed on anything it cannot vouch for."""
    if context.head_repo != context.base_repo:
        return Decision(False, [f"pull request from the fork {context.head_repo}: no plan can run for it, so nothing is approved "
                                "(push the branch to this repository to plan it)"])
    problems: list[str] = []
    if context.report_head_sha != context.head_sha:
        problems.append(f"the plan report is for {context.report_head_sha[:12]}, not the head commit {context.head_sha[:12]}")
    red: list[str] = []
    for stack in stacks:
        verdict = verdicts.get(stack)
        if verdict is None:
            problems.append(f"{stack}: no plan report (the plan failed, was skipped or is still waiting for approval)")
        elif verdict.head_sha != context.head_sha:
            problems.append(f"{stack}: the plan report is for {verdict.head_sha[:12]}, not the head commit {context.head_sha[:12]}")
        elif verdict.exit_code == REPORT_RED:
            red.append(stack)
        elif verdict.exit_code != REPORT_CLEAN:
            problems.append(f"{stack}: the plan report failed (exit code {verdict.exit_code})")
    if problems:
        return Decision(False, problems)
    if not red:
        return Decision(True, ["no destructive change and no state move in any plan"])
    problem = approval_problem(context)
    if problem is not None:
        return Decision(False, [f"destructive change or state move in {', '.join(red)}; {problem}"])
    return Decision(True, [f"destructive change or state move in {', '.join(red)}, approved by {context.label_actor} "
                           f"for {context.head_sha[:12]}"])


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python tools/destructive_gate.py", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--context", required=True, type=Path, help="the pull request as the GitHub API describes it (JSON)")
    parser.add_argument("--verdicts", required=True, type=Path, help="directory of <stack>.verdict.json files")
    parser.add_argument("--stacks", default=",".join(DEFAULT_STACKS), help="stacks that must each have a verdict (comma-separated)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the gate; prints the decision, returns the exit code."""
    args = parse_args(argv)
    stacks = [name.strip() for name in args.stacks.split(",") if name.strip()]
    if not stacks:
        print(f"destructive_gate: error: --stacks names no stack: {args.stacks!r}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    try:
        decision = decide(load_context(args.context), load_verdicts(args.verdicts), stacks)
    except GateInputError as exc:
        print(f"destructive_gate: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    for reason in decision.reasons:
        print(("pass: " if decision.passed else "blocked: ") + reason)
    return EXIT_PASS if decision.passed else EXIT_BLOCKED


if __name__ == "__main__":
    sys.exit(main())

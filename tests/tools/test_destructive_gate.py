"""Tests for ``tools/destructive_gate.py``: every way the gate must block, the two ways it passes, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools import destructive_gate as gate  # noqa: E402

HEAD = "1" * 40
OLD = "2" * 40
STACKS = ("dev", "staging", "prod")


def context(**changes: Any) -> dict[str, Any]:
    """A same-repository PR by alice (head commit by carol) whose report was published at 09:00; no label."""
    base = {"head_sha": HEAD, "head_repo": "japancart/infra", "base_repo": "japancart/infra", "pr_author": "alice",
            "head_commit_users": ["carol"], "label": "allow-destructive", "labeled": False, "label_actor": None,
            "label_actor_type": None, "labeled_at": None,
            "report_head_sha": HEAD, "report_created_at": "2026-11-27T09:00:00Z"}
    return {**base, **changes}


APPROVED = {"labeled": True, "label_actor": "bob", "label_actor_type": "User", "labeled_at": "2026-11-27T09:10:00Z"}


def run(tmp_path: Path, ctx: dict[str, Any], codes: dict[str, int], *, sha: str = HEAD) -> int:
    """Write the inputs as the workflow does and run the gate's CLI; returns its exit code."""
    (tmp_path / "context.json").write_text(json.dumps(ctx))
    verdicts = tmp_path / "verdicts"
    verdicts.mkdir(exist_ok=True)
    for stack, code in codes.items():
        (verdicts / f"{stack}.verdict.json").write_text(json.dumps({"stack": stack, "head_sha": sha, "exit_code": code}))
    return gate.main(["--context", str(tmp_path / "context.json"), "--verdicts", str(verdicts)])


def decide(ctx: dict[str, Any], codes: dict[str, int], sha: str = HEAD) -> gate.Decision:
    verdicts = {stack: gate.Verdict(stack, sha, code) for stack, code in codes.items()}
    return gate.decide(gate.context_from(ctx, "context"), verdicts, STACKS)


CLEAN = {"dev": 0, "staging": 0, "prod": 0}
RED = {"dev": 0, "staging": 3, "prod": 0}


def test_clean_plans_pass_without_a_label() -> None:
    decision = decide(context(), CLEAN)
    assert decision.passed and decision.reasons == ["no destructive change and no state move in any plan"]


def test_red_plan_without_the_label_is_blocked() -> None:
    decision = decide(context(), RED)
    assert not decision.passed and "in staging" in decision.reasons[0] and "label is not on the pull request" in decision.reasons[0]


def test_red_plan_approved_by_another_person_after_the_report_passes() -> None:
    decision = decide(context(**APPROVED), RED)
    assert decision.passed and "approved by bob" in decision.reasons[0]


def test_the_author_cannot_approve_their_own_destructive_change() -> None:
    decision = decide(context(**{**APPROVED, "label_actor": "Alice"}), RED)
    assert not decision.passed and "added by the pull request's author" in decision.reasons[0]


def test_whoever_wrote_or_committed_the_head_commit_cannot_approve_it() -> None:
    decision = decide(context(**{**APPROVED, "label_actor": "CAROL"}), RED)
    assert not decision.passed and "wrote or committed the head commit" in decision.reasons[0]


@pytest.mark.parametrize("actor, actor_type", [("github-actions[bot]", "Bot"), ("bob", "Bot"), ("renovate[bot]", "User"),
                                               ("bob", None)])
def test_a_workflow_or_app_token_cannot_approve(actor: str, actor_type: Any) -> None:
    """A pull request's own workflow run holds a token that can add labels: its label must not count."""
    decision = decide(context(**{**APPROVED, "label_actor": actor, "label_actor_type": actor_type}), RED)
    assert not decision.passed and "not a person" in decision.reasons[0]


@pytest.mark.parametrize("labeled_at", ["2026-11-27T08:59:59Z", "2026-11-27T09:00:00Z"])
def test_a_label_older_than_this_commits_report_approves_nothing(labeled_at: str) -> None:
    decision = decide(context(**{**APPROVED, "labeled_at": labeled_at}), RED)
    assert not decision.passed and "before the report of" in decision.reasons[0]


def test_a_label_with_no_record_of_who_added_it_is_not_trusted() -> None:
    decision = decide(context(labeled=True), RED)
    assert not decision.passed and "no record of who added" in decision.reasons[0]


def test_a_fork_fails_even_with_clean_plans_and_a_label() -> None:
    decision = decide(context(head_repo="mallory/infra", **APPROVED), CLEAN)
    assert not decision.passed and decision.reasons[0].startswith("pull request from the fork mallory/infra")


def test_a_missing_stack_fails_closed_even_when_approved() -> None:
    decision = decide(context(**APPROVED), {"dev": 0, "staging": 3})
    assert not decision.passed and decision.reasons == ["prod: no plan report (the plan failed, was skipped or is still waiting for approval)"]


def test_a_report_for_another_commit_fails() -> None:
    decision = decide(context(report_head_sha=OLD, **APPROVED), CLEAN, sha=OLD)
    assert not decision.passed
    assert any("not the head commit" in r for r in decision.reasons) and any(r.startswith("dev: the plan report is for") for r in decision.reasons)


def test_a_failed_report_fails_whatever_the_label() -> None:
    decision = decide(context(**APPROVED), {"dev": 0, "staging": 2, "prod": 0})
    assert not decision.passed and decision.reasons == ["staging: the plan report failed (exit code 2)"]


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, context(), RED) == gate.EXIT_BLOCKED
    assert capsys.readouterr().out.startswith("blocked: destructive change or state move in staging")
    assert run(tmp_path, context(**APPROVED), RED) == gate.EXIT_PASS
    assert capsys.readouterr().out.startswith("pass: ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("head_sha", "", "field 'head_sha' must be a non-empty str, got ''"),
        ("labeled", "yes", "field 'labeled' must be true or false, got 'yes'"),
        ("head_commit_users", "carol", "field 'head_commit_users' must be a list of logins, got 'carol'"),
        ("report_created_at", "yesterday", "field 'report_created_at' must be an ISO 8601 timestamp, got 'yesterday'"),
        ("labeled_at", "2026-11-27T09:10:00", "field 'labeled_at' must carry a timezone, got '2026-11-27T09:10:00'"),
    ],
)
def test_bad_context_exits_2_naming_the_field_and_value(tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any,
                                                       message: str) -> None:
    assert run(tmp_path, context(**{**APPROVED, field: value}), RED) == gate.EXIT_INVALID_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "context.json" in err[0]


def test_bad_verdict_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "verdicts").mkdir()
    (tmp_path / "verdicts/dev.verdict.json").write_text(json.dumps({"stack": "dev", "head_sha": HEAD, "exit_code": "0"}))
    assert run(tmp_path, context(), {}) == gate.EXIT_INVALID_INPUT
    err = capsys.readouterr().err
    assert "dev.verdict.json: field 'exit_code' must be a non-empty int, got '0'" in err

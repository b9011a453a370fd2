"""Tests for ``tools/destructive_gate.py``: every way the gate must block, the two ways it passes, bad input.

Who may approve: a person (not a bot), in an approver team (``[ci] approver_teams`` of the base branch's config, membership
checked with the teams token), who is neither the author, nor an author or committer of any commit, nor a pusher."""

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
    """A same-repository PR by alice (commits by carol and dave; dave pushed the head) whose report was published at
    09:00; no label."""
    base = {
        "head_sha": HEAD,
        "head_repo": "japancart/infra",
        "base_repo": "japancart/infra",
        "pr_author": "alice",
        "commit_users": ["carol", "dave", "web-flow"],
        "commits_listed": 3,
        "commits_total": 3,
        "pushers": ["dave", "erin"],
        "label": "allow-destructive",
        "labeled": False,
        "label_actor": None,
        "label_actor_type": None,
        "labeled_at": None,
        "report_head_sha": HEAD,
        "report_created_at": "2026-11-27T09:00:00Z",
    }
    return {**base, **changes}


APPROVED = {"labeled": True, "label_actor": "bob", "label_actor_type": "User", "labeled_at": "2026-11-27T09:10:00Z"}
TEAMS = ("japancart/platform", "japancart/sre")
CONFIG = '[ci]\nrepository = "japancart/infra"\napprover_teams = ["japancart/platform", "japancart/sre"]\n'


def members(actor: str = "bob", **states: str) -> gate.Memberships:
    """The labeler's memberships as the workflow records them (bob: active in sre, not in platform)."""
    return gate.Memberships(actor, {"japancart/platform": "none", "japancart/sre": "active"} | states)


def run(
    tmp_path: Path,
    ctx: dict[str, Any],
    codes: dict[str, int],
    *,
    sha: str = HEAD,
    config: str = CONFIG,
    memberships: dict[str, Any] | None = None,
) -> int:
    """Write the inputs as the workflow does and run the gate's CLI; returns its exit code."""
    (tmp_path / "context.json").write_text(json.dumps(ctx))
    (tmp_path / "environments.toml").write_text(config)
    verdicts = tmp_path / "verdicts"
    verdicts.mkdir(exist_ok=True)
    for stack, code in codes.items():
        (verdicts / f"{stack}.verdict.json").write_text(
            json.dumps({"stack": stack, "head_sha": sha, "exit_code": code})
        )
    (tmp_path / "teams.json").write_text(
        json.dumps(memberships or {"label_actor": "bob", "teams": dict(members().teams)})
    )
    return gate.main(
        [
            "--context",
            str(tmp_path / "context.json"),
            "--verdicts",
            str(verdicts),
            "--config",
            str(tmp_path / "environments.toml"),
            "--memberships",
            str(tmp_path / "teams.json"),
        ]
    )


def decide(
    ctx: dict[str, Any],
    codes: dict[str, int],
    sha: str = HEAD,
    approvers: gate.Approvers | None = None,
) -> gate.Decision:
    if approvers is None:
        approvers = gate.Approvers(TEAMS, memberships=members())
    verdicts = {stack: gate.Verdict(stack, sha, code) for stack, code in codes.items()}
    return gate.decide(gate.context_from(ctx, "context"), verdicts, STACKS, approvers)


CLEAN = {"dev": 0, "staging": 0, "prod": 0}
RED = {"dev": 0, "staging": 3, "prod": 0}


def test_clean_plans_pass_without_a_label() -> None:
    decision = decide(context(), CLEAN)
    assert decision.passed and decision.reasons == ["no destructive change and no state move in any plan"]


def test_red_plan_without_the_label_is_blocked() -> None:
    decision = decide(context(), RED)
    assert (
        not decision.passed
        and "in staging" in decision.reasons[0]
        and "label is not on the pull request" in decision.reasons[0]
    )


def test_red_plan_approved_by_another_person_after_the_report_passes() -> None:
    decision = decide(context(**APPROVED), RED)
    assert decision.passed and "approved by bob" in decision.reasons[0]


def test_the_author_cannot_approve_their_own_destructive_change() -> None:
    decision = decide(context(**{**APPROVED, "label_actor": "Alice"}), RED)
    assert not decision.passed and "added by the pull request's author" in decision.reasons[0]


@pytest.mark.parametrize("actor", ["CAROL", "dave"])
def test_an_author_or_committer_of_any_commit_cannot_approve(actor: str) -> None:
    decision = decide(
        context(**{**APPROVED, "label_actor": actor}), RED, approvers=gate.Approvers(TEAMS, memberships=members(actor))
    )
    assert not decision.passed and "an author or committer of a commit of this pull request" in decision.reasons[0]


def test_whoever_pushed_the_head_or_reran_its_plan_cannot_approve() -> None:
    """erin wrote no commit (git metadata can name anyone) but pushed it: the plan run's actor."""
    decision = decide(
        context(**{**APPROVED, "label_actor": "Erin"}),
        RED,
        approvers=gate.Approvers(TEAMS, memberships=members("erin")),
    )
    assert not decision.passed and "who pushed this pull request's head" in decision.reasons[0]


@pytest.mark.parametrize(
    ("approvers", "message"),
    [
        (
            gate.Approvers(TEAMS, memberships=members(**{"japancart/sre": "none"})),
            "bob is not an active member of an approver team",
        ),
        (
            gate.Approvers(TEAMS, memberships=members(**{"japancart/sre": "pending"})),
            "bob is not an active member of an approver team",
        ),
        (
            gate.Approvers(TEAMS, memberships=gate.Memberships("bob", {"japancart/other": "active"})),
            "not an active member",
        ),
        (
            gate.Approvers(TEAMS),
            "membership of the approver teams was not checked: the repository secret DESTRUCTIVE_GATE_TEAMS_TOKEN",
        ),
        (gate.Approvers(TEAMS, memberships=members("mallory")), "was not checked"),  # a record for someone else
        (
            gate.Approvers((), problem="environments.toml: ci.approver_teams must list ..."),
            "no approver teams: environments.toml",
        ),
    ],
)
def test_the_labeler_must_be_an_active_member_of_an_approver_team(approvers: gate.Approvers, message: str) -> None:
    decision = decide(context(**APPROVED), RED, approvers=approvers)
    assert not decision.passed and message in decision.reasons[0], decision.reasons


def test_clean_plans_pass_whatever_the_approver_configuration() -> None:
    assert decide(context(), CLEAN, approvers=gate.Approvers((), problem="no [ci]")).passed


def test_more_commits_than_the_api_lists_cannot_be_approved() -> None:
    decision = decide(context(**APPROVED, commits_listed=250, commits_total=251), RED)
    assert not decision.passed and "251 commits and the API listed 250" in decision.reasons[0]
    assert decide(context(commits_listed=250, commits_total=251), CLEAN).passed  # nothing to approve


@pytest.mark.parametrize(
    "actor, actor_type", [("github-actions[bot]", "Bot"), ("bob", "Bot"), ("renovate[bot]", "User"), ("bob", None)]
)
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
    assert not decision.passed and decision.reasons == [
        "prod: no plan report (the plan failed, was skipped or is still waiting for approval)"
    ]


def test_a_report_for_another_commit_fails() -> None:
    decision = decide(context(report_head_sha=OLD, **APPROVED), CLEAN, sha=OLD)
    assert not decision.passed
    assert any("not the head commit" in r for r in decision.reasons) and any(
        r.startswith("dev: the plan report is for") for r in decision.reasons
    )


def test_a_failed_report_fails_whatever_the_label() -> None:
    decision = decide(context(**APPROVED), {"dev": 0, "staging": 2, "prod": 0})
    assert not decision.passed and decision.reasons == ["staging: the plan report failed (exit code 2)"]


def test_cli_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, context(), RED) == gate.EXIT_BLOCKED
    assert capsys.readouterr().out.startswith("blocked: destructive change or state move in staging")
    assert run(tmp_path, context(**APPROVED), RED) == gate.EXIT_PASS
    assert capsys.readouterr().out.startswith("pass: ")
    (tmp_path / "teams.json").unlink()
    assert (
        gate.main(
            [
                "--context",
                str(tmp_path / "context.json"),
                "--verdicts",
                str(tmp_path / "verdicts"),
                "--config",
                str(tmp_path / "environments.toml"),
                "--memberships",
                str(tmp_path / "teams.json"),
            ]
        )
        == gate.EXIT_BLOCKED
    )
    assert "DESTRUCTIVE_GATE_TEAMS_TOKEN" in capsys.readouterr().out


def test_cli_prints_the_approver_teams_for_the_workflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "environments.toml").write_text(CONFIG)
    assert gate.main(["--config", str(tmp_path / "environments.toml"), "--print-approver-teams"]) == gate.EXIT_PASS
    assert json.loads(capsys.readouterr().out) == list(TEAMS)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            "[project]\nname = 'x'\n",
            "ci.approver_teams must list the teams whose members may approve a destructive change",
        ),
        ("[ci]\napprover_teams = []\n", "got []"),
        ('[ci]\napprover_teams = ["platform"]\n', "ci.approver_teams[0] must be \"org/team-slug\", got 'platform'"),
        ('[ci]\napprover_teams = ["japancart/platform", "japancart/Team Name"]\n', "ci.approver_teams[1]"),
        ("[ci\n", "not a readable TOML file"),
    ],
)
def test_bad_approver_teams_name_the_field_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    (tmp_path / "environments.toml").write_text(config)
    assert (
        gate.main(["--config", str(tmp_path / "environments.toml"), "--print-approver-teams"])
        == gate.EXIT_INVALID_INPUT
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "environments.toml" in err[0]
    # The gate itself blocks a red plan with the same reason (a clean one passes: nothing needs approving).
    assert run(tmp_path, context(**APPROVED), RED, config=config) == gate.EXIT_BLOCKED
    assert message in capsys.readouterr().out
    assert run(tmp_path, context(), CLEAN, config=config) == gate.EXIT_PASS


def test_the_shipped_configuration_names_approver_teams_or_fails_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The repository's own config/environments.toml: its [ci] approver_teams (contract 1) are valid when present."""
    code = gate.main(["--config", str(REPO_ROOT / "config" / "environments.toml"), "--print-approver-teams"])
    out, err = capsys.readouterr()
    if code == gate.EXIT_PASS:
        assert all(gate.TEAM.match(team) for team in json.loads(out))
    else:
        assert code == gate.EXIT_INVALID_INPUT and "ci.approver_teams" in err


def test_a_verdict_planted_under_another_stacks_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "verdicts").mkdir()
    (tmp_path / "verdicts/extra.verdict.json").write_text(
        json.dumps({"stack": "prod", "head_sha": HEAD, "exit_code": 0})
    )
    assert run(tmp_path, context(), {"dev": 0, "staging": 0}) == gate.EXIT_INVALID_INPUT
    assert (
        "extra.verdict.json: field 'stack' must name this file's stack 'extra', got 'prod'" in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("head_sha", "", "field 'head_sha' must be a non-empty str, got ''"),
        ("labeled", "yes", "field 'labeled' must be true or false, got 'yes'"),
        ("commit_users", "carol", "field 'commit_users' must be a list of logins, got 'carol'"),
        ("pushers", [""], "field 'pushers' must be a list of logins, got ['']"),
        ("commits_total", -1, "field 'commits_total' must be a whole number >= 0, got -1"),
        ("report_created_at", "yesterday", "field 'report_created_at' must be an ISO 8601 timestamp, got 'yesterday'"),
        ("labeled_at", "2026-11-27T09:10:00", "field 'labeled_at' must carry a timezone, got '2026-11-27T09:10:00'"),
    ],
)
def test_bad_context_exits_2_naming_the_field_and_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any, message: str
) -> None:
    assert run(tmp_path, context(**{**APPROVED, field: value}), RED) == gate.EXIT_INVALID_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "context.json" in err[0]


def test_bad_verdict_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "verdicts").mkdir()
    (tmp_path / "verdicts/dev.verdict.json").write_text(
        json.dumps({"stack": "dev", "head_sha": HEAD, "exit_code": "0"})
    )
    assert run(tmp_path, context(), {}) == gate.EXIT_INVALID_INPUT
    err = capsys.readouterr().err
    assert "dev.verdict.json: field 'exit_code' must be a non-empty int, got '0'" in err

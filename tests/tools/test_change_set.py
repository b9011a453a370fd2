"""Tests for ``tools/change_set.py`` on hand-made plan fragments: what the digest covers and what it leaves out.

Real plans against the emulator (the same plan twice, a drift, a configuration change, a sensitive value) are in
``tests/tools/test_plan_report.py`` ("the change set a deploy approves"), which shares their emulator and applies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tools import change_set  # noqa: E402


def item(
    address: str, actions: list[str], before: dict[str, Any] | None, after: dict[str, Any] | None, **change: Any
) -> dict[str, Any]:
    """One ``resource_changes`` entry as ``terraform show -json`` writes it."""
    extra = {key: change.pop(key) for key in ("previous_address", "deposed") if key in change}
    return {
        "address": address,
        "mode": "managed",
        "type": address.split(".")[0],
        "name": address.split(".")[1],
        "change": {
            "actions": actions,
            "before": before,
            "after": after,
            "after_unknown": {},
            "before_sensitive": {},
            "after_sensitive": {},
            **change,
        },
        **extra,
    }


def plan(*items: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {},
        "resource_changes": list(items),
    }
    if outputs is not None:
        doc["output_changes"] = outputs
    return doc


def compare(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    return change_set.differences(change_set.change_set(first), change_set.change_set(second))


def test_unknown_values_collapse_whatever_the_plan_writes_for_them() -> None:
    """Terraform writes an unknown value as absent or null in ``after``: both are the same marker."""
    one = plan(
        item("aws_sqs_queue.q", ["create"], None, {"name": "q"}, after_unknown={"arn": True, "tags_all": {"a": True}})
    )
    two = plan(
        item(
            "aws_sqs_queue.q",
            ["create"],
            None,
            {"name": "q", "arn": None, "tags_all": {}},
            after_unknown={"arn": True, "tags_all": {"a": True}},
        )
    )
    assert compare(one, two) == []
    three = plan(item("aws_sqs_queue.q", ["create"], None, {"name": "q2"}, after_unknown={"arn": True}))
    assert compare(one, three) == ["aws_sqs_queue.q: what the plan does differs from the approved preview (create)"]


def test_an_attribute_no_plan_touches_does_not_count() -> None:
    """A computed value refreshed differently by each plan (a database's latest restorable time) is the same before and
    after within each plan: not part of what the plan does."""
    one = plan(
        item(
            "aws_db_instance.db",
            ["update"],
            {"backup_retention_period": 7, "latest_restorable_time": "10:00"},
            {"backup_retention_period": 14, "latest_restorable_time": "10:00"},
        )
    )
    two = plan(
        item(
            "aws_db_instance.db",
            ["update"],
            {"backup_retention_period": 7, "latest_restorable_time": "10:05"},
            {"backup_retention_period": 14, "latest_restorable_time": "10:05"},
        )
    )
    assert compare(one, two) == []
    # The same target from another starting value (a drift of the attribute the plan changes) is another change.
    three = plan(
        item("aws_db_instance.db", ["update"], {"backup_retention_period": 10}, {"backup_retention_period": 14})
    )
    assert compare(one, three) == ["aws_db_instance.db: what the plan does differs from the approved preview (update)"]


def test_a_destroy_is_its_address_and_actions() -> None:
    one = plan(item("aws_sqs_queue.q", ["delete"], {"name": "q", "last_modified": 1}, None))
    two = plan(item("aws_sqs_queue.q", ["delete"], {"name": "q", "last_modified": 2}, None))
    assert compare(one, two) == []
    three = plan(item("aws_sqs_queue.q", ["delete", "create"], {"name": "q"}, {"name": "q"}))
    assert compare(one, three) == ["aws_sqs_queue.q: actions delete (approved) -> delete, create (now)"]


def test_sensitive_values_never_reach_the_change_set_but_a_changing_secret_counts() -> None:
    unchanged = plan(
        item(
            "aws_db_instance.db",
            ["update"],
            {"password": "hunter2", "port": 5432},
            {"password": "hunter2", "port": 5433},
            before_sensitive={"password": True},
            after_sensitive={"password": True},
        )
    )
    rotated = plan(
        item(
            "aws_db_instance.db",
            ["update"],
            {"password": "hunter2", "port": 5432},
            {"password": "correct-horse", "port": 5433},
            before_sensitive={"password": True},
            after_sensitive={"password": True},
        )
    )
    written = json.dumps(change_set.change_set(rotated))
    assert "hunter2" not in written and "correct-horse" not in written
    assert compare(unchanged, rotated) == [
        "aws_db_instance.db: what the plan does differs from the approved preview (update)"
    ]
    # What the new secret is cannot be told apart without hashing it: two rotations to different values agree.
    other = json.loads(json.dumps(rotated))
    other["resource_changes"][0]["change"]["after"]["password"] = "another"
    assert compare(rotated, other) == []


def test_moves_outputs_and_deposed_objects_are_changes() -> None:
    moved = item("aws_sqs_queue.new", ["no-op"], {"name": "q"}, {"name": "q"}, previous_address="aws_sqs_queue.old")
    deposed = item("aws_sqs_queue.d", ["delete"], {"name": "d"}, None, deposed="abc123")
    same = item("aws_sqs_queue.same", ["no-op"], {"name": "s"}, {"name": "s"})
    output = {
        "url": {
            "actions": ["update"],
            "before": "a",
            "after": "b",
            "after_unknown": False,
            "before_sensitive": False,
            "after_sensitive": False,
        },
        "kept": {"actions": ["no-op"], "before": "k", "after": "k"},
    }
    changes = change_set.change_set(plan(moved, deposed, same, outputs=output))["changes"]
    assert list(changes) == ["aws_sqs_queue.d (deposed abc123)", "aws_sqs_queue.new", "output.url"]
    assert compare(plan(moved), plan()) == ["aws_sqs_queue.new: in the approved preview (no-op), not planned now"]


def write(tmp_path: Path, name: str, doc: Any) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_cli_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    approved = tmp_path / "dev.change-set.json"
    preview = write(
        tmp_path, "preview.json", plan(item("aws_sqs_queue.q", ["update"], {"delay_seconds": 0}, {"delay_seconds": 5}))
    )
    assert change_set.main(["write", preview, "--output", str(approved)]) == change_set.EXIT_SAME
    assert "1 change(s)" in capsys.readouterr().out
    assert change_set.main(["check", "--approved", str(approved), preview]) == change_set.EXIT_SAME
    assert capsys.readouterr().out == "change_set: the plan matches the approved preview (1 change(s))\n"
    drifted = write(
        tmp_path,
        "apply.json",
        plan(
            item("aws_sqs_queue.q", ["update"], {"delay_seconds": 0}, {"delay_seconds": 5}),
            item("aws_sqs_queue.r", ["delete"], {"name": "r"}, None),
        ),
    )
    assert change_set.main(["check", "--approved", str(approved), drifted]) == change_set.EXIT_DIFFERENT
    out, err = capsys.readouterr()
    assert out.splitlines() == ["aws_sqs_queue.r: not in the approved preview (now: delete)"]
    assert "nothing was applied" in err


@pytest.mark.parametrize(
    ("approved", "message"),
    [
        ('{"format": "other"}', "not a change set: format 'other'"),
        ('{"format": "japancart-change-set/1", "changes": []}', "changes must be an object"),
        (
            '{"format": "japancart-change-set/1", "changes": {"a.b": {"actions": ["update"], "digest": "md5:1"}}}',
            "changes['a.b'] must hold",
        ),
        ("{broken", "invalid JSON"),
    ],
)
def test_a_bad_change_set_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], approved: str, message: str
) -> None:
    path = write(tmp_path, "approved.json", approved)
    assert (
        change_set.main(["check", "--approved", path, write(tmp_path, "plan.json", plan())])
        == change_set.EXIT_INVALID_INPUT
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and path in err[0] and message in err[0]


def test_a_bad_plan_or_output_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "state.json", {"format_version": "1.0", "values": {}})
    out = tmp_path / "cs.json"
    assert change_set.main(["write", bad, "--output", str(out)]) == change_set.EXIT_INVALID_INPUT
    assert "not a Terraform plan" in capsys.readouterr().err and not out.exists()
    target = tmp_path / "missing-dir" / "cs.json"
    assert (
        change_set.main(["write", write(tmp_path, "p.json", plan()), "--output", str(target)])
        == change_set.EXIT_INVALID_INPUT
    )
    assert f"{target}: cannot write the change set" in capsys.readouterr().err

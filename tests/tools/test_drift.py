"""Unit tests for ``tools.drift`` on small hand-made plan fragments: the security-group rule rewrite, the report, the
refresh-only reading of drift, and bad input. The real engine runs in the emulator round trip
(``tests/e2e/drift_check.py``: real Terraform, real out-of-band changes, exit codes 0 and 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.drift import (
    EXIT_CLEAN,
    EXIT_DRIFT,
    MARKER,
    keep_declared_attributes,
    main,
    render,
    set_aside_managed_rules,
)
from tools.plan_report.plan import load_plan

ROOT = Path(__file__).resolve().parents[2]
GROUP = "sg-0db"


def inline(port: int, cidr: str) -> dict[str, Any]:
    """One item of a group's ``ingress`` list as the provider reads it."""
    return {
        "cidr_blocks": [cidr],
        "description": "",
        "from_port": port,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": "tcp",
        "security_groups": [],
        "self": False,
        "to_port": port,
    }


def managed_rule(port: int, source_group: str) -> dict[str, Any]:
    return {
        "type": "aws_vpc_security_group_ingress_rule",
        "mode": "managed",
        "address": f"aws_vpc_security_group_ingress_rule.r{port}",
        "values": {
            "security_group_id": GROUP,
            "ip_protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "referenced_security_group_id": source_group,
            "cidr_ipv4": None,
        },
    }


def plan(drift: list[dict[str, Any]], prior: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """A refresh-only plan's JSON: no resource_changes, no relevant_attributes (as Terraform 1.11 writes it)."""
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {},
        "resource_drift": drift,
        "prior_state": {"values": {"root_module": {"resources": list(prior)}}},
    }


def group_drift(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    by_group = {**inline(5432, "x"), "cidr_blocks": [], "security_groups": ["sg-0app"]}
    return {
        "address": "aws_security_group.db",
        "type": "aws_security_group",
        "change": {
            "actions": ["update"],
            "before": {"id": GROUP, "ingress": before, "tags": {}},
            "after": {"id": GROUP, "ingress": [by_group, *after], "tags": {}},
        },
    }


def test_rules_declared_as_resources_are_not_drift_and_a_hand_made_rule_is() -> None:
    """The group's state predates its rule resources (created after it): the declared rule is set aside, the
    rule nobody declared stays, as one readable line."""
    clean = set_aside_managed_rules(plan([group_drift([], [])], [managed_rule(5432, "sg-0app")]))
    assert clean["resource_drift"][0]["change"]["before"]["ingress"] == []
    assert clean["resource_drift"][0]["change"]["after"]["ingress"] == []

    opened = set_aside_managed_rules(
        plan([group_drift([], [inline(5432, "0.0.0.0/0")])], [managed_rule(5432, "sg-0app")])
    )
    assert opened["resource_drift"][0]["change"]["after"]["ingress"] == ["tcp 5432 from 0.0.0.0/0"]


def updated(address: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    rtype = address.split(".")[0]
    return {"address": address, "type": rtype, "change": {"actions": ["update"], "before": before, "after": after}}


def test_only_declared_attributes_and_tags_count_compared_as_values(tmp_path: Path) -> None:
    """Right after an apply the state is partly stale with nobody having changed anything: an attribute another
    resource fills in (a role's inline_policy), a clock (latest_restorable_time), a set read back in another order
    or null for empty, a block argument the configuration leaves to the API (an ACL rule's icmp_code read back as
    0). None of that is drift; a declared attribute changed, or a tag added, is."""
    doc = plan(
        [
            updated(
                "aws_db_instance.db",
                {"latest_restorable_time": "10:29", "deletion_protection": True, "tags": {}},
                {"latest_restorable_time": "10:31", "deletion_protection": False, "tags": {"Hotfix": "1"}},
            ),
            updated(
                "aws_iam_role.app",
                {"inline_policy": [], "name": "app"},
                {"inline_policy": [{"name": "p"}], "name": "app"},
            ),
            updated(
                "aws_default_network_acl.acl",
                {"ingress": [{"rule_no": 100, "icmp_code": None}, {"rule_no": 200, "cidr_block": ""}], "egress": None},
                {"ingress": [{"rule_no": 200, "cidr_block": None}, {"rule_no": 100, "icmp_code": 0}], "egress": []},
            ),
        ]
    )
    doc["configuration"] = {
        "root_module": {
            "resources": [
                {"address": "aws_db_instance.db", "expressions": {"deletion_protection": {"constant_value": True}}},
                {"address": "aws_iam_role.app", "expressions": {"name": {"constant_value": "app"}}},
                {
                    "address": "aws_default_network_acl.acl",
                    "expressions": {"ingress": [{"rule_no": {}, "cidr_block": {}}], "egress": [{"rule_no": {}}]},
                },
            ]
        }
    }
    stack = load_plan(write(tmp_path, keep_declared_attributes(doc)), "dev", refresh_only=True)
    assert {d.address: [a.name for a in d.attributes] for d in stack.drift} == {
        "aws_db_instance.db": ["deletion_protection", "tags"]
    }


def write(tmp_path: Path, doc: dict[str, Any]) -> str:
    path = tmp_path / "dev.drift.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_refresh_only_plan_reports_every_drifted_resource(tmp_path: Path) -> None:
    """Without relevant_attributes (a refresh-only plan has none), the pull-request reading would hide drift."""
    retention = {
        "address": "aws_cloudwatch_log_group.flow",
        "type": "aws_cloudwatch_log_group",
        "change": {"actions": ["update"], "before": {"retention_in_days": 30}, "after": {"retention_in_days": 1}},
    }
    path = write(tmp_path, plan([retention]))
    assert load_plan(path, "dev").drift == ()
    (found,) = load_plan(path, "dev", refresh_only=True).drift
    assert found.address == "aws_cloudwatch_log_group.flow"
    assert [(a.name, a.before, a.after) for a in found.attributes] == [("retention_in_days", "30", "1")]


def test_the_report_carries_the_marker_and_masks_sensitive_values(tmp_path: Path) -> None:
    secret = {
        "address": "aws_db_instance.db",
        "type": "aws_db_instance",
        "change": {
            "actions": ["update"],
            "before": {"password": "old-secret", "port": 5432},
            "after": {"password": "new-secret", "port": 5433},
            "before_sensitive": {"password": True},
            "after_sensitive": {"password": True},
        },
    }
    report = render(load_plan(write(tmp_path, plan([secret])), "dev", refresh_only=True))
    assert report.startswith(MARKER.format(name="dev"))
    assert "<code>aws_db_instance.db</code>" in report and "<code>5432</code> → <code>5433</code>" in report
    assert "secret" not in report.replace("(sensitive value)", "")
    clean = render(load_plan(write(tmp_path, plan([])), "dev", refresh_only=True))
    assert "No drift" in clean and "aws_" not in clean


def test_a_stateful_resource_deleted_outside_terraform_is_red(tmp_path: Path) -> None:
    gone = {"address": "aws_db_instance.db", "type": "aws_db_instance", "change": {"actions": ["delete"]}}
    report = render(load_plan(write(tmp_path, plan([gone])), "dev", refresh_only=True))
    assert "🛑 In-place damage" in report and "deleted outside Terraform" in report


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--name", "dev"], "the following arguments are required: --stack-dir"),
        (["--stack-dir", "nowhere", "--name", "dev"], "--stack-dir nowhere: no cdk.tf.json"),
        (["--stack-dir", ".", "--name", "../dev"], "--name '../dev': letters, digits"),
    ],
)
def test_bad_input_is_one_error_and_exit_1_never_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """2 means drift: a usage error (argparse's own 2) must not read as one."""
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_exit_codes_are_the_documented_ones() -> None:
    assert (EXIT_CLEAN, EXIT_DRIFT) == (0, 2)
    done = subprocess.run(
        [sys.executable, "-m", "tools.drift", "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--stack-dir" in done.stdout

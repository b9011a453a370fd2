"""The checkov gate (tools/checkov_gate.py) over every synthesized stack, and proof that it bites.

The gate's rules are in its module docstring; here it runs over the session's synthesized stacks
(zero failed checks, no stale skip) and over a deliberately insecure stack, plain and with skips.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthesis import STACK_NAMES
from tests.e2e.conftest import STATIC_AND_CLI_GROUP
from tools.checkov_gate import main, run_gate

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group(STATIC_AND_CLI_GROUP)]


def test_every_stack_passes_checkov(synth_dir: Path, e2e_summary) -> None:
    reports = run_gate(synth_dir)
    assert set(STACK_NAMES) <= set(reports), sorted(reports)
    e2e_summary(
        "checkov gate (terraform_json, offline; passed/failed/suppressed per stack):\n"
        + "\n".join(reports[name].summary() for name in STACK_NAMES)
    )
    bad = {n: r for n, r in reports.items() if not r.ok}
    assert not bad, "checkov gate failed:\n" + "\n".join(r.summary() for r in bad.values())
    assert all(r.passed > 0 for r in reports.values())


# A deliberately insecure variant in our own style: PostgreSQL open to 0.0.0.0/0 on 5432 on a public,
# unencrypted instance.  (checkov has no rule for "5432 open" on a security group by itself -- its port
# rules cover 22, 3389, 80 and all ports -- so the variant makes the database itself reachable.)
INSECURE = {
    "resource": {
        "aws_security_group": {"db": {"name": "db-open", "description": "deliberately insecure", "vpc_id": "vpc-0123"}},
        "aws_vpc_security_group_ingress_rule": {
            "pg_world": {
                "security_group_id": "${aws_security_group.db.id}",
                "cidr_ipv4": "0.0.0.0/0",
                "from_port": 5432,
                "to_port": 5432,
                "ip_protocol": "tcp",
                "description": "postgres from anywhere",
            }
        },
        "aws_db_instance": {
            "db": {
                "identifier": "open-db",
                "engine": "postgres",
                "engine_version": "16.4",
                "instance_class": "db.t4g.micro",
                "allocated_storage": 20,
                "username": "app",
                "password": "not-a-real-password",
                "publicly_accessible": True,
                "storage_encrypted": False,
                "vpc_security_group_ids": ["${aws_security_group.db.id}"],
                "skip_final_snapshot": True,
            }
        },
    }
}


def test_gate_bites_on_a_database_port_open_to_the_world(tmp_path: Path) -> None:
    stack = tmp_path / "stacks" / "insecure"
    stack.mkdir(parents=True)
    _write(stack, INSECURE)
    report = run_gate(tmp_path / "stacks")["insecure"]
    print("\n" + report.summary())
    failed = {(f.check_id, f.address) for f in report.failed}
    assert ("CKV_AWS_17", "aws_db_instance.db") in failed, "publicly accessible RDS must fail the gate"
    assert ("CKV_AWS_16", "aws_db_instance.db") in failed, "unencrypted RDS must fail the gate"


def test_gate_applies_in_code_skips_and_rejects_stale_ones(tmp_path: Path) -> None:
    """The "//" form written by constructs_lib.checkov.skip_check turns a failure into a suppression;
    a skip for a check that does not fail is reported as stale."""
    stack = tmp_path / "stacks" / "skipped"
    stack.mkdir(parents=True)
    _write(stack, INSECURE)
    baseline = run_gate(tmp_path / "stacks")["skipped"]
    failing = sorted({f.check_id for f in baseline.failed if f.address == "aws_db_instance.db"})
    assert failing, baseline.summary()
    doc = json.loads(json.dumps(INSECURE))
    skips = [{"id": c, "comment": "test: accepted for this fixture"} for c in failing] + [
        {"id": "CKV_AWS_999", "comment": "never fails"}
    ]
    doc["resource"]["aws_db_instance"]["db"]["//"] = {"checkov": {"skip": skips}}
    _write(stack, doc)
    report = run_gate(tmp_path / "stacks")["skipped"]
    print("\n" + report.summary())
    assert not [f for f in report.failed if f.address == "aws_db_instance.db"], report.summary()
    assert sorted(f.check_id for f in report.suppressed) == failing
    assert all(f.reason == "test: accepted for this fixture" for f in report.suppressed)
    assert report.stale_skips == ["CKV_AWS_999 on aws_db_instance.db (never fails)"]


def test_gate_cli_fails_on_the_insecure_stack_and_names_the_check(tmp_path: Path, capsys) -> None:
    _write(tmp_path / "stacks" / "insecure", INSECURE)
    assert main([str(tmp_path / "stacks")]) == 1
    assert "FAILED CKV_AWS_17 on aws_db_instance.db" in capsys.readouterr().out
    assert main([str(tmp_path / "empty")]) == 2
    assert "nothing to scan" in capsys.readouterr().err


def _write(stack: Path, doc: dict) -> Path:
    stack.mkdir(parents=True, exist_ok=True)
    path = stack / "cdk.tf.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


def test_gate_reads_a_stack_with_moved_blocks_and_fails_a_stack_it_read_nothing_of(tmp_path: Path, capsys) -> None:
    """The rename fix the plan report suggests (`move_from_id`, a `moved` block) must not blind the gate:
    checkov 3.3.30's loader raises on it and would scan nothing, so the gate scans the stack without it. And a
    stack checkov ran no check on fails: a gate that scanned nothing proves nothing."""
    moved = {**INSECURE, "moved": [{"from": "aws_db_instance.old", "to": "aws_db_instance.db"}]}
    _write(tmp_path / "stacks" / "renamed", moved)
    _write(tmp_path / "stacks" / "blank", {"output": {"nothing": {"value": "to scan"}}})
    reports = run_gate(tmp_path / "stacks")
    assert ("CKV_AWS_17", "aws_db_instance.db") in {(f.check_id, f.address) for f in reports["renamed"].failed}
    assert reports["blank"].scanned == 0 and not reports["blank"].ok
    assert main([str(tmp_path / "stacks")]) == 1
    assert "blank: passed=0 failed=0 suppressed=0\n    NOTHING SCANNED" in capsys.readouterr().out
    assert json.loads((tmp_path / "stacks" / "renamed" / "cdk.tf.json").read_text())["moved"], (
        "the stack is left as it was"
    )

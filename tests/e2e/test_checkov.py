"""checkov gate over every synthesized stack: zero failed checks; suppressions only in our code, with reasons.

checkov runs offline (``--skip-download``) with ``--framework terraform_json`` over the synthesized stacks.
Suppressions are written by ``constructs_lib.checkov.skip_check`` into the resource's ``"//"`` metadata
(``{"checkov": {"skip": [{"id", "comment"}]}}``; for a data source, into the stack's ``"//"`` with its address).  checkov 3.3.30's terraform_json runner does not read
inline skips at all (it scans every block with an empty skip list; upstream bridgecrewio/checkov#4634), so
the gate applies them to checkov's JSON report here:

* a failed check on a resource whose ``"//"`` skips that check id -> suppressed (reason printed);
* a failed check without such a skip -> failed (the gate fails);
* a skip that matches no failed check on its resource -> stale (the gate fails: drop it or fix the id);
* checks checkov itself reports as skipped (a future checkov honouring ``"//"``) count as suppressed.

``run_gate(stacks_dir)`` is importable for other tools.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from constructs_lib.checkov import skips_of, stack_skips_of
from synthesis import STACK_NAMES

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group("terraform-static")]

CHECKOV = [sys.executable, "-m", "checkov.main"]


@dataclass
class Finding:
    check_id: str
    check_name: str
    address: str
    lines: tuple[int, int]
    reason: str = ""

    def __str__(self) -> str:
        text = f"{self.check_id} on {self.address} (lines {self.lines[0]}-{self.lines[1]}): {self.check_name}"
        return f"{text} -- {self.reason}" if self.reason else text


@dataclass
class StackReport:
    name: str
    passed: int = 0
    failed: list[Finding] = field(default_factory=list)
    suppressed: list[Finding] = field(default_factory=list)
    stale_skips: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.name}: passed={self.passed} failed={len(self.failed)} suppressed={len(self.suppressed)}"]
        lines += [f"    suppressed {s}" for s in self.suppressed]
        lines += [f"    FAILED {f}" for f in self.failed]
        lines += [f"    STALE skip {s}" for s in self.stale_skips]
        return "\n".join(lines)


def _blocks_with_lines(tf_json: Path) -> dict[tuple[int, int], str]:
    """(start, end) line range -> Terraform address, using checkov's own loader so lines agree."""
    from checkov.terraform_json.parser import loads

    template, _ = loads(tf_json)
    out: dict[tuple[int, int], str] = {}
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for block in template.get(kind, []):
            for rtype, named in block.items():
                for name, conf in named.items():
                    out[(conf["__startline__"], conf["__endline__"])] = f"{prefix}{rtype}.{name}"
    return out


def _skips(tf_json: Path) -> dict[str, dict[str, str]]:
    """address -> {check_id: reason} from the ``"//"`` metadata of every resource and data source."""
    doc = json.loads(tf_json.read_text())
    out: dict[str, dict[str, str]] = {address: dict(checks) for address, checks in stack_skips_of(doc).items()}
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for rtype, named in (doc.get(kind) or {}).items():
            for name, body in named.items():
                if isinstance(body, dict) and (found := skips_of(body)):
                    out.setdefault(f"{prefix}{rtype}.{name}", {}).update(found)
    return out


def run_checkov(target: Path) -> list[dict]:
    """checkov's JSON report(s) for every ``*.tf.json`` under ``target`` (offline)."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [*CHECKOV, "-d", str(target), "--framework", "terraform_json", "--skip-download", "--compact", "-o", "json"],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )
    if proc.returncode not in (0, 1):
        pytest.fail(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    reports = data if isinstance(data, list) else [data]
    # checkov prints {"passed": 0, "failed": 0, ...} (no "results") when it found nothing to scan
    return [r for r in reports if r.get("check_type") == "terraform_json"]


def run_gate(stacks_dir: Path) -> dict[str, StackReport]:
    """Apply the gate to checkov's report over ``stacks_dir/<stack>/cdk.tf.json`` (or ``*.tf.json`` files)."""
    stacks_dir = Path(stacks_dir)
    files = {p.resolve(): p for p in stacks_dir.rglob("*.tf.json") if ".terraform" not in p.parts}
    assert files, f"nothing to scan under {stacks_dir}"

    def stack_of(path: Path) -> str:
        rel = path.relative_to(stacks_dir)
        return rel.parts[0] if len(rel.parts) > 1 else rel.name

    reports = {stack_of(p): StackReport(stack_of(p)) for p in files}
    lines = {p: _blocks_with_lines(p) for p in files}
    skips = {p: _skips(p) for p in files}
    used: set[tuple[Path, str, str]] = set()

    results = run_checkov(stacks_dir)
    assert results, "checkov produced no terraform_json report"
    for report in results:
        for status in ("passed_checks", "failed_checks", "skipped_checks"):
            for rec in report["results"].get(status, []):
                path = (stacks_dir / rec["file_path"].lstrip("/")).resolve()
                if path not in files:
                    path = Path(rec["file_abs_path"]).resolve()
                rng = tuple(rec["file_line_range"])
                address = lines[path].get(rng, rec["resource"])  # python checks name resources oddly; lines don't lie
                stack = reports[stack_of(files[path])]
                finding = Finding(rec["check_id"], rec.get("check_name", ""), address, rng)
                if status == "passed_checks":
                    stack.passed += 1
                elif status == "skipped_checks":
                    finding.reason = (rec.get("check_result") or {}).get("suppress_comment", "") or "(skipped by checkov)"
                    stack.suppressed.append(finding)
                else:
                    reason = skips[path].get(address, {}).get(rec["check_id"])
                    if reason is None:
                        stack.failed.append(finding)
                    else:
                        finding.reason = reason
                        stack.suppressed.append(finding)
                        used.add((path, address, rec["check_id"]))
    for path, by_address in skips.items():
        for address, checks in by_address.items():
            for check_id, reason in checks.items():
                if (path, address, check_id) not in used:
                    reports[stack_of(files[path])].stale_skips.append(f"{check_id} on {address} ({reason})")
    return reports


def test_every_stack_passes_checkov(synth_dir: Path, e2e_summary) -> None:
    reports = run_gate(synth_dir)
    assert set(STACK_NAMES) <= set(reports), sorted(reports)
    e2e_summary("checkov gate (terraform_json, offline; passed/failed/suppressed per stack):\n"
                + "\n".join(reports[name].summary() for name in STACK_NAMES))
    bad = {n: r for n, r in reports.items() if r.failed or r.stale_skips}
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
                "security_group_id": "${aws_security_group.db.id}", "cidr_ipv4": "0.0.0.0/0",
                "from_port": 5432, "to_port": 5432, "ip_protocol": "tcp", "description": "postgres from anywhere",
            }
        },
        "aws_db_instance": {
            "db": {
                "identifier": "open-db", "engine": "postgres", "engine_version": "16.4", "instance_class": "db.t4g.micro",
                "allocated_storage": 20, "username": "app", "password": "not-a-real-password",
                "publicly_accessible": True, "storage_encrypted": False,
                "vpc_security_group_ids": ["${aws_security_group.db.id}"], "skip_final_snapshot": True,
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
    skips = [{"id": c, "comment": "test: accepted for this fixture"} for c in failing] + [{"id": "CKV_AWS_999", "comment": "never fails"}]
    doc["resource"]["aws_db_instance"]["db"]["//"] = {"checkov": {"skip": skips}}
    _write(stack, doc)
    report = run_gate(tmp_path / "stacks")["skipped"]
    print("\n" + report.summary())
    assert not [f for f in report.failed if f.address == "aws_db_instance.db"], report.summary()
    assert sorted(f.check_id for f in report.suppressed) == failing
    assert all(f.reason == "test: accepted for this fixture" for f in report.suppressed)
    assert report.stale_skips == ["CKV_AWS_999 on aws_db_instance.db (never fails)"]


def _write(stack: Path, doc: dict) -> Path:
    path = stack / "cdk.tf.json"
    path.write_text(json.dumps(doc, indent=2))
    return path

"""checkov gate over synthesized stacks: zero failed checks; suppressions only in our code, with reasons.

    python -m tools.checkov_gate STACKS_DIR     (`make checkov`: over cdktf.out/stacks after a synth)

checkov runs offline (``--skip-download``) with ``--framework terraform_json`` over the synthesized stacks.
Suppressions are written by ``constructs_lib.checkov.skip_check`` into the resource's ``"//"`` metadata
(``{"checkov": {"skip": [{"id", "comment"}]}}``; for a data source, into the stack's ``"//"`` with its address).  checkov 3.3.30's terraform_json runner does not read
inline skips at all (it scans every block with an empty skip list; upstream bridgecrewio/checkov#4634), so
the gate applies them to checkov's JSON report:

* a failed check on a resource whose ``"//"`` skips that check id -> suppressed (reason printed);
* a failed check without such a skip -> failed (the gate fails);
* a skip that matches no failed check on its resource -> stale (the gate fails: drop it or fix the id);
* checks checkov itself reports as skipped (a future checkov honouring ``"//"``) count as suppressed.

``run_gate(stacks_dir)`` returns a ``StackReport`` per stack (``tests/e2e/test_checkov.py`` runs it over
every stack and over deliberately insecure variants); exit status 1 when a stack fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from constructs_lib.checkov import skips_of, stack_skips_of

CHECKOV = [sys.executable, "-m", "checkov.main"]


class GateError(RuntimeError):
    """checkov could not run, printed no report, or found nothing to scan."""


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

    @property
    def ok(self) -> bool:
        return not self.failed and not self.stale_skips

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
        raise GateError(f"checkov exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise GateError(f"checkov printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}") from None
    reports = data if isinstance(data, list) else [data]
    # checkov prints {"passed": 0, "failed": 0, ...} (no "results") when it found nothing to scan
    return [r for r in reports if r.get("check_type") == "terraform_json"]


def run_gate(stacks_dir: Path) -> dict[str, StackReport]:
    """Apply the gate to checkov's report over ``stacks_dir/<stack>/cdk.tf.json`` (or ``*.tf.json`` files)."""
    stacks_dir = Path(stacks_dir).resolve()  # files are keyed by resolved paths: `make checkov` passes a relative one
    files = {p.resolve(): p for p in stacks_dir.rglob("*.tf.json") if ".terraform" not in p.parts}
    if not files:
        raise GateError(f"nothing to scan under {stacks_dir}: no *.tf.json (synthesize first)")

    def stack_of(path: Path) -> str:
        rel = path.relative_to(stacks_dir)
        return rel.parts[0] if len(rel.parts) > 1 else rel.name

    reports = {stack_of(p): StackReport(stack_of(p)) for p in files}
    lines = {p: _blocks_with_lines(p) for p in files}
    skips = {p: _skips(p) for p in files}
    used: set[tuple[Path, str, str]] = set()

    results = run_checkov(stacks_dir)
    if not results:
        raise GateError("checkov produced no terraform_json report")
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print every stack's summary; 1 if any stack has a failed check or a stale skip, 2 on a usage error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m tools.checkov_gate STACKS_DIR", file=sys.stderr)
        return 2
    try:
        reports = run_gate(Path(args[0]))
    except GateError as error:
        print(f"checkov gate: {error}", file=sys.stderr)
        return 2
    print("\n".join(reports[name].summary() for name in sorted(reports)))
    return 0 if all(report.ok for report in reports.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

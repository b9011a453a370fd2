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
* checks checkov itself reports as skipped (a future checkov honouring ``"//"``) count as suppressed;
* a stack checkov read no block of (nothing passed, failed or suppressed) fails: a gate that scanned
  nothing proves nothing.

checkov 3.3.30's terraform_json loader cannot read ``moved``, ``import`` or ``removed`` blocks (it raises on
the list cdktf writes for ``move_from_id``, and then scans nothing): they change where state lives, not what
is deployed, so the gate scans a copy of each stack without them (the plan report and the policy gate read
them). Any other file checkov cannot load is one error line naming it.

``run_gate(stacks_dir)`` returns a ``StackReport`` per stack (``tests/e2e/test_checkov.py`` runs it over
every stack and over deliberately insecure variants); exit status 1 when a stack fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

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
    def scanned(self) -> int:
        """How many checks checkov ran on the stack at all."""
        return self.passed + len(self.failed) + len(self.suppressed)

    @property
    def ok(self) -> bool:
        return self.scanned > 0 and not self.failed and not self.stale_skips

    def summary(self) -> str:
        lines = [f"{self.name}: passed={self.passed} failed={len(self.failed)} suppressed={len(self.suppressed)}"]
        if not self.scanned:
            lines.append("    NOTHING SCANNED: checkov ran no check on this stack")
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
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        stdin=subprocess.DEVNULL,
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


#: Blocks that move, import or forget state; checkov's terraform_json loader cannot read them.
STATE_OPERATION_BLOCKS = ("moved", "import", "removed")


def run_gate(stacks_dir: Path) -> dict[str, StackReport]:
    """Apply the gate to checkov's report over ``stacks_dir/<stack>/cdk.tf.json`` (or ``*.tf.json`` files)."""
    stacks_dir = Path(stacks_dir).resolve()  # `make checkov` passes a relative one
    sources = [p for p in stacks_dir.rglob("*.tf.json") if ".terraform" not in p.parts]
    if not sources:
        raise GateError(f"nothing to scan under {stacks_dir}: no *.tf.json (synthesize first)")
    with tempfile.TemporaryDirectory(prefix="checkov-gate-") as scratch:
        copy = Path(scratch)
        for source in sources:
            target = copy / source.relative_to(stacks_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_without_state_operations(source), encoding="utf-8")
        return _run_gate(copy.resolve())


def _without_state_operations(tf_json: Path) -> str:
    """The stack's JSON without ``STATE_OPERATION_BLOCKS`` (one error line if it is not a JSON object)."""
    try:
        doc = json.loads(tf_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise GateError(f"{tf_json}: not readable JSON ({error})") from None
    if not isinstance(doc, dict):
        raise GateError(f"{tf_json}: not a Terraform JSON object")
    return json.dumps({k: v for k, v in doc.items() if k not in STATE_OPERATION_BLOCKS}, indent=2)


def _run_gate(stacks_dir: Path) -> dict[str, StackReport]:
    files = {p.resolve(): p for p in stacks_dir.rglob("*.tf.json")}

    def stack_of(path: Path) -> str:
        rel = path.relative_to(stacks_dir)
        return rel.parts[0] if len(rel.parts) > 1 else rel.name

    reports = {stack_of(p): StackReport(stack_of(p)) for p in files}
    lines = {}
    for path in files:
        try:
            lines[path] = _blocks_with_lines(path)
        except Exception as error:  # checkov's own loader: whatever it raises, checkov would scan nothing there
            raise GateError(
                f"checkov cannot load {path.relative_to(stacks_dir)}: {type(error).__name__}: {error}"
            ) from None
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
                    finding.reason = (rec.get("check_result") or {}).get(
                        "suppress_comment", ""
                    ) or "(skipped by checkov)"
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


def main(argv: Sequence[str] | None = None) -> int:
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

"""`make plan EMULATOR=1` (tools/plan_stack.py): a wrong ENV stops it at once, naming the value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from processor.contract import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_environment_is_refused_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "plans"
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan_stack", "qa", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"ENV must be one of {', '.join(ENVIRONMENTS)}, got 'qa'"
    assert not out.exists()


def test_usage_without_arguments() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.plan_stack"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1 and "usage: python -m tools.plan_stack ENV OUT_DIR" in done.stderr

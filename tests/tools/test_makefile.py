"""The Makefile looks for a provider mirror only in the recipes that run Terraform from Python.

`find` (and `python3`) on PATH are replaced by stand-ins that record each call and fail, so a scan
anywhere (a `$(shell find ...)` at parse time, or in a recipe) is seen, not just slow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIRROR_SCRIPT = ROOT / "tools" / "find-provider-mirror.sh"


@pytest.fixture
def find_calls(tmp_path: Path) -> Path:
    """A PATH directory whose `find` and `python3` log their arguments to the returned file and exit 97."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in ("find", "python3"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexit 97\n', encoding="utf-8")
        stand_in.chmod(0o755)
    return log


def run(args: list[str], find_calls: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_PLUGIN_MIRROR", "MAKEFLAGS", "MAKELEVEL")}
    environ.update(PATH=f"{find_calls.parent / 'bin'}{os.pathsep}{environ['PATH']}", **env)
    return subprocess.run(args, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


def make(*args: str) -> list[str]:
    binary = shutil.which("make")
    assert binary, "GNU make is not on PATH"
    return [binary, "--no-print-directory", *args]


def test_make_help_scans_nothing_and_starts_no_interpreter(find_calls: Path) -> None:
    done = run(make("help"), find_calls)
    assert done.returncode == 0, done.stderr
    assert "plan" in done.stdout and "e2e" in done.stdout
    assert not find_calls.exists(), f"make help ran: {find_calls.read_text()}"


@pytest.mark.parametrize("target", ["test", "e2e", "plan"])
def test_terraform_recipes_ask_the_script_for_the_mirror(target: str, find_calls: Path) -> None:
    done = run(make("-n", target, "EMULATOR=1"), find_calls)  # -n: print the recipes, run none
    assert done.returncode == 0, done.stderr
    assert 'TF_PLUGIN_MIRROR="$(tools/find-provider-mirror.sh)"' in done.stdout, done.stdout
    assert "find " not in (find_calls.read_text() if find_calls.exists() else ""), "parsing the Makefile ran find"


def test_script_scans_without_a_mirror_setting(find_calls: Path) -> None:
    done = run([str(MIRROR_SCRIPT)], find_calls)
    assert done.returncode == 0 and done.stdout == ""
    assert (
        "find / -maxdepth 5" in find_calls.read_text()
        and "registry.terraform.io/hashicorp/aws" in find_calls.read_text()
    )


def test_script_keeps_the_mirror_you_set(find_calls: Path, tmp_path: Path) -> None:
    done = run([str(MIRROR_SCRIPT)], find_calls, TF_PLUGIN_MIRROR=str(tmp_path))
    assert done.returncode == 0 and done.stdout == f"{tmp_path}\n"
    assert not find_calls.exists()

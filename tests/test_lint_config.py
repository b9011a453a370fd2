"""`make lint`, the pre-commit hooks and the settings in pyproject.toml describe one check (issue 18, item 5):
the same tools from the lock, mypy strict on the same packages, and `make test` (so CI) runs the lint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def make_recipe(target: str) -> tuple[str, list[str]]:
    """A Makefile target's prerequisites line and its recipe lines."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{target}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.M)
    assert match, f"no target {target}"
    return match.group(1), [line.strip() for line in match.group(2).splitlines()]


def test_make_test_runs_the_lint_first() -> None:
    prerequisites, _ = make_recipe("test")
    assert "lint" in prerequisites.split("##")[0].split()


def test_pre_commit_runs_what_make_lint_runs() -> None:
    _, recipe = make_recipe("lint")
    lint_tools = {re.sub(r"^\$\(PYTHON\) -m ", "", line).split(" .")[0].removesuffix(" --check") for line in recipe}
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0]["hooks"]
    hook_tools = {re.sub(r"^\.venv/bin/python -m ", "", h["entry"]).split(" --")[0] for h in hooks}
    assert lint_tools == hook_tools == {"ruff check", "ruff format", "mypy"}
    assert all(h["language"] == "system" for h in hooks), "hooks run the locked tools from .venv"


def test_mypy_is_strict_on_the_processor_the_constructs_and_the_operator_tools_and_the_tools_are_locked() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mypy = settings["tool"]["mypy"]
    assert mypy["strict"] is True
    assert sorted(mypy["files"]) == ["constructs_lib", "operator_tools", "processor"]
    pipfile = tomllib.loads((ROOT / "Pipfile").read_text(encoding="utf-8"))
    assert {"ruff", "mypy"} <= set(pipfile["dev-packages"])
    assert all(pipfile["dev-packages"][tool].startswith("==") for tool in ("ruff", "mypy"))
    python = pipfile["requires"]["python_version"]
    assert settings["tool"]["ruff"]["target-version"] == "py" + python.replace(".", "")
    assert mypy["python_version"] == python

"""Files where they belong: product code and product make targets never reach into tests/."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.imports import absolute_imports

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("main.py", "stacks", "constructs_lib", "processor", "operator_tools", "tools")
#: Make targets that run the processor's test rig on purpose (see the Makefile's comment on them).
TEST_RIG_TARGETS = {"pipeline"}


def product_files() -> list[Path]:
    files = [ROOT / name for name in PRODUCT if name.endswith(".py")]
    files += [path for name in PRODUCT if not name.endswith(".py") for path in (ROOT / name).rglob("*.py")]
    return sorted(files)


def test_product_code_imports_nothing_from_tests() -> None:
    files = product_files()
    assert ROOT / "tools" / "plan_stack.py" in files and len(files) > 40
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in absolute_imports(path) if m.split(".")[0] in ("tests", "synthesis")
        )
        for path in files
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_only_test_rig_targets_run_modules_from_tests() -> None:
    recipes: dict[str, list[str]] = {}
    target = ""
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([a-z0-9-]+):", line):
            target = match.group(1)
        elif line.startswith("\t"):
            recipes.setdefault(target, []).append(line)
    using_tests = {
        name for name, lines in recipes.items() if any(re.search(r"-m tests\.|tests/support", line) for line in lines)
    }
    assert using_tests == TEST_RIG_TARGETS
    assert any("-m tools.plan_stack" in line for line in recipes["plan"])

"""The house's import graph: no circle among its packages, and the construct library stays a library.

Built from the source with `ast` (every import, including those under `if TYPE_CHECKING:` and inside
functions), so a circle hidden behind a type-checking guard or a late import still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("stacks", "constructs_lib", "processor", "operator_tools", "tools")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The house's modules `name` imports (`from pkg import mod` counts as `pkg.mod` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_circle_behind_type_checking(tmp_path: Path) -> None:
    """The checker itself: a TYPE_CHECKING import closing a circle is reported."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from a import x\n")
    known = {"a", "b"}
    graph = {name: _imports(name, tmp_path / f"{name}.py", known) for name in known}
    assert _cycle(graph) in (["a", "b", "a"], ["b", "a", "b"])
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_import_graph_has_no_circle() -> None:
    graph = _graph()
    assert "stacks.config" in graph and "processor.contract" in graph  # the walk saw the house
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


@pytest.mark.parametrize("module", sorted(name for name in _modules() if name.startswith("constructs_lib")))
def test_construct_library_knows_only_the_processor_contract(module: str) -> None:
    graph = _graph()
    foreign = sorted(t for t in graph[module] if t.split(".")[0] == "processor" and t != "processor.contract")
    assert foreign == [], f"{module} imports {foreign}; constructs_lib may import only processor.contract"


@pytest.mark.parametrize("module", sorted(name for name in _modules() if name.startswith("processor")))
def test_processor_imports_only_itself(module: str) -> None:
    """The Lambda zip holds `processor/` alone: an import of another house package would fail at run time."""
    graph = _graph()
    foreign = sorted(t for t in graph[module] if t.split(".")[0] != "processor")
    assert foreign == [], f"{module} imports {foreign}; the Lambda zip ships processor/ alone"

"""What a Python file imports, read from its source: every import, at the top, inside functions and under
`if TYPE_CHECKING:` alike, so a lazy or type-only import counts as much as any other."""

from __future__ import annotations

import ast
from pathlib import Path


def absolute_imports(path: Path) -> set[str]:
    """The absolute module names `path` imports; `from pkg import name` gives both `pkg` and `pkg.name` (name may
    be a module: `from processor import pan`). Relative imports are left out."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found

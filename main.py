#!/usr/bin/env python
"""The cdktf app: validates the configuration, then synthesizes every stack.

    python main.py              every stack (needs your own [backend] bucket and accounts, [ci] repository,
                                and [backend] state_keys)
    python main.py bootstrap    only the named stacks (phase 1 of the bootstrap needs no state keys)
    python main.py --review     every stack, for reading and tests only: a placeholder bucket, account or
                                repository, or a missing state key, is reported on one line instead of refused

Synthesis goes to a scratch directory that replaces the output directory only when it
is complete, so a bad configuration leaves no partial `cdktf.out` behind. Each stack's
provider lock file (`.terraform.lock.hcl`, written by `terraform init`) is carried over
into the new output, so provider versions stay locked between synths and an offline
machine keeps installing from its mirror (see docs/deploying.md).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from stacks import provider_import
from tools.node_runtime import use_project_node

# Before any cdktf_cdktf_provider_* import; CDKTF_STOCK_PROVIDER_IMPORT=1 gives the stock path.
provider_import.install()

# Before jsii starts: it runs the project's Node.js 24 (package-lock.json), not an older one on PATH.
use_project_node()

LOCK_FILE = ".terraform.lock.hcl"


def carry_lock_files(old: Path, new: Path) -> list[str]:
    """Copy each stack's provider lock file from the previous output into the new one (same stack name)."""
    carried = []
    for lock in sorted((old / "stacks").glob(f"*/{LOCK_FILE}")):
        target = new / "stacks" / lock.parent.name
        if target.is_dir():
            shutil.copy2(lock, target / LOCK_FILE)
            carried.append(lock.parent.name)
    return carried


def main(argv: list[str]) -> int:
    from processor.contract import ConfigError
    from stacks.app import stack_names
    from stacks.capacity import format_summary, plan_all
    from stacks.config import load_config

    review = "--review" in argv
    argv = [arg for arg in argv if arg != "--review"]
    try:
        config = load_config()
        known = stack_names(config)
        for name in argv:
            if name not in known:
                raise ConfigError("stack", name, f"one of {', '.join(known)}")
        only = tuple(argv)
        # Before synthesis: a Redis node or a disk that cannot hold the load stops here in one line.
        capacity = plan_all(env for env in config.environments if not only or env.name in only)
        try:
            config.require_deployable(only or known)
        except ConfigError as error:
            if not review:
                raise
            # Synth needs no AWS: a fresh checkout can be read and tested before a backend exists.
            print(f"note: synthesized for review only; before deploying, {error}", file=sys.stderr)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2

    from stacks.app import synthesize

    outdir = Path(os.environ.get("CDKTF_OUTDIR") or "cdktf.out").resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        synthesize(config, str(scratch), only)
        if outdir.exists():
            carry_lock_files(outdir, scratch)
            shutil.rmtree(outdir)
        scratch.rename(outdir)
    except ConfigError as error:  # a construct's props refused a value derived from the configuration
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if capacity:
        print(format_summary(capacity))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

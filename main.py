#!/usr/bin/env python
"""The cdktf app: validates the configuration, then synthesizes every stack.

Synthesis goes to a scratch directory that replaces the output directory only when it
is complete, so a bad configuration leaves no partial `cdktf.out` behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import provider_import

# Before any cdktf_cdktf_provider_* import; CDKTF_STOCK_PROVIDER_IMPORT=1 gives the stock path.
provider_import.install()

# jsii's Node 20 end-of-life banner would bury real output; the runtime is pinned and tested.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


def main() -> int:
    from constructs_lib.validation import ConfigError
    from stacks.config import load_config

    try:
        config = load_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2

    from stacks.app import synthesize

    outdir = Path(os.environ.get("CDKTF_OUTDIR") or "cdktf.out").resolve()
    outdir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{outdir.name}-", dir=outdir.parent))
    try:
        synthesize(config, str(scratch))
        if outdir.exists():
            shutil.rmtree(outdir)
        scratch.rename(outdir)
    except ConfigError as error:  # a construct's props refused a value derived from the configuration
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

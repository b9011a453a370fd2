"""Phase 2 of the bootstrap: move the bootstrap stack's own state from the local file into its bucket.

    python -m tools.bootstrap_state [--stack-dir cdktf.out/stacks/bootstrap] [--local-state terraform.bootstrap.tfstate]

Run it after setting ``[backend] bootstrap_state = "s3"`` (and ``kms_key_id``) and synthesizing, so the
bootstrap stack's configuration names the S3 backend (``make bootstrap-move-state`` does all of it). Steps:

1. ``terraform init -reconfigure`` in the stack directory: the S3 backend, key ``<project>/bootstrap/...``;
2. refuse if the bucket already holds state for that key (moved before: nothing to do twice);
3. ``terraform state push`` of the local file (SSE-KMS under the state key, as every backend write);
4. ``terraform plan -detailed-exitcode``: the moved state must match the configuration (exit 0);
5. rename the local file to ``<file>.moved`` (delete it once you have checked the bucket).

Exit codes: 0 moved; 2 a precondition fails (one line on stderr naming what); 1 a Terraform step failed
(its output is shown). Terraform comes from PATH with this process's environment (credentials, CLI config).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_STACK_DIR = Path("cdktf.out/stacks/bootstrap")
DEFAULT_LOCAL_STATE = Path("terraform.bootstrap.tfstate")


class MoveError(Exception):
    """A precondition that stops the move before anything is written."""


def backend_of(stack_dir: Path) -> dict:
    """The synthesized backend block of the stack (``{"s3": {...}}`` once phase 2 is configured)."""
    try:
        document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MoveError(f"{stack_dir}/cdk.tf.json does not exist: run `python main.py bootstrap` first") from None
    return (document.get("terraform") or {}).get("backend") or {}


def terraform(stack_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", f"-chdir={stack_dir}", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


def checked(result: subprocess.CompletedProcess[str], *ok: int) -> subprocess.CompletedProcess[str]:
    if result.returncode not in (ok or (0,)):
        sys.stderr.write(result.stdout + result.stderr)
        raise subprocess.CalledProcessError(result.returncode, result.args)
    return result


def move_state(stack_dir: Path, local_state: Path) -> str:
    """Move ``local_state`` into the stack's S3 backend; returns where it went."""
    backend = backend_of(stack_dir).get("s3")
    if not backend:
        raise MoveError(f'{stack_dir} still uses local state: set [backend] bootstrap_state = "s3" and synthesize')
    if not local_state.is_file():
        raise MoveError(f"{local_state} does not exist: nothing to move (already moved, or phase 1 not applied)")
    checked(terraform(stack_dir, "init", "-input=false", "-no-color", "-reconfigure"))
    remote = checked(terraform(stack_dir, "state", "pull")).stdout.strip()
    if remote and json.loads(remote).get("resources"):
        raise MoveError(f"s3://{backend['bucket']}/{backend['key']} already holds state: not overwriting it")
    checked(terraform(stack_dir, "state", "push", "-no-color", str(local_state.resolve())))
    checked(terraform(stack_dir, "plan", "-input=false", "-no-color", "-detailed-exitcode"))
    local_state.rename(local_state.with_name(local_state.name + ".moved"))
    return f"s3://{backend['bucket']}/{backend['key']}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bootstrap_state", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--stack-dir", type=Path, default=DEFAULT_STACK_DIR)
    parser.add_argument("--local-state", type=Path, default=DEFAULT_LOCAL_STATE)
    args = parser.parse_args(argv)
    try:
        where = move_state(args.stack_dir, args.local_state)
    except MoveError as error:
        print(f"bootstrap_state: error: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"bootstrap_state: error: {' '.join(error.cmd)} exited {error.returncode}", file=sys.stderr)
        return 1
    print(f"bootstrap state moved to {where}; the local copy is now {args.local_state}.moved")
    return 0


if __name__ == "__main__":
    sys.exit(main())

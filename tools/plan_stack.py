"""Plan one environment stack against the AWS emulator: `make plan ENV=<env> EMULATOR=1`.

    python -m tools.plan_stack ENV OUT_DIR   ->   OUT_DIR/ENV.tfplan and OUT_DIR/ENV.plan.json

Creates the state bucket and the stack's state key in the emulator (as the bootstrap stack would, without
waiting for its lifecycle rules), synthesizes the stack alone with JAPANCART_AWS_ENDPOINT, that bucket and key
and the shipped configuration with every account set to the emulator's (the single-account layout) into a
scratch directory, then runs `terraform init`, `plan -out` and `show -json` for the stack.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from processor.contract import ENVIRONMENTS
from tools.emulator import start_emulator
from tools.operator_config import write_filled_config
from tools.terraform import TerraformCLI, copy_stack, synthesize

STATE_BUCKET = "japancart-plan-terraform-state"


def plan_environment(env: str, out: Path) -> None:
    """Write OUT/ENV.tfplan and OUT/ENV.plan.json: the stack planned against a fresh emulator."""
    if env not in ENVIRONMENTS:  # before a minute of emulator, synth and init
        raise SystemExit(f"ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    work = Path(tempfile.mkdtemp(prefix=f"plan-{env}-"))
    emulator = start_emulator()
    try:
        emulator.client("s3").create_bucket(
            Bucket=STATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": emulator.region}
        )
        key_arn = emulator.client("kms").create_key(Description=f"state of {env}")["KeyMetadata"]["Arn"]
        accounts = {name: emulator.account_id for name in ("backend", *ENVIRONMENTS)}
        config = write_filled_config(
            work / "environments.toml",
            bucket=STATE_BUCKET,
            accounts=accounts,
            repository="local/emulator-plan",
            repository_id=1,
        )
        stacks = synthesize(
            work / "cdktf.out",
            {
                "JAPANCART_AWS_ENDPOINT": emulator.endpoint,
                "JAPANCART_CONFIG": str(config),
                "JAPANCART_STATE_KEYS": json.dumps({env: key_arn}),
            },
            stacks=(env,),
        )
        cli = TerraformCLI.create(work / "cli", extra_env=emulator.terraform_env())
        stack = copy_stack(stacks / env, work / "run")
        cli.init(stack).check()
        plan = cli.plan_json(stack)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(stack / "tfplan.bin", out / f"{env}.tfplan")
        (out / f"{env}.plan.json").write_text(json.dumps(plan), encoding="utf-8")
        print("\n".join(f"{label}: {seconds:.1f}s" for label, seconds in cli.timings))
    finally:
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tools.plan_stack ENV OUT_DIR")
    plan_environment(sys.argv[1], Path(sys.argv[2]))

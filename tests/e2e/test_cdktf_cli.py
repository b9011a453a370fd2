"""The cdktf CLI path a user runs, for dev, against the AWS emulator: the Makefile's `cli-*` targets (what
`make deploy|diff|destroy|output ENV=dev AUTO_APPROVE=1` run after `make synth`) and raw `npx cdktf` commands.

One sequence, one emulator, as few applies as the checks allow:

1. `make cli-deploy`, started in a session of its own, gets a SIGINT to its whole process group (as a terminal's
   Ctrl-C) as soon as the Kinesis stream exists, i.e. while the provider waits for it (the one resource whose id
   Terraform learns only after that wait). Then: no lock object in the state bucket, and everything the run
   created in the emulator is in the state (the stream adopted by tools.graceful, the rest tainted or complete).
2. `make cli-deploy` again, with no manual step; `make cli-diff` shows no changes; `make cli-output`.
3. raw `npx cdktf destroy dev`, raw `npx cdktf deploy dev` right after (dev's secrets are deleted at once,
   `secret_recovery_days = 0`, so the same names come back), then `make cli-destroy`: destroy -> deploy across
   the raw CLI and the Makefile, and nothing left behind. (`--skip-synth`: the synthesized stacks are the
   emulator's; a raw synth would write the shipped configuration's.)

As the deploy job runs it: with a session of dev's apply role in dev's own account (the CI stacks applied
first), so the state bucket's per-environment denies and the provider's `allowed_account_ids` are in force.

Offline, the provider lock file written by `terraform init` is what keeps cdktf from running
`terraform providers lock` against the registry: the test runs without network and would fail otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from synthesis import TEST_ACCOUNTS
from tests.e2e.conftest import STATIC_AND_CLI_GROUP, ci_role
from tools.emulator import Emulator
from tools.emulator.inventory import inventory, untracked
from tools.terraform import TerraformCLI

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group(STATIC_AND_CLI_GROUP)]

ROOT = Path(__file__).resolve().parents[2]
NO_CHANGES = "No changes. Your infrastructure matches the configuration."
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STREAM = "japancart-dev-transactions"


def make_args(target: str, outdir: Path) -> list[str]:
    return ["make", "--no-print-directory", target, "ENV=dev", "AUTO_APPROVE=1", f"CDKTF_OUTDIR={outdir}"]


def make(target: str, outdir: Path, env: dict[str, str], *, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """`make <target> ENV=dev AUTO_APPROVE=1 CDKTF_OUTDIR=<outdir>`, no terminal (as CI runs it)."""
    return subprocess.run(
        make_args(target, outdir),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def cdktf(command: str, outdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The raw CLI, no Makefile: `npx cdktf <command> dev --skip-synth --auto-approve --output <outdir>`."""
    return subprocess.run(
        ["npx", "--no-install", "cdktf", command, "dev", "--skip-synth", "--auto-approve", "--output", str(outdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        stdin=subprocess.DEVNULL,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(result.args)} exited {result.returncode}:\n{output[-8000:]}"
    return output


@pytest.fixture(scope="module")
def dev_apply(emulator: Emulator, emulator_ci: dict) -> dict[str, str]:
    """A session of dev's apply role (the CI stacks applied first, in the order docs/deploying.md gives)."""
    return ci_role(emulator, "dev", "apply")


@pytest.fixture(scope="module")
def cli_env(emulator_terraform: TerraformCLI, dev_apply: dict[str, str]) -> dict[str, str]:
    if shutil.which("make") is None or not (ROOT / "node_modules" / ".bin" / "cdktf").exists():
        pytest.fail("needs GNU make and the cdktf CLI: run `make setup` (npm ci)")
    return {
        **emulator_terraform.env,  # CLI configuration (provider mirror), emulator region
        **dev_apply,  # dev's apply role, in dev's account
        "TF_PLUGIN_MIRROR": os.environ.get("TF_PLUGIN_MIRROR", ""),
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",  # the CLI configuration's plugin cache, not ~/.terraform.d
        "CI": "1",
    }


def interrupt_deploy_once_the_stream_exists(
    emulator: Emulator, outdir: Path, env: dict[str, str], dev: dict[str, str]
) -> tuple[int, str, float]:
    """`make cli-deploy` in its own session; SIGINT to its process group when the stream appears. Returns
    (exit status, output, seconds into the run when interrupted)."""
    kinesis = emulator.client("kinesis", credentials=dev)  # in dev's account
    assert STREAM not in kinesis.list_streams()["StreamNames"]
    run = subprocess.Popen(
        make_args("cli-deploy", outdir),
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    started = time.monotonic()
    try:
        while STREAM not in kinesis.list_streams()["StreamNames"]:
            assert run.poll() is None, f"the deploy ended before the stream existed:\n{run.communicate()[0][-6000:]}"
            assert time.monotonic() - started < 600, "no stream after 10 minutes"
            time.sleep(0.2)
        after = time.monotonic() - started
        os.killpg(run.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground process group
        output, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    return run.returncode, ANSI.sub("", output), after


def state_of(tf: TerraformCLI, stack: Path) -> dict[str, Any]:
    return json.loads(tf.run(["show", "-json", "-no-color"], stack).check().stdout)


def test_interrupt_then_deploy_diff_output_and_destroy_deploy_in_every_tool(
    emulator: Emulator,
    emulator_synth_dir: Path,
    emulator_terraform: TerraformCLI,
    cli_env: dict[str, str],
    dev_apply: dict[str, str],
    tmp_path: Path,
    e2e_summary,
) -> None:
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(emulator_synth_dir.parent, outdir)  # manifest.json + stacks/, as `make synth` leaves them
    stack = outdir / "stacks" / "dev"
    backend = json.loads((stack / "cdk.tf.json").read_text())["terraform"]["backend"]["s3"]
    s3 = emulator.client("s3")
    keep = dict(credentials=dev_apply)  # what the deploy makes lives in dev's account (the state bucket does not)
    before = inventory(emulator, **keep).found  # other tests share the emulator: judge only what this one adds

    refused = subprocess.run(
        ["make", "--no-print-directory", "cli-deploy", "ENV=dev", f"CDKTF_OUTDIR={outdir}"],
        cwd=ROOT,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode != 0 and "no terminal to approve on: pass AUTO_APPROVE=1" in refused.stderr
    assert not (stack / ".terraform").exists(), "refused before touching the state"

    # 1. Ctrl-C mid-apply: Terraform stops gracefully, nothing it created is lost, the lock is released.
    status, output, after = interrupt_deploy_once_the_stream_exists(emulator, outdir, cli_env, dev_apply)
    assert status != 0, output[-6000:]
    summary = [line for line in output.splitlines() if line.startswith("cdktf deploy dev: interrupted")]
    assert summary == [
        f"cdktf deploy dev: interrupted: Terraform stopped gracefully (state written, lock released); "
        f"adopted aws_kinesis_stream.{_stream_key(stack)} ({STREAM}), whose creation the stop cut off; "
        "run the same command again to continue."
    ], output[-6000:]
    assert "AbortError" not in output and "Error acquiring the state lock" not in output
    lock = f"{backend['key']}.tflock"
    assert s3.list_objects_v2(Bucket=backend["bucket"], Prefix=lock).get("KeyCount", 0) == 0, "the lock is released"
    interrupted = state_of(emulator_terraform.with_env(dev_apply), stack)
    in_state = len(interrupted["values"]["root_module"]["resources"])
    missing = added(untracked(emulator, interrupted, **keep), before)
    assert not missing, f"created by the interrupted deploy but missing from the state: {missing}"
    created = added(inventory(emulator, **keep).found, before)
    assert created.get("kinesis stream") == [STREAM] and created.get("ec2 vpc"), created

    # 2. make deploy again, no manual step; then no changes.
    ok(make("cli-deploy", outdir, cli_env))
    lockfile = (stack / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lockfile
    diff = ok(make("cli-diff", outdir, cli_env))
    assert NO_CHANGES in diff, diff[-4000:]
    ok(make("cli-output", outdir, cli_env))
    outputs = json.loads((outdir / "dev.outputs.json").read_text())["dev"]
    summary_stream = emulator.client("kinesis", credentials=dev_apply).describe_stream_summary(
        StreamName=outputs["kinesis_stream_name"]
    )
    assert summary_stream["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    assert {"redis_user_name", "db_secret_arn", "dead_letter_queue_url"} <= set(outputs)

    # 3. destroy -> deploy across the raw CLI and the Makefile.
    ok(cdktf("destroy", outdir, cli_env))
    secrets = emulator.client("secretsmanager", credentials=dev_apply).list_secrets(IncludePlannedDeletion=True)[
        "SecretList"
    ]
    assert not [s["Name"] for s in secrets if s["Name"].startswith("japancart/dev/")], "dev's secrets are gone at once"
    ok(cdktf("deploy", outdir, cli_env))  # the same names again, right away
    assert lockfile == (stack / ".terraform.lock.hcl").read_text(), "the lock file is kept, not re-locked"
    ok(make("cli-destroy", outdir, cli_env))
    left = added(inventory(emulator, **keep).found, before)
    assert not left, f"left behind: {left}"
    assert s3.list_objects_v2(Bucket=backend["bucket"], Prefix=lock).get("KeyCount", 0) == 0

    e2e_summary(
        f"cdktf CLI against moto {emulator.endpoint}, as japancart-dev-apply in {TEST_ACCOUNTS['dev']}: make deploy interrupted (SIGINT to its process group "
        f"{after:.0f}s in, as the stream appeared): lock released, {in_state} resources in state, nothing "
        f"created left out (stream adopted); make deploy again, diff (no changes), output ({len(outputs)} "
        "outputs); raw npx cdktf destroy, raw npx cdktf deploy, make destroy: nothing left"
    )


def added(found: dict[str, list[str]], before: dict[str, list[str]]) -> dict[str, list[str]]:
    """``found`` without what existed ``before`` (kinds with nothing new dropped)."""
    new = {kind: [i for i in items if i not in before.get(kind, [])] for kind, items in found.items()}
    return {kind: items for kind, items in new.items() if items}


def _stream_key(stack: Path) -> str:
    (key,) = json.loads((stack / "cdk.tf.json").read_text())["resource"]["aws_kinesis_stream"]
    return key

"""The cdktf CLI path a user runs, for dev, against the AWS emulator: the Makefile's `cli-*` targets (what
`make deploy|diff|destroy|output ENV=dev AUTO_APPROVE=1` run after `make synth`), i.e. `terraform init`
with the CLI configuration's mirror, then `npx cdktf deploy`, `diff` (no changes), `output`, `destroy`;
then deploy and destroy once more: dev's secrets are deleted at once (`secret_recovery_days = 0`), so a
destroyed dev comes back under the same names.

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
import subprocess
from pathlib import Path

import pytest

from synthesis import TEST_ACCOUNTS
from tests.e2e.conftest import ci_role
from tools.emulator import Emulator
from tools.terraform import TerraformCLI

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group("terraform-emulator")]

ROOT = Path(__file__).resolve().parents[2]
NO_CHANGES = "No changes. Your infrastructure matches the configuration."
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make(target: str, outdir: Path, env: dict[str, str], *, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    """`make <target> ENV=dev AUTO_APPROVE=1 CDKTF_OUTDIR=<outdir>`, no terminal (as CI runs it)."""
    return subprocess.run(["make", "--no-print-directory", target, "ENV=dev", "AUTO_APPROVE=1", f"CDKTF_OUTDIR={outdir}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(result.args)} exited {result.returncode}:\n{output[-8000:]}"
    return output


@pytest.fixture(scope="module")
def dev_apply(emulator: Emulator, emulator_ci: dict) -> dict[str, str]:
    """A session of dev's apply role (the CI stacks applied first, as in the README's order)."""
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


def test_deploy_diff_output_destroy_and_redeploy_dev(emulator: Emulator, emulator_synth_dir: Path, cli_env: dict[str, str],
                                                     dev_apply: dict[str, str], tmp_path: Path, e2e_summary) -> None:
    outdir = tmp_path / "cdktf.out"
    shutil.copytree(emulator_synth_dir.parent, outdir)  # manifest.json + stacks/, as `make synth` leaves them
    stack = outdir / "stacks" / "dev"

    refused = subprocess.run(["make", "--no-print-directory", "cli-deploy", "ENV=dev", f"CDKTF_OUTDIR={outdir}"], cwd=ROOT,
                             env=cli_env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode != 0 and "no terminal to approve on: pass AUTO_APPROVE=1" in refused.stderr
    assert not (stack / ".terraform").exists(), "refused before touching the state"

    ok(make("cli-deploy", outdir, cli_env))
    lock = (stack / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock

    diff = ok(make("cli-diff", outdir, cli_env))
    assert NO_CHANGES in diff, diff[-4000:]

    ok(make("cli-output", outdir, cli_env))
    outputs = json.loads((outdir / "dev.outputs.json").read_text())["dev"]
    stream = emulator.client("kinesis", credentials=dev_apply).describe_stream_summary(StreamName=outputs["kinesis_stream_name"])
    assert stream["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    assert {"redis_user_name", "db_secret_arn", "dead_letter_queue_url"} <= set(outputs)

    ok(make("cli-destroy", outdir, cli_env))
    secrets = emulator.client("secretsmanager", credentials=dev_apply).list_secrets(IncludePlannedDeletion=True)["SecretList"]
    assert not [s["Name"] for s in secrets if s["Name"].startswith("japancart/dev/")], "dev's secrets are gone at once"

    ok(make("cli-deploy", outdir, cli_env))  # the same names again, right away
    assert lock == (stack / ".terraform.lock.hcl").read_text(), "the lock file is kept, not re-locked"
    ok(make("cli-destroy", outdir, cli_env))
    e2e_summary(f"cdktf CLI against moto {emulator.endpoint}, as japancart-dev-apply in {TEST_ACCOUNTS['dev']}: "
                f"deploy, diff (no changes), output ({len(outputs)} outputs), destroy, redeploy, destroy: all through "
                "the Makefile's cli-* targets")

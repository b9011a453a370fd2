"""Fixtures for the real-Terraform tests (``-m terraform``): synth once, one Terraform env, one emulator.

Heavy things are session-scoped and created lazily, only by the tests that need them:

* ``synth_dir``          -- ``python main.py`` with the default configuration into a session tmp
  ``CDKTF_OUTDIR`` (validate and checkov read it; never ``cdktf.out``, which other engineers use).
* ``terraform_cli``      -- ``tools.terraform.TerraformCLI`` (CLI config from ``TF_PLUGIN_MIRROR``,
  shared plugin cache); skips with an install hint where ``terraform`` is not on PATH.
* ``emulator``           -- moto server on 127.0.0.1:<free port> with the documented gap patches.
* ``emulator_bootstrap`` -- phase 1 of the bootstrap against the emulator: ``python main.py bootstrap``,
  ``terraform apply`` with local state in its working copy, as the operator of the bucket's account (moto's
  default account); the state bucket and every stack's state key exist.
* ``emulator_synth_dir`` -- ``python main.py`` with ``JAPANCART_AWS_ENDPOINT``, the tests' filled-in
  configuration (one account per environment) and ``JAPANCART_STATE_KEYS`` (the bootstrap's
  ``state_key_arns``), as an operator runs it.
* ``emulator_ci``        -- every ``ci-<account>`` stack applied by an operator of its account (a session of
  that account: moto acts in the account of the session's role), so the environments' roles exist.

Under ``make test`` (``-n 2 --dist loadgroup``) the static checks and the emulator round trip are two
xdist groups, so each worker builds only the fixtures its group needs, and the groups run in parallel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from synthesis import STACK_NAMES, TEST_ACCOUNTS, TEST_CONFIG
from tools.terraform import INSTALL_HINT, SynthError, TerraformCLI, copy_stack, local_backend_args, terraform_binary
from tools.terraform import synthesize as support_synthesize

ROOT = Path(__file__).resolve().parents[2]
STATE_BUCKET = "japancart-e2e-terraform-state"
SYNTH_TIMEOUT = 600

#: xdist groups (Makefile runs ``-n 2 --dist loadgroup``; xdist hands its two largest work units, these groups, one
#: to each worker, then the other tests to whichever runs low). Test modules mark themselves with one of them:
#: ``ROUNDTRIP_GROUP``: the emulator round trips of every environment, at once, on one emulator;
#: ``STATIC_AND_CLI_GROUP``: terraform validate, checkov and the cdktf CLI path. The CLI path deploys and destroys
#: dev, so it cannot share the round trips' emulator while they run; on the other worker it gets one of its own
#: (session fixtures are per worker) and the two long sequences overlap instead of following each other.
ROUNDTRIP_GROUP = "terraform-emulator"
STATIC_AND_CLI_GROUP = "terraform-static-and-cli"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "terraform: drives the real Terraform CLI / checkov / the AWS emulator (skipped without terraform on PATH)",
    )


def _print(msg: str) -> None:
    """Write straight to the terminal (visible with -s, and in the captured output of failures)."""
    print(msg, flush=True)


def synthesize(outdir: Path, extra_env: dict[str, str] | None = None, only: tuple[str, ...] = ()) -> Path:
    """``python main.py [STACK ...]`` into ``outdir``; fails the test with main.py's output if it fails."""
    start = time.monotonic()
    try:
        stacks = support_synthesize(outdir, extra_env, root=ROOT, timeout=SYNTH_TIMEOUT, stacks=only)
    except SynthError as error:
        pytest.fail(str(error))
    missing = [n for n in (only or STACK_NAMES) if not (stacks / n / "cdk.tf.json").is_file()]
    assert not missing, f"main.py did not synthesize {missing} into {stacks}"
    _print(
        f"\n[e2e] synthesized {sorted(p.name for p in stacks.iterdir())} in {time.monotonic() - start:.1f}s -> {stacks}"
    )
    return stacks


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthesis import TEST_BACKEND

    return synthesize(tmp_path_factory.mktemp("synth-default") / "cdktf.out", dict(TEST_BACKEND))


@pytest.fixture(scope="session")
def terraform_cli(tmp_path_factory: pytest.TempPathFactory) -> TerraformCLI:
    if terraform_binary() is None:
        pytest.fail(INSTALL_HINT)
    tf = TerraformCLI.create(tmp_path_factory.mktemp("terraform"))
    _print(f"\n[e2e] terraform providers: {tf.providers.describe()}")
    return tf


@pytest.fixture(scope="session")
def emulator() -> Iterator[object]:
    from tools.emulator import start_emulator

    emu = start_emulator()
    _print(f"\n[e2e] moto emulator on {emu.endpoint}; gap patches: {', '.join(emu.patches)}")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def emulator_bootstrap(
    tmp_path_factory: pytest.TempPathFactory, emulator, emulator_terraform: TerraformCLI
) -> dict[str, Any]:
    """Phase 1 of the bootstrap, as docs/deploying.md has it: synthesize the bootstrap stack alone (no state keys yet),
    apply it with local state (kept in its working copy), read its outputs."""
    root = tmp_path_factory.mktemp("bootstrap")
    env = {
        "JAPANCART_AWS_ENDPOINT": emulator.endpoint,
        "JAPANCART_CONFIG": str(TEST_CONFIG),
        "JAPANCART_STATE_BUCKET": STATE_BUCKET,
    }
    assert TEST_ACCOUNTS["backend"] == emulator.account_id, "the default credentials are the bucket account's"
    stacks = synthesize(root / "cdktf.out", env, only=("bootstrap",))
    work = copy_stack(stacks / "bootstrap", root / "run")
    emulator_terraform.init(work, extra=local_backend_args(work)).check()
    apply = emulator_terraform.apply(work).check()
    outputs = emulator_terraform.output_json(work)
    return {
        "bucket": outputs["state_bucket"]["value"],
        "keys": outputs["state_key_arns"]["value"],
        "dir": work,
        "apply_seconds": apply.seconds,
        "env": env,
    }


@pytest.fixture(scope="session")
def emulator_synth_dir(tmp_path_factory: pytest.TempPathFactory, emulator_bootstrap: dict[str, Any]) -> Path:
    """Every stack, synthesized after phase 1 with the bootstrap's state keys."""
    return synthesize(
        tmp_path_factory.mktemp("synth-emulator") / "cdktf.out",
        {**emulator_bootstrap["env"], "JAPANCART_STATE_KEYS": json.dumps(emulator_bootstrap["keys"])},
    )


def operator_of(emulator, account: str) -> dict[str, str]:
    """Credentials of an operator of `account` (a session of its administrator role: moto creates none, and needs
    none, but the session acts in that account)."""
    return emulator.session_credentials(f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole")


def ci_role(emulator, env: str, kind: str) -> dict[str, str]:
    """Credentials of `japancart-<env>-<kind>` assumed with a web identity token, as a workflow job does."""
    return emulator.session_credentials(
        f"arn:aws:iam::{TEST_ACCOUNTS[env]}:role/japancart-{env}-{kind}", web_identity=True
    )


@pytest.fixture(scope="session")
def emulator_ci(
    tmp_path_factory: pytest.TempPathFactory, emulator, emulator_terraform: TerraformCLI, emulator_synth_dir: Path
) -> dict[str, dict[str, Any]]:
    """Every CI stack applied by its account's operator, in the bucket under its own prefix and key. Per stack:
    working dir, the Terraform CLI with the operator's credentials, apply seconds, state identifiers."""
    from tools.emulator.inventory import state_identifiers

    root = tmp_path_factory.mktemp("ci")
    applied: dict[str, dict[str, Any]] = {}
    for stack in (name for name in STACK_NAMES if name.startswith("ci-")):
        credentials = operator_of(emulator, stack.removeprefix("ci-"))
        tf = emulator_terraform.with_env(credentials)
        work = copy_stack(emulator_synth_dir / stack, root)
        tf.init(work).check()
        apply = tf.apply(work).check()
        shown = json.loads(tf.run(["show", "-json", "-no-color"], work).check().stdout)
        applied[stack] = {
            "dir": work,
            "tf": tf,
            "credentials": credentials,
            "apply_seconds": apply.seconds,
            "identifiers": state_identifiers(shown),
        }
    return applied


@pytest.fixture(scope="session")
def emulator_terraform(tmp_path_factory: pytest.TempPathFactory, emulator) -> TerraformCLI:
    """A TerraformCLI whose runs carry the emulator's test credentials/region."""
    if terraform_binary() is None:
        pytest.fail(INSTALL_HINT)
    tf = TerraformCLI.create(tmp_path_factory.mktemp("terraform-emulator"), extra_env=emulator.terraform_env())
    _print(f"\n[e2e] terraform providers: {tf.providers.describe()}")
    return tf


# Summaries printed at the end of the run: see tests/e2e/summary.py (also usable as ``-p tests.e2e.summary``).
from tests.e2e.summary import SUMMARY_KEY, pytest_runtest_logreport, pytest_terminal_summary  # noqa: E402,F401


@pytest.fixture
def e2e_summary(record_property):
    """Call with a text block; it is printed in the terminal summary ("e2e summary") whatever the capture."""

    def add(text: str) -> None:
        _print(text)
        record_property(SUMMARY_KEY, text)

    return add

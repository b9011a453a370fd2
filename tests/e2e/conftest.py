"""Fixtures for the real-Terraform tests (``-m terraform``): synth once, one Terraform env, one emulator.

Heavy things are session-scoped and created lazily, only by the tests that need them:

* ``synth_dir``          -- ``python main.py`` with the default configuration into a session tmp
  ``CDKTF_OUTDIR`` (validate and checkov read it; never ``cdktf.out``, which other engineers use).
* ``terraform_cli``      -- ``tests.support.terraform.TerraformCLI`` (CLI config from ``TF_PLUGIN_MIRROR``,
  stand-ins, shared plugin cache); skips with an install hint where ``terraform`` is not on PATH.
* ``emulator``           -- moto server on 127.0.0.1:<free port> with the documented gap patches.
* ``emulator_synth_dir`` -- ``python main.py`` with ``JAPANCART_AWS_ENDPOINT``/``JAPANCART_STATE_BUCKET``.

Under ``make test`` (``-n 2 --dist loadgroup``) the static checks and the emulator round trip are two
xdist groups, so each worker builds only the fixtures its group needs, and the groups run in parallel.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.terraform import INSTALL_HINT, SynthError, TerraformCLI, terraform_binary
from tests.support.terraform import synthesize as support_synthesize

ROOT = Path(__file__).resolve().parents[2]
STACK_NAMES = ("bootstrap", "dev", "staging", "prod")
STATE_BUCKET = "japancart-e2e-terraform-state"
SYNTH_TIMEOUT = 600

#: xdist groups (Makefile runs ``--dist loadgroup``): test modules mark themselves with
#: ``pytest.mark.xdist_group("terraform-static")`` or ``pytest.mark.xdist_group("terraform-emulator")``.


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "terraform: drives the real Terraform CLI / checkov / the AWS emulator (skipped without terraform on PATH)",
    )


def _print(msg: str) -> None:
    """Write straight to the terminal (visible with -s, and in the captured output of failures)."""
    print(msg, flush=True)


def synthesize(outdir: Path, extra_env: dict[str, str] | None = None) -> Path:
    """``python main.py`` into ``outdir``; fails the test with main.py's output if it fails."""
    start = time.monotonic()
    try:
        stacks = support_synthesize(outdir, extra_env, root=ROOT, timeout=SYNTH_TIMEOUT)
    except SynthError as error:
        pytest.fail(str(error))
    missing = [n for n in STACK_NAMES if not (stacks / n / "cdk.tf.json").is_file()]
    assert not missing, f"main.py did not synthesize {missing} into {stacks}"
    _print(f"\n[e2e] synthesized {sorted(p.name for p in stacks.iterdir())} in {time.monotonic() - start:.1f}s -> {stacks}")
    return stacks


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / "main.py").is_file():
        pytest.skip("main.py not present yet")
    return synthesize(tmp_path_factory.mktemp("synth-default") / "cdktf.out")


@pytest.fixture(scope="session")
def terraform_cli(tmp_path_factory: pytest.TempPathFactory) -> TerraformCLI:
    if terraform_binary() is None:
        pytest.skip(INSTALL_HINT)
    tf = TerraformCLI.create(tmp_path_factory.mktemp("terraform"))
    _print(f"\n[e2e] terraform providers: {tf.providers.describe()}")
    return tf


@pytest.fixture(scope="session")
def emulator() -> Iterator["object"]:
    from tests.support.emulator import start_emulator

    emu = start_emulator()
    _print(f"\n[e2e] moto emulator on {emu.endpoint}; gap patches: {', '.join(emu.patches)}")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def emulator_synth_dir(tmp_path_factory: pytest.TempPathFactory, emulator) -> Path:
    if not (ROOT / "main.py").is_file():
        pytest.skip("main.py not present yet")
    return synthesize(
        tmp_path_factory.mktemp("synth-emulator") / "cdktf.out",
        {"JAPANCART_AWS_ENDPOINT": emulator.endpoint, "JAPANCART_STATE_BUCKET": STATE_BUCKET},
    )


@pytest.fixture(scope="session")
def emulator_terraform(tmp_path_factory: pytest.TempPathFactory, emulator) -> TerraformCLI:
    """A TerraformCLI whose runs carry the emulator's test credentials/region."""
    if terraform_binary() is None:
        pytest.skip(INSTALL_HINT)
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

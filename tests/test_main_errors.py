"""A value that passes the configuration's own checks but not a construct's still stops synth in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from config_files import write_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_construct_refusing_a_derived_name_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    # 20 characters is a valid project name, but "<project>-staging-history" is too long for ElastiCache.
    config = write_config(tmp_path, {"staging": {}}, project={"name": "abcdefghijklmnopqrst"})
    outdir = tmp_path / "cdktf.out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "JAPANCART_CONFIG": str(config), "CDKTF_OUTDIR": str(outdir)},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    # Named as the configuration field the name came from, with what it made.
    assert line.startswith("configuration error: project.name must be ") and "'abcdefghijklmnopqrst-staging-" in line
    assert line.endswith("got 'abcdefghijklmnopqrst'")
    assert not outdir.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["environments.toml"]


@pytest.mark.slow
def test_review_synth_works_on_a_fresh_checkout_before_a_state_bucket_exists(tmp_path: Path) -> None:
    """`make synth` (review) works on a fresh checkout; it says on one line what deploying will need."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAPANCART_")}
    outdir = tmp_path / "cdktf.out"
    env["CDKTF_OUTDIR"] = str(outdir)
    review = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--review"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert review.returncode == 0, review.stderr
    [note] = review.stderr.strip().splitlines()
    assert note.startswith("note: synthesized for review only; before deploying, backend.bucket must be")
    assert (outdir / "stacks" / "prod" / "cdk.tf.json").is_file()
    # The strict synth's one-line refusal is tests/test_config.py::test_synth_refuses_the_placeholder_bucket.

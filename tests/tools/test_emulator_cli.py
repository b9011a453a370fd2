"""`python -m tools.emulator` (what `make emulator` runs) as a user runs it: a real moto server on 127.0.0.1,
the exports it prints actually reach it, its Terraform CLI config takes providers from the mirror (the rest
direct), and SIGTERM stops it (port closed, exports file gone)."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "# Ctrl-C or SIGTERM stops it."


def fake_mirror(root: Path) -> Path:
    """A filesystem mirror holding hashicorp/aws, the only provider the stacks use."""
    package = root / "registry.terraform.io" / "hashicorp" / "aws" / "5.0.0" / "linux_amd64"
    package.mkdir(parents=True)
    (package / "terraform-provider-aws_v5.0.0").write_text("not run by these tests\n")
    return root


def start_cli(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_PLUGIN_MIRROR": str(fake_mirror(tmp_path / "mirror"))}
    return subprocess.Popen(
        [sys.executable, "-m", "tools.emulator", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def read_until_ready(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[list[str], queue.Queue[str]]:
    """stdout lines up to and including READY_LINE, and the queue later lines keep arriving on (a reader
    thread: a selector would miss lines already in the pipe's text buffer); fails if the CLI dies or stalls."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line.rstrip("\n")) for line in iter(proc.stdout.readline, "")], daemon=True
    ).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            continue
        if seen[-1] == READY_LINE:
            return seen, lines
    proc.kill()
    pytest.fail(f"emulator CLI not ready (exit {proc.poll()}):\n" + "\n".join(seen) + "\n" + proc.stderr.read())


def parse_exports(lines: list[str]) -> dict[str, str]:
    exports = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            exports[name] = shlex.split(value)[0] if value else ""
    return exports


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], queue.Queue[str], Path]]:
    workdir = tmp_path / "emulator"
    proc = start_cli(tmp_path, "--port", "0", "--dir", str(workdir))
    try:
        yield proc, *read_until_ready(proc), workdir
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_exports_reach_the_emulator_and_sigterm_stops_it(running, tmp_path: Path) -> None:
    proc, lines, later_lines, workdir = running
    exports = parse_exports(lines)
    endpoint = exports["JAPANCART_AWS_ENDPOINT"]
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    port = int(endpoint.rsplit(":", 1)[1])
    assert "unset AWS_PROFILE AWS_SESSION_TOKEN" in lines
    trial = Path(exports["JAPANCART_CONFIG"])  # the shipped configuration filled in for the trial: one account
    assert trial.parent == workdir and 'account_id = "123456789012"' in trial.read_text()
    assert (
        'bucket = "japancart-trial-state"' in trial.read_text()
        and 'account_id = "444455556666"' not in trial.read_text()
    )
    assert exports["AWS_EC2_METADATA_DISABLED"] == "true"
    assert exports["CDKTF_DISABLE_PLUGIN_CACHE_ENV"] == "1"

    session = boto3.Session(
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_REGION"],
    )
    assert session.client("sts", endpoint_url=endpoint).get_caller_identity()["Account"].isdigit()
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="trial-state", CreateBucketConfiguration={"LocationConstraint": exports["AWS_REGION"]})
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["trial-state"]

    cli_config = Path(exports["TF_CLI_CONFIG_FILE"])
    assert cli_config.parent == workdir
    text = cli_config.read_text()
    assert f'path    = "{tmp_path / "mirror"}"\n    include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert 'direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }' in text
    assert "local-emulator trial ONLY" in text and "random" not in text
    assert not (workdir / "standin-mirror").exists()
    env_file = workdir / "env.sh"
    assert env_file.read_text().splitlines() == [line for line in lines if line.startswith(("export ", "unset "))]

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, proc.stderr.read()
    time.sleep(0.5)  # the reader thread hands over the last lines
    assert "# emulator stopped" in list(later_lines.queue)
    assert not port_open(port), "port still open after SIGTERM"
    assert not env_file.exists(), "exports of a stopped emulator left behind"


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start_cli(tmp_path, "--port", str(port), "--dir", str(tmp_path / "emulator"))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"python -m tools.emulator: --port {port} is in use on 127.0.0.1; pick another (0: a free one)"
    ]


def test_port_out_of_range_names_the_value(tmp_path: Path) -> None:
    proc = start_cli(tmp_path, "--port", "70000", "--dir", str(tmp_path / "emulator"))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--port must be 0-65535, got 70000" in err

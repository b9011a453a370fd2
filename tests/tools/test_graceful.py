"""`python -m tools.graceful` (what make deploy|destroy|bootstrap run cdktf through) with stand-ins for the two
processes it deals with, shaped like the real ones:

* `cdktf`: starts `terraform` in a session of its own (as cdktf's node-pty does), waits for it and exits with its
  code; if it is ever interrupted itself, it does what cdktf 0.20 does: hangs Terraform up (SIGHUP) and exits at once.
* `terraform`: on the first SIGINT it "stops gracefully" (takes a moment, then exits 1), on a second one it exits at
  once; a SIGHUP kills it mid-stop. It logs every signal.

The SIGINT goes to the whole process group of the tool, started in its own session, as a terminal sends it.
The real thing (cdktf, Terraform, the emulator) is tests/e2e/test_cdktf_cli.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CDKTF = """#!{python}
import os, signal, subprocess, sys, time
open(os.environ["STAND_IN_LOG"] + ".cdktf-started", "w").close()  # the tool is supervising: its handlers are set
time.sleep(float(os.environ.get("STAND_IN_DELAY", "0")))
# Terraform handles SIGINT from its first instant; this Python stand-in needs a moment to start, so it starts with
# SIGINT blocked (inherited across exec) and unblocks it once its handler is set: an early SIGINT waits, not kills.
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT}})
terraform = subprocess.Popen([os.path.join(os.path.dirname(__file__), "terraform")], start_new_session=True)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})
def aborted(signum, frame):  # cdktf's onAbort: Ctrl-C into the pty, exit without waiting -> SIGHUP
    with open(os.environ["STAND_IN_LOG"], "a") as log:
        log.write("cdktf got %d\\n" % signum)
    terraform.send_signal(signal.SIGHUP)
    sys.exit(1)
signal.signal(signal.SIGINT, aborted)
sys.exit(terraform.wait())
"""

TERRAFORM = """#!{python}
import os, signal, sys, time
log = open(os.environ["STAND_IN_LOG"], "a", buffering=1)
received = []
def interrupted(signum, frame):
    received.append(signum)
    log.write("terraform got SIGINT\\n")
    if len(received) > 1:
        log.write("terraform: exiting immediately\\n")
        os._exit(2)
def hung_up(signum, frame):
    log.write("terraform got SIGHUP: killed mid-stop\\n")
    os._exit(129)
signal.signal(signal.SIGINT, interrupted)
signal.signal(signal.SIGHUP, hung_up)
log.write("terraform running\\n")
signal.pthread_sigmask(signal.SIG_UNBLOCK, {{signal.SIGINT}})  # an interrupt sent while it started arrives now
while not received:
    time.sleep(0.05)
time.sleep(float(os.environ.get("STAND_IN_STOP_SECONDS", "1")))  # finishing what is in flight
log.write("terraform: state written, lock released\\n")
sys.exit(1)
"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    for name, text in (("cdktf", CDKTF), ("terraform", TERRAFORM)):
        script = tmp_path / name
        script.write_text(text.format(python=sys.executable), encoding="utf-8")
        script.chmod(0o755)
    return tmp_path


def start(stand_ins: Path, **env: str) -> tuple[subprocess.Popen[str], Path]:
    log = stand_ins / "signals.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.graceful", str(stand_ins / "cdktf"), "deploy", "dev"],
        cwd=ROOT,
        env={**os.environ, "STAND_IN_LOG": str(log), **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return process, log


def wait_for(log: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log: {log.read_text() if log.exists() else '(none)'}")


def test_ctrl_c_reaches_terraform_once_and_it_stops_gracefully(stand_ins: Path) -> None:
    process, log = start(stand_ins)
    wait_for(log, "terraform running")
    os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C: the whole foreground process group
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGINT, (process.returncode, err)  # ends as interrupted, for make
    assert log.read_text().splitlines() == [
        "terraform running",
        "terraform got SIGINT",
        "terraform: state written, lock released",
    ]
    assert err.strip().splitlines()[-1] == (
        "cdktf deploy dev: interrupted: Terraform stopped gracefully (state written, "
        "lock released); run the same command again to continue."
    )


def test_without_the_tool_cdktf_hangs_terraform_up(stand_ins: Path) -> None:
    """What make deploy did before: Ctrl-C reaches cdktf, which kills Terraform mid-stop (the stand-ins' realism)."""
    log = stand_ins / "signals.log"
    process = subprocess.Popen(
        [str(stand_ins / "cdktf")], env={**os.environ, "STAND_IN_LOG": str(log)}, start_new_session=True
    )
    wait_for(log, "terraform running")
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=30)
    wait_for(log, "terraform got SIGHUP: killed mid-stop")
    assert "state written" not in log.read_text()


def test_a_second_ctrl_c_is_forwarded_with_a_warning(stand_ins: Path) -> None:
    process, log = start(stand_ins, STAND_IN_STOP_SECONDS="30")
    wait_for(log, "terraform running")
    os.killpg(process.pid, signal.SIGINT)
    wait_for(log, "terraform got SIGINT")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGINT
    assert log.read_text().splitlines() == [
        "terraform running",
        "terraform got SIGINT",
        "terraform got SIGINT",
        "terraform: exiting immediately",
    ]
    assert "second interrupt: Terraform stops at once" in err
    assert err.strip().splitlines()[-1].startswith("cdktf deploy dev: interrupted twice: Terraform was stopped at once")


def test_an_interrupt_before_terraform_starts_stops_it_as_it_starts(stand_ins: Path) -> None:
    process, log = start(stand_ins, STAND_IN_DELAY="3")
    # Once cdktf has started, the tool's handlers are set; Terraform starts 3 s later. (A fixed sleep here lost
    # the race on a loaded machine: the SIGINT arrived before the tool had started.)
    wait_for(log.with_name(log.name + ".cdktf-started"), "")
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert "Terraform will stop gracefully as soon as it starts" in err
    assert log.read_text().splitlines() == [
        "terraform running",
        "terraform got SIGINT",
        "terraform: state written, lock released",
    ]
    assert "cdktf got" not in log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_are_interrupts_too(stand_ins: Path, signum: int) -> None:
    """A CI runner cancelling the job (SIGTERM), a closed terminal or dropped ssh session (SIGHUP)."""
    process, log = start(stand_ins)
    wait_for(log, "terraform running")
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    assert process.returncode == -signum
    assert log.read_text().splitlines() == [
        "terraform running",
        "terraform got SIGINT",
        "terraform: state written, lock released",
    ]


def test_without_an_interrupt_the_exit_code_passes_through(stand_ins: Path, tmp_path: Path) -> None:
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    failing.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "tools.graceful", str(failing)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stderr) == (3, "")


def test_terraform_is_found_by_name_among_descendants() -> None:
    from tools.graceful import terraform_under

    table = [
        (10, 1, "npm exec cdktf"),
        (11, 10, "sh"),
        (12, 11, "node"),
        (13, 12, "terraform"),
        (14, 13, "terraform-provi"),
        (15, 12, "terraform"),
        (20, 1, "terraform"),
    ]  # 20: not ours
    assert terraform_under(10, table, "terraform") == [13, 15]
    assert terraform_under(20, table, "terraform") == [20]


def test_label_names_the_cdktf_command() -> None:
    from tools.graceful import label_of

    assert (
        label_of(["npx", "--no-install", "cdktf", "deploy", "dev", "--skip-synth", "--output", "x"])
        == "cdktf deploy dev"
    )

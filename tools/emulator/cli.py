"""Command line: ``python -m tools.emulator`` / ``make emulator``, the emulator for a person at a shell.  Starts it
in the foreground, writes the trial's Terraform CLI config and configuration (``build/emulator``), prints the
exports for the make targets (also in ``<dir>/env.sh``) and runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tools.emulator.server import Emulator, start_emulator

#: Project-local and git-ignored (``/build/``): the CLI config and the exports file.
EMULATOR_DIR = Path(__file__).resolve().parents[2] / "build" / "emulator"
DEFAULT_PORT = 4566
FIND_MIRROR_SCRIPT = Path(__file__).resolve().parents[1] / "find-provider-mirror.sh"
CLI_CONFIG_HEADER = "# Written by `python -m tools.emulator`: for the local-emulator trial ONLY.\n"


def provider_mirror() -> str | None:
    """TF_PLUGIN_MIRROR, else what tools/find-provider-mirror.sh finds on disk, else None (online)."""
    import subprocess

    found = subprocess.run(["sh", str(FIND_MIRROR_SCRIPT)], capture_output=True, text=True, check=False).stdout.strip()
    return found or None


def write_cli_config(workdir: Path, mirror: str | None) -> Path:
    """A Terraform CLI config for the trial: ``mirror``'s providers, the rest direct.  Same rule as the test
    harness (``tools.terraform.decide_providers``), no plugin cache."""
    from tools.terraform import decide_providers, render_cli_config

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "terraform.tfrc"
    config.write_text(CLI_CONFIG_HEADER + render_cli_config(decide_providers(mirror or ""), None), encoding="utf-8")
    return config


#: The trial's state bucket (the trial configuration's `[backend] bucket`).
TRIAL_STATE_BUCKET = "japancart-trial-state"
#: The trial configuration's repository: the CI roles trust it, and no workflow runs there.
TRIAL_REPOSITORY = "local/emulator-trial"


def write_trial_config(workdir: Path, emulator: Emulator) -> Path:
    """The shipped configuration, filled in for the trial: the trial bucket, every account the emulator's
    default one (the single-account layout, so the exported credentials deploy every stack), a local repository.
    The trial edits this copy (phase 2 of the bootstrap), never config/environments.toml."""
    from processor.contract import ENVIRONMENTS
    from tools.operator_config import write_filled_config

    accounts = {name: emulator.account_id for name in ("backend", *ENVIRONMENTS)}
    return write_filled_config(
        workdir / "environments.toml",
        bucket=TRIAL_STATE_BUCKET,
        accounts=accounts,
        repository=TRIAL_REPOSITORY,
        repository_id=1,
    )


def shell_exports(emulator: Emulator, cli_config: Path, config: Path) -> list[str]:
    """The lines a user pastes: the emulator endpoint and the trial configuration for synthesis, its credentials
    and region for terraform/cdktf/boto3, the trial CLI config, and no real AWS profile or session token leaking in."""
    import shlex

    env = {
        "JAPANCART_AWS_ENDPOINT": emulator.endpoint,
        "JAPANCART_CONFIG": str(config),
        **{k: v for k, v in emulator.terraform_env().items() if k != "AWS_PROFILE"},
        "TF_CLI_CONFIG_FILE": str(cli_config),
        # cdktf would otherwise set TF_PLUGIN_CACHE_DIR=~/.terraform.d/plugin-cache and copy providers there
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    }
    return ["unset AWS_PROFILE AWS_SESSION_TOKEN"] + [f"export {k}={shlex.quote(v)}" for k, v in env.items()]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the emulator in the foreground until Ctrl-C or SIGTERM; print the exports for `make` targets."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tools.emulator", description=main.__doc__)
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (0: a free one; default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--dir", type=Path, default=EMULATOR_DIR, help="where the CLI config and exports go (default: build/emulator)"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.port and not port_is_free(args.port):  # moto's server thread would die and start() wait forever
        parser.exit(
            2, f"python -m tools.emulator: --port {args.port} is in use on 127.0.0.1; pick another (0: a free one)\n"
        )
    emulator = start_emulator(port=args.port)
    try:
        cli_config = write_cli_config(args.dir, provider_mirror())
        exports = shell_exports(emulator, cli_config, write_trial_config(args.dir, emulator))
        env_file = args.dir / "env.sh"
        env_file.write_text("\n".join(exports) + "\n", encoding="utf-8")
        print(f"# AWS emulator (moto, in memory: everything is gone when it stops) on {emulator.endpoint}", flush=True)
        print(f"# In the shell you run make in: source {env_file}   (or paste:)", flush=True)
        print("\n".join(exports), flush=True)
        print("# Ctrl-C or SIGTERM stops it.", flush=True)
        stop.wait()
    finally:
        emulator.stop()
        (args.dir / "env.sh").unlink(missing_ok=True)  # its endpoint is dead now
        print("# emulator stopped", flush=True)
    return 0

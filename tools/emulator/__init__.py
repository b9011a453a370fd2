"""AWS emulator for tests and tools: moto in server mode, in-process, on 127.0.0.1, plus documented gap patches.

Usage::

    from tools.emulator import start_emulator
    emu = start_emulator()            # ThreadedMotoServer on 127.0.0.1:<free port>, gap patches applied
    emu.endpoint                      # "http://127.0.0.1:<port>" -> JAPANCART_AWS_ENDPOINT for `python main.py`
    emu.terraform_env()               # env for terraform runs (test credentials, region, no IMDS)
    emu.client("kinesis")             # boto3 client pointed at the emulator
    emu.reset(); emu.stop()

From a shell (``make emulator``; docs/deploying.md, "Trying it against the local emulator")::

    python -m tools.emulator [--port 4566] [--dir build/emulator]
    # prints the exports for make bootstrap/deploy/diff/destroy (also in <dir>/env.sh) and runs until
    # Ctrl-C or SIGTERM; <dir>/terraform.tfrc: providers from the mirror (or the registry), trial only;
    # <dir>/environments.toml: the shipped configuration filled in for the trial (one account: moto's)

Real plan JSON of a stack against the emulator (e.g. for the plan-risk report)::

    from tools.emulator.cli import write_trial_config
    from tools.terraform import TerraformCLI, copy_stack, local_backend_args, synthesize
    env = {"JAPANCART_AWS_ENDPOINT": emu.endpoint, "JAPANCART_CONFIG": str(write_trial_config(tmp, emu))}
    tf = TerraformCLI.create(tmp / "tf", extra_env=emu.terraform_env())
    boot = copy_stack(synthesize(tmp / "boot", env, stacks=("bootstrap",)) / "bootstrap", tmp)  # the bucket, the keys
    tf.init(boot, extra=local_backend_args(boot)).check(); tf.apply(boot).check()
    keys = json.dumps(tf.output_json(boot)["state_key_arns"]["value"])
    stacks = synthesize(tmp / "cdktf.out", {**env, "JAPANCART_STATE_KEYS": keys})
    dev = copy_stack(stacks / "dev", tmp); tf.init(dev).check()   # real S3 backend in the emulator
    plan = tf.plan_json(dev)                                      # `terraform show -json` of a saved plan

The package, by seam (imports run one way: ``patches`` <- ``server`` <- ``inventory``, ``cli``)::

    patches/     the gap patches, one module per AWS service (GAPS, apply_gap_patches; docs/testing.md)
    server.py    Emulator, start_emulator: the in-process moto server, its endpoint, credentials and clients
    inventory.py inventory, leftovers, untracked, state_identifiers: what a stack left in the emulator
    cli.py       python -m tools.emulator (make emulator); __main__.py runs it
"""

from __future__ import annotations

from tools.emulator.server import Emulator, start_emulator

__all__ = ["Emulator", "start_emulator"]

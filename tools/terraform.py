"""Drive the real Terraform CLI from tests and tools: CLI config, isolated env, captured output, wall times.

Usage (importable; fixtures in ``tests/e2e/conftest.py`` just wrap this)::

    from tools.terraform import TerraformCLI, terraform_binary
    tf = TerraformCLI.create(tmp_dir)                 # writes <tmp_dir>/terraform.tfrc and the plugin cache
    tf.init(stack_dir, backend=False).check()          # every call returns a TerraformResult
    diags = tf.validate(stack_dir)                     # ValidateResult(errors=[...], warnings=[...])
    tf.apply(stack_dir).check(); print(tf.timings)     # [(label, seconds), ...]
    plan_json = tf.plan_json(stack_dir)                # `terraform show -json` of a saved plan (for plan tools)

Provider installation rule (documented; decided once per ``TerraformCLI``):

* ``TF_PLUGIN_MIRROR`` unset -> online: ``direct {}`` for every provider (real registry).
* ``TF_PLUGIN_MIRROR`` set   -> offline: every provider found in that mirror (packed or unpacked layout,
  ``<host>/<namespace>/<type>/``) is installed from it (``filesystem_mirror`` with an ``include`` list).
  Anything else falls through to ``direct {}``, which fails loudly offline (that is the right error).

The machine may set ``TF_CLI_CONFIG_FILE`` to a file that does not exist; every run here points
``TF_CLI_CONFIG_FILE`` at our own generated config instead.  ``TF_PLUGIN_CACHE_DIR`` is a shared
per-session directory (``plugin_cache_may_break_dependency_lock_file`` lets Terraform use it without a
pre-existing lock file).  ``CHECKPOINT_DISABLE=1``, ``TF_IN_AUTOMATION=1`` and ``TF_INPUT=0`` are always set.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = (
    "Terraform CLI not found on PATH: install Terraform >= 1.10 (e.g. the HashiCorp apt repository or the "
    "release zip) and, offline, point TF_PLUGIN_MIRROR at a filesystem mirror holding hashicorp/aws."
)


def terraform_binary() -> str | None:
    return shutil.which("terraform")


def mirror_providers(mirror: Path) -> set[str]:
    """Provider source addresses (``host/namespace/type``) present in a filesystem mirror, in either layout."""
    found: set[str] = set()
    mirror = Path(mirror)
    if not mirror.is_dir():
        return found
    for host in mirror.iterdir():
        if not host.is_dir():
            continue
        for ns in host.iterdir():
            if not ns.is_dir():
                continue
            for ptype in ns.iterdir():
                if ptype.is_dir() and any(ptype.iterdir()):
                    found.add(f"{host.name}/{ns.name}/{ptype.name}")
    return found


def _hcl_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in sorted(items)) + "]"


@dataclass
class ProviderPlan:
    """Where each provider comes from, as decided by the rule in the module docstring."""

    mirror: Path | None
    from_mirror: set[str] = field(default_factory=set)

    @property
    def offline(self) -> bool:
        return self.mirror is not None

    def describe(self) -> str:
        if not self.offline:
            return "online: all providers from the registry (direct {})"
        return f"offline: {sorted(self.from_mirror)} from TF_PLUGIN_MIRROR={self.mirror}"


def decide_providers(mirror_env: str | None = None) -> ProviderPlan:
    mirror_env = os.environ.get("TF_PLUGIN_MIRROR") if mirror_env is None else mirror_env
    if not mirror_env:
        return ProviderPlan(mirror=None)
    mirror = Path(mirror_env).resolve()
    return ProviderPlan(mirror=mirror, from_mirror=mirror_providers(mirror))


def render_cli_config(plan: ProviderPlan, plugin_cache_dir: Path | None) -> str:
    lines = []
    if plugin_cache_dir is not None:
        lines += [
            f"plugin_cache_dir = {json.dumps(str(plugin_cache_dir))}",
            "plugin_cache_may_break_dependency_lock_file = true",
        ]
    lines.append("provider_installation {")
    handled: set[str] = set()
    if plan.offline and plan.from_mirror:
        lines += [
            "  filesystem_mirror {",
            f"    path    = {json.dumps(str(plan.mirror))}",
            f"    include = {_hcl_list(plan.from_mirror)}",
            "  }",
        ]
        handled |= plan.from_mirror
    lines += ["  direct {" + (f"\n    exclude = {_hcl_list(handled)}\n  " if handled else "") + "}", "}"]
    return "\n".join(lines) + "\n"


@dataclass
class TerraformResult:
    args: list[str]
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def check(self, *ok_codes: int) -> TerraformResult:
        ok = ok_codes or (0,)
        if self.returncode not in ok:
            raise TerraformError(self)
        return self

    def warnings(self) -> list[str]:
        """Warning blocks in human-readable (``-no-color``) output."""
        return _diag_blocks(self.output, "Warning")


class TerraformError(AssertionError):
    def __init__(self, result: TerraformResult):
        self.result = result
        tail = result.output[-12000:]
        super().__init__(
            f"terraform {' '.join(result.args)} (in {result.cwd}) exited {result.returncode} after {result.seconds:.1f}s:\n{tail}"
        )


def _diag_blocks(text: str, kind: str) -> list[str]:
    """Split ``╷ │ Warning: ... ╵`` boxes (or plain ``Warning: ...`` paragraphs) out of CLI output."""
    blocks, cur = [], None
    for line in text.splitlines():
        body = line.lstrip("│╷╵ ").rstrip()
        if body.startswith(f"{kind}:"):
            cur = [body]
            blocks.append(cur)
        elif cur is not None:
            if line.startswith("╵") or (not line.startswith("│") and not body):
                cur = None
            else:
                cur.append(body)
    return ["\n".join(b).strip() for b in blocks]


@dataclass
class ValidateResult:
    raw: dict
    errors: list[str]
    warnings: list[str]


def _fmt_diag(d: Mapping) -> str:
    rng = d.get("range") or {}
    where = f" ({rng.get('filename')}:{(rng.get('start') or {}).get('line')})" if rng else ""
    addr = f" [{d['address']}]" if d.get("address") else ""
    return f"{d.get('severity')}: {d.get('summary')}{addr}{where}: {d.get('detail', '')}".strip()


class TerraformCLI:
    """One isolated Terraform environment (CLI config, plugin cache, env), reusable across many dirs."""

    def __init__(
        self, workdir: Path, providers: ProviderPlan, env: Mapping[str, str], binary: str, parallelism: int = 10
    ):
        self.workdir = workdir
        self.providers = providers
        self.binary = binary
        self.env = dict(env)
        self.parallelism = parallelism
        self.timings: list[tuple[str, float]] = []
        self.log_path = workdir / "terraform.log"
        self._seq = 0
        self._lock = threading.Lock()
        self._init_lock = threading.Lock()

    @classmethod
    def create(
        cls,
        workdir: Path,
        *,
        extra_env: Mapping[str, str] | None = None,
        mirror: str | None = None,
        plugin_cache: bool = True,
        parallelism: int = 10,
    ) -> TerraformCLI:
        binary = terraform_binary()
        if binary is None:
            raise FileNotFoundError(INSTALL_HINT)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        providers = decide_providers(mirror)
        cache = workdir / "plugin-cache" if plugin_cache else None
        if cache is not None:
            cache.mkdir(exist_ok=True)
        cfg = workdir / "terraform.tfrc"
        cfg.write_text(render_cli_config(providers, cache))
        env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") or k in ("TF_LOG", "TF_LOG_PATH")}
        env.pop("TF_PLUGIN_CACHE_DIR", None)
        env.update(
            TF_CLI_CONFIG_FILE=str(cfg),
            CHECKPOINT_DISABLE="1",
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
        )
        env.update(extra_env or {})
        return cls(workdir, providers, env, binary, parallelism)

    def with_env(self, extra_env: Mapping[str, str]) -> TerraformCLI:
        """The same CLI (configuration, plugin cache, logs, timings, locks) with other variables on top, e.g. the
        credentials of another account's session for the stacks of that account."""
        clone = copy.copy(self)
        clone.env = {**self.env, **extra_env}
        return clone

    @property
    def cli_config_path(self) -> Path:
        return Path(self.env["TF_CLI_CONFIG_FILE"])

    # -- running --
    def run(
        self,
        args: Sequence[str],
        cwd: Path,
        *,
        label: str | None = None,
        timeout: float = 900,
        env: Mapping[str, str] | None = None,
    ) -> TerraformResult:
        cmd = [self.binary, *args]
        with self._lock:  # runs may happen in threads (e.g. two stacks at once)
            self._seq += 1
            seq = self._seq
        out_path = self.workdir / "runs" / f"{seq:03d}-{Path(cwd).name}-{args[0]}.log"
        out_path.parent.mkdir(exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"\n===== {Path(cwd)}$ terraform {' '.join(args)}  (live output: {out_path})\n")
        start = time.monotonic()
        # stdout streams to a file as it runs (tail -f it to watch a long apply); stderr is small
        with out_path.open("w") as out:
            proc = subprocess.run(
                cmd,
                cwd=cwd,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        seconds = time.monotonic() - start
        stdout = out_path.read_text()
        result = TerraformResult(list(args), Path(cwd), proc.returncode, stdout, proc.stderr, seconds)
        self.timings.append((label or f"{Path(cwd).name}: terraform {args[0]}", seconds))
        with self.log_path.open("a") as log:
            log.write(f"===== -> exit {proc.returncode} in {seconds:.1f}s\n{stdout}{proc.stderr}")
        return result

    def init(self, cwd: Path, *, backend: bool = True, extra: Sequence[str] = ()) -> TerraformResult:
        args = ["init", "-no-color", "-input=false"]
        if not backend:
            args.append("-backend=false")
        # Terraform's plugin cache is not safe for concurrent inits ("mkdir ...: file exists"): one at a time.
        with self._init_lock:
            return self.run([*args, *extra], cwd, label=f"{Path(cwd).name}: init")

    def validate(self, cwd: Path) -> ValidateResult:
        res = self.run(["validate", "-json", "-no-color"], cwd, label=f"{Path(cwd).name}: validate")
        try:
            raw = json.loads(res.stdout)
        except json.JSONDecodeError as exc:
            raise TerraformError(res) from exc
        diags = raw.get("diagnostics", [])
        return ValidateResult(
            raw=raw,
            errors=[_fmt_diag(d) for d in diags if d.get("severity") == "error"],
            warnings=[_fmt_diag(d) for d in diags if d.get("severity") == "warning"],
        )

    def apply(self, cwd: Path, *, extra: Sequence[str] = ()) -> TerraformResult:
        return self.run(
            ["apply", "-auto-approve", "-no-color", "-input=false", f"-parallelism={self.parallelism}", *extra],
            cwd,
            label=f"{Path(cwd).name}: apply",
        )

    def plan(
        self, cwd: Path, *, detailed_exitcode: bool = True, out: str | None = None, extra: Sequence[str] = ()
    ) -> TerraformResult:
        args = ["plan", "-no-color", "-input=false", f"-parallelism={self.parallelism}"]
        if detailed_exitcode:
            args.append("-detailed-exitcode")
        if out:
            args.append(f"-out={out}")
        return self.run([*args, *extra], cwd, label=f"{Path(cwd).name}: plan")

    def plan_json(self, cwd: Path, *, extra: Sequence[str] = ()) -> dict:
        """Save a plan and return ``terraform show -json`` of it (for plan-analysis tools)."""
        self.plan(cwd, detailed_exitcode=False, out="tfplan.bin", extra=extra).check()
        shown = self.run(["show", "-json", "-no-color", "tfplan.bin"], cwd, label=f"{Path(cwd).name}: show").check()
        return json.loads(shown.stdout)

    def destroy(self, cwd: Path, *, extra: Sequence[str] = ()) -> TerraformResult:
        return self.run(
            ["destroy", "-auto-approve", "-no-color", "-input=false", f"-parallelism={self.parallelism}", *extra],
            cwd,
            label=f"{Path(cwd).name}: destroy",
        )

    def state_list(self, cwd: Path) -> list[str]:
        res = self.run(["state", "list", "-no-color"], cwd, label=f"{Path(cwd).name}: state list").check()
        return [line for line in res.stdout.splitlines() if line.strip()]

    def output_json(self, cwd: Path) -> dict:
        res = self.run(["output", "-json", "-no-color"], cwd, label=f"{Path(cwd).name}: output").check()
        return json.loads(res.stdout or "{}")


class SynthError(RuntimeError):
    pass


def synthesize(
    outdir: Path,
    extra_env: Mapping[str, str] | None = None,
    *,
    root: Path | None = None,
    timeout: float = 600,
    stacks: Sequence[str] = (),
) -> Path:
    """Run the project's ``python main.py [STACK ...]`` into ``outdir`` (``CDKTF_OUTDIR``) and return ``outdir/stacks``.

    ``JAPANCART_*`` variables of the calling environment are dropped first so only ``extra_env`` switches
    anything (e.g. ``JAPANCART_AWS_ENDPOINT`` / ``JAPANCART_CONFIG`` / ``JAPANCART_STATE_KEYS`` for the
    emulator; the shipped placeholders are refused).
    """
    import sys

    root = Path(root) if root else Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAPANCART_")}
    env.update(
        CDKTF_OUTDIR=str(outdir),
        CHECKPOINT_DISABLE="1",
    )
    env.update(extra_env or {})
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "main.py", *stacks],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise SynthError(
            f"python main.py failed ({proc.returncode}) after {time.monotonic() - start:.0f}s:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return Path(outdir) / "stacks"


def local_backend_args(stack_dir: Path, state_path: Path | None = None) -> list[str]:
    """``-backend-config`` that keeps a local-backend stack's state in its working copy instead of the path
    baked into ``cdk.tf.json`` (an absolute path in the repo).  The configuration itself is untouched."""
    doc = json.loads((Path(stack_dir) / "cdk.tf.json").read_text())
    if "local" not in ((doc.get("terraform") or {}).get("backend") or {}):
        return []
    return [f"-backend-config=path={state_path or Path(stack_dir) / 'terraform.tfstate'}"]


def copy_stack(stack_dir: Path, dest_root: Path) -> Path:
    """Copy a synthesized stack dir (``cdk.tf.json`` + assets) to a private working dir, unchanged, so
    ``.terraform``/state files never land in ``cdktf.out`` and parallel runs don't share a dir."""
    dest = Path(dest_root) / Path(stack_dir).name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        stack_dir, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "tfplan*")
    )
    return dest

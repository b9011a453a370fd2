"""Offline stand-in for hashicorp/random 3.6.3, served from a temporary filesystem mirror.

For the test harness and the emulator plan (``tools.plan_stack``) on a machine whose provider mirror
lacks hashicorp/random; a real deploy never uses it (``make deploy`` runs the operator's Terraform).

Usage::

    from tools.random_provider import install_mirror, SOURCE
    mirror = install_mirror(tmp_path / "standin-mirror")
    # then give Terraform a CLI config with
    #   filesystem_mirror { path = "<mirror>"  include = ["registry.terraform.io/hashicorp/random"] }
    # (``tools.terraform.TerraformCLI`` does this for you when the rule says so).

The mirror uses Terraform's *unpacked* layout::

    <mirror>/registry.terraform.io/hashicorp/random/3.6.3/linux_amd64/terraform-provider-random_v3.6.3

where the executable is a tiny ``/bin/sh`` wrapper that execs this interpreter (``sys.executable``, i.e. the
venv's python, which has the ``tf`` package) on ``provider.py``.  The configuration under test is never
rewritten: it keeps ``hashicorp/random`` ``3.6.3`` and Terraform resolves it from the mirror.

What it implements and how faithfully: see ``provider.py``'s docstring.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

# Same values as in provider.py (which runs as a standalone script and imports nothing from here).
SOURCE = "registry.terraform.io/hashicorp/random"
VERSION = "3.6.3"

__all__ = ["SOURCE", "VERSION", "install_mirror", "platform_dir"]

PROVIDER_SCRIPT = Path(__file__).resolve().with_name("provider.py")


def platform_dir() -> str:
    """Terraform's ``<os>_<arch>`` for this machine."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), platform.machine().lower())
    return f"{sys.platform if sys.platform != 'linux2' else 'linux'}_{arch}"


def install_mirror(mirror_root: Path, python: str | None = None) -> Path:
    """Write the stand-in into ``mirror_root`` (unpacked layout) and return ``mirror_root``. Idempotent."""
    mirror_root = Path(mirror_root)
    host, namespace, ptype = SOURCE.split("/")
    target = mirror_root / host / namespace / ptype / VERSION / platform_dir()
    target.mkdir(parents=True, exist_ok=True)
    exe = target / f"terraform-provider-{ptype}_v{VERSION}"
    script = (
        "#!/bin/sh\n"
        "# Offline stand-in for hashicorp/random (tools/random_provider): tests and emulator plans only.\n"
        f"exec {shlex.quote(python or sys.executable)} {shlex.quote(str(PROVIDER_SCRIPT))} \"$@\"\n"
    )
    if not exe.exists() or exe.read_text() != script:
        exe.write_text(script)
        exe.chmod(0o755)
    os.utime(exe)
    return mirror_root

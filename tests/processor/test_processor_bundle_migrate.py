"""Deterministic bundle and idempotent migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from processor.bundle import build_bundle

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bundle_is_byte_identical_across_builds(tmp_path):
    first = build_bundle(tmp_path / "a")
    second = build_bundle(tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256_base64 == second.sha256_base64


def test_bundle_contents(tmp_path):
    info = build_bundle(tmp_path)
    with zipfile.ZipFile(info.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {"processor/handler.py", "processor/migrations/0001_initial_schema.sql",
            "redis/__init__.py", "pg8000/native.py", "scramp/__init__.py", "asn1crypto/__init__.py",
            "dateutil/parser/__init__.py", "six.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "moto")]
    assert {"processor/migrate.py", "processor/migrations/0002_app_role_windows_conflicts.sql",
            "processor/certs/rds-ca-bundle.pem"} <= set(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {d.split("==")[0] for d in info.distributions} == {
        "asn1crypto", "pg8000", "python-dateutil", "redis", "scramp", "six"}


def test_bundle_cli_and_import_is_light(tmp_path):
    code = ("import sys, processor.bundle; "
            "print(sorted(m for m in ('boto3', 'redis', 'pg8000') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    run = subprocess.run([sys.executable, "-m", "processor.bundle", str(tmp_path)], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    assert "sha256 (base64):" in run.stdout and (tmp_path / "transaction-processor.zip").is_file()


@pytest.mark.integration
def test_migrations_are_tracked_and_idempotent(pg_conn):
    from processor.migrate import apply_migrations

    assert apply_migrations(pg_conn) == []
    assert [r[0] for r in pg_conn.run("SELECT version FROM schema_migrations ORDER BY version")] == ["0001", "0002"]
    tables = {r[0] for r in pg_conn.run(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"transactions", "rejected_transactions", "transaction_conflicts", "customer_windows", "rule_alerts",
            "schema_migrations"} <= tables


@pytest.mark.integration
def test_app_role_has_only_the_grants_the_processor_uses(pg_conn):
    role = pg_conn.run("SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles"
                       " WHERE rolname = 'txn_writer'")
    assert role == [[False, False, False, True]]
    assert pg_conn.run("SELECT pg_has_role('txn_writer', 'rds_iam', 'member')") == [[True]]
    grants = {(t, p) for t, p in pg_conn.run(
        "SELECT table_name, privilege_type FROM information_schema.role_table_grants WHERE grantee = 'txn_writer'")}
    assert grants == {
        ("transactions", "SELECT"), ("transactions", "INSERT"), ("rejected_transactions", "INSERT"),
        ("transaction_conflicts", "SELECT"), ("transaction_conflicts", "INSERT"),
        ("customer_windows", "SELECT"), ("customer_windows", "INSERT"), ("customer_windows", "UPDATE"),
        ("rule_alerts", "SELECT"), ("rule_alerts", "INSERT"),
    }


@pytest.mark.integration
def test_migrate_cli_on_a_fresh_database_over_verified_tls(pg_server, pg_conn):
    pg_conn.run("DROP DATABASE IF EXISTS migrate_cli")
    pg_conn.run("CREATE DATABASE migrate_cli")
    env = {**os.environ, "PGPASSWORD": pg_server.master_password}
    args = [sys.executable, "-m", "processor.migrate", "--host", pg_server.host, "--port", str(pg_server.port),
            "--dbname", "migrate_cli", "--user", pg_server.master_user, "--ca-file", pg_server.ca_file]
    first = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "applied: 0001, 0002"
    assert second.stdout.strip() == "applied: nothing (up to date)"
    # Without the rig CA, the RDS bundle is used, and the rig's certificate is refused.
    refused = subprocess.run(args[:-2], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


@pytest.mark.integration
def test_edited_migration_is_refused(pg_conn):
    from processor.migrate import Migration, MigrationError, apply_migrations, load_migrations

    original = load_migrations()[0]
    edited = Migration(original.version, original.name, original.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="0001_initial_schema was changed after it was applied"):
        apply_migrations(pg_conn, [edited])
    assert apply_migrations(pg_conn) == []  # the lock was released by the rollback

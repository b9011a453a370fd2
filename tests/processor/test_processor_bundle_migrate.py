"""Deterministic bundle and idempotent migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from datetime import UTC
from pathlib import Path

import pg8000.exceptions
import pytest

from constructs_lib.lambda_bundle import build_bundle
from processor.contract import MAINTENANCE_HANDLER, MIGRATION_HANDLER, PROCESSOR_HANDLER
from tests.support.imports import absolute_imports

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
    assert {
        "processor/handler.py",
        "processor/migrations/0001_initial_schema.sql",
        "redis/__init__.py",
        "pg8000/native.py",
        "scramp/__init__.py",
        "asn1crypto/__init__.py",
        "dateutil/parser/__init__.py",
        "six.py",
    } <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "moto")]
    assert {
        "processor/migrate.py",
        "processor/migrations/0002_app_role_windows_conflicts.sql",
        "processor/certs/rds-ca-bundle.pem",
    } <= set(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {d.split("==")[0] for d in info.distributions} == {
        "asn1crypto",
        "pg8000",
        "python-dateutil",
        "redis",
        "scramp",
        "six",
    }


def test_bundle_ships_the_processor_package_as_it_is(tmp_path):
    """Every code, migration and certificate file of processor/ is in the zip, and nothing else of it:
    the bundler lives outside the package it packs, so it needs no exclusion list."""
    package = REPO_ROOT / "processor"
    on_disk = {
        p.relative_to(REPO_ROOT).as_posix()
        for p in package.rglob("*")
        if p.suffix in (".py", ".sql", ".pem") and "__pycache__" not in p.parts
    }
    with zipfile.ZipFile(build_bundle(tmp_path).path) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("processor/")}
    assert shipped == on_disk
    assert "processor/handler.py" in shipped and not [n for n in shipped if "bundle" in n and n.endswith(".py")]


def _processor_imports(path: Path) -> set[str]:
    """The ``processor.*`` modules a file imports, at the top or inside a function (lazy imports count)."""
    return {name for name in absolute_imports(path) if name.split(".")[0] == "processor"}


def test_bundle_holds_only_what_the_functions_run(tmp_path):
    """Every module of processor/ in the zip is reached from an entry point of the zip's functions; an
    operator tool (replay, the producer, the event builder) added back to the package fails here."""
    entry_points = {
        handler.rsplit(".", 1)[0] for handler in (PROCESSOR_HANDLER, MIGRATION_HANDLER, MAINTENANCE_HANDLER)
    }
    module_file = {
        ".".join(Path(name).with_suffix("").parts).removesuffix(".__init__"): name
        for name in zipfile.ZipFile(build_bundle(tmp_path).path).namelist()
        if name.startswith("processor/") and name.endswith(".py")
    }
    reached: set[str] = set()
    pending = ["processor", *entry_points]
    while pending:
        module = pending.pop()
        if module in reached or module not in module_file:
            continue
        reached.add(module)
        pending += _processor_imports(REPO_ROOT / module_file[module])
    assert entry_points <= reached
    assert sorted(set(module_file) - reached) == []


def test_bundle_cli_and_import_is_light(tmp_path):
    code = (
        "import sys, constructs_lib.lambda_bundle; "
        "print(sorted(m for m in ('boto3', 'redis', 'pg8000') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    run = subprocess.run(
        [sys.executable, "-m", "constructs_lib.lambda_bundle", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "sha256 (base64):" in run.stdout and (tmp_path / "transaction-processor.zip").is_file()


@pytest.mark.integration
def test_migrations_are_tracked_and_idempotent(pg_conn):
    from processor.migrate import apply_migrations

    assert apply_migrations(pg_conn) == []
    assert [r[0] for r in pg_conn.run("SELECT version FROM schema_migrations ORDER BY version")] == [
        "0001",
        "0002",
        "0003",
        "0004",
        "0005",
    ]
    tables = {
        r[0] for r in pg_conn.run("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    }
    assert {
        "transactions",
        "rejected_transactions",
        "transaction_conflicts",
        "customer_windows",
        "rule_alerts",
        "schema_migrations",
    } <= tables


@pytest.mark.integration
def test_app_role_has_only_the_grants_the_processor_uses(pg_conn):
    role = pg_conn.run(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin FROM pg_roles WHERE rolname = 'txn_writer'"
    )
    assert role == [[False, False, False, True]]
    assert pg_conn.run("SELECT pg_has_role('txn_writer', 'rds_iam', 'member')") == [[True]]
    grants = {
        (t, p)
        for t, p in pg_conn.run(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants WHERE grantee = 'txn_writer'"
        )
    }
    assert grants == {
        ("transactions", "SELECT"),
        ("transactions", "INSERT"),
        ("rejected_transactions", "INSERT"),
        ("transaction_ids", "SELECT"),
        ("transaction_ids", "INSERT"),
        ("transaction_conflicts", "SELECT"),
        ("transaction_conflicts", "INSERT"),
        ("customer_windows", "SELECT"),
        ("customer_windows", "INSERT"),
        ("customer_windows", "UPDATE"),
        ("rule_alerts", "SELECT"),
        ("rule_alerts", "INSERT"),
    }


@pytest.mark.integration
def test_migrate_cli_on_a_fresh_database_over_verified_tls(pg_server, pg_conn):
    pg_conn.run("DROP DATABASE IF EXISTS migrate_cli")
    pg_conn.run("CREATE DATABASE migrate_cli")
    env = {**os.environ, "PGPASSWORD": pg_server.master_password}
    args = [
        sys.executable,
        "-m",
        "processor.migrate",
        "--host",
        pg_server.host,
        "--port",
        str(pg_server.port),
        "--dbname",
        "migrate_cli",
        "--user",
        pg_server.master_user,
        "--ca-file",
        pg_server.ca_file,
    ]
    first = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "applied: 0001, 0002, 0003, 0004, 0005"
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


@pytest.mark.integration
def test_transactions_are_partitioned_by_month_with_room_ahead(pg_conn):
    from datetime import datetime

    assert pg_conn.run("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'transactions'::regclass") == [
        ["r"]
    ]
    names = {
        row[0]
        for row in pg_conn.run(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'transactions'::regclass"
        )
    }
    now = datetime.now(UTC)
    for offset in (-12, 0, 3):
        index = now.year * 12 + now.month - 1 + offset
        assert f"transactions_y{index // 12}m{index % 12 + 1:02d}" in names


@pytest.fixture
def fresh_database(pg_server):
    """A new, empty database of the rig's master (what RDS creates), connected as the master."""
    import secrets

    name = f"fresh_{secrets.token_hex(4)}"
    admin = pg_server.connect(pg_server.master_user, pg_server.master_password)
    admin.run(f"CREATE DATABASE {name}")
    conn = pg_server.connect(pg_server.master_user, pg_server.master_password, database=name)
    try:
        yield conn
    finally:
        conn.close()
        admin.run(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


@pytest.mark.integration
def test_pgaudit_is_created_where_it_is_required_and_is_a_notice_elsewhere(fresh_database):
    """The rig is no RDS (no rds.extensions) and loads no pgaudit: the migration says so and goes on. Creating
    the extension where it is loaded cannot be shown here: the rig's PostgreSQL has no pgaudit."""
    from processor.migrate import apply_migrations

    assert apply_migrations(fresh_database)[-1] == "0005"
    assert fresh_database.run("SELECT count(*) FROM pg_extension WHERE extname = 'pgaudit'") == [[0]]
    notices = [n[b"M"].decode() for n in fresh_database.notices if b"pgaudit" in n.get(b"M", b"")]
    assert notices == ["pgaudit not created: not RDS, and shared_preload_libraries () does not load it"]


@pytest.mark.integration
@pytest.mark.parametrize(
    "offered, message, hint",
    [
        (
            "btree_gin,pgaudit,plpgsql",
            "pgaudit is required but not loaded: shared_preload_libraries is ''",
            "reboot the instance (aws rds reboot-db-instance",
        ),
        (
            "btree_gin,plpgsql",
            "pgaudit is required but this RDS engine version does not offer it (rds.extensions = btree_gin,plpgsql)",
            None,
        ),
    ],
)
def test_pgaudit_missing_on_rds_fails_the_migration_and_writes_nothing(fresh_database, offered, message, hint):
    """A session that sees rds.extensions, as every session on RDS does, is RDS to the migration."""
    from pg8000.native import literal

    from processor.migrate import apply_migrations

    fresh_database.run(f"SET rds.extensions = {literal(offered)}")
    with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
        apply_migrations(fresh_database)
    assert caught.value.args[0]["M"] == message
    assert (hint is None) or hint in caught.value.args[0]["H"]
    assert fresh_database.run("SELECT to_regclass('schema_migrations'), to_regclass('transactions')") == [[None, None]]

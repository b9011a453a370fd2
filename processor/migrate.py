"""Versioned SQL migrations, tracked in ``schema_migrations``, applied as the master user.

Run once per deploy by the migration function (``handle``, invoked by Terraform when
``migrations_checksum()`` changes) or by hand with ``python -m processor.migrate``. The
processor itself never migrates: its role may only read and write rows. Each run takes a
PostgreSQL advisory lock and every migration commits atomically with its bookkeeping row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processor.contract import MASTER_DB_USER

if TYPE_CHECKING:
    import pg8000.native

    from processor.config import DbSettings
    from processor.contract import RetentionPolicy

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME_PATTERN = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x4A43_5458  # arbitrary constant: "JCTX"


class MigrationError(RuntimeError):
    """A migration file is malformed or an applied one was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read ``NNNN_name.sql`` files in version order."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME_PATTERN.match(path.name)
        if not match:
            raise MigrationError(f"migration file name {path.name!r} must look like 0001_name.sql")
        migrations.append(Migration(match.group(1), match.group(2), path.read_text("utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}: {versions}")
    return migrations


def migrations_checksum(migrations: Sequence[Migration] | None = None) -> str:
    """One SHA-256 over every migration (name and text): it changes exactly when a deploy must migrate."""
    digest = hashlib.sha256()
    for migration in migrations if migrations is not None else load_migrations():
        digest.update(f"{migration.version}_{migration.name}\0{migration.checksum}\n".encode("ascii"))
    return digest.hexdigest()


def apply_migrations(conn: pg8000.native.Connection, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply pending migrations on a pg8000 native connection; return applied versions."""
    migrations = list(migrations if migrations is not None else load_migrations())
    conn.run("BEGIN")
    try:
        conn.run("SELECT pg_advisory_xact_lock(:key)", key=_LOCK_KEY)
        conn.run(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version TEXT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0]: row[1] for row in conn.run("SELECT version, checksum FROM schema_migrations")}
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was changed after it was "
                        "applied; add a new migration instead"
                    )
                continue
            conn.execute_simple(migration.sql)
            conn.run(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (:v, :n, :c)",
                v=migration.version,
                n=migration.name,
                c=migration.checksum,
            )
            done.append(migration.version)
        conn.run("COMMIT")
        return done
    except BaseException:
        try:
            conn.run("ROLLBACK")
        except Exception:  # connection may already be gone; the original error matters
            pass
        raise


def run(settings: DbSettings, retention: RetentionPolicy | None = None) -> list[str]:
    """Connect over verified TLS as `settings` (the master user), apply what is pending and, given a
    `processor.maintain.RetentionPolicy`, set it as the policy the daily maintenance reads."""
    from processor.maintain import set_policy
    from processor.pg_store import connect

    conn = connect(settings)
    try:
        applied = apply_migrations(conn)
        if retention is not None:
            set_policy(conn, retention)
        return applied
    finally:
        conn.close()


_EVENT_KEYS = ("action", "checksum", "retention")


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """Migration function entry point: the only code that reads the master secret. The event carries the
    migrations checksum the deploy expects and the configured retention (`processor.maintain.RetentionPolicy`)."""
    from processor.aws_secrets import fetch_secret_string
    from processor.config import master_db_settings
    from processor.contract import RetentionPolicy

    checksum = migrations_checksum()
    event = event if isinstance(event, dict) else {}
    unknown = sorted(set(event) - set(_EVENT_KEYS))
    if unknown:
        raise MigrationError(f"unknown event key(s) {unknown}; the migration function takes {list(_EVENT_KEYS)}")
    wanted = event.get("checksum")
    if wanted and wanted != checksum:
        raise MigrationError(f"invoked for migrations {wanted}, but this bundle carries {checksum}")
    action = event.get("action", "migrate")
    if action != "migrate":
        raise MigrationError(
            f"event key 'action' must be 'migrate', got {action!r} (the daily maintenance runs "
            "in its own function, as txn_maintainer)"
        )
    retention = RetentionPolicy.from_mapping(event["retention"]) if "retention" in event else None
    result: dict[str, Any] = {
        "applied": run(master_db_settings(os.environ, fetch_secret_string), retention),
        "checksum": checksum,
    }
    if retention is not None:
        result["retention"] = retention.as_dict()
    print(json.dumps(result))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from processor.cli import add_connection_arguments, db_settings
    from processor.config import master_db_settings

    parser = argparse.ArgumentParser(
        prog="python -m processor.migrate",
        description="Apply pending SQL migrations as the master user, over verified TLS. Without --host, "
        "reads DB_CONNECTION_SECRET_ARN and the RDS-managed master secret, as the migration "
        "function does. The retention policy is left as the last deploy set it.",
    )
    add_connection_arguments(parser, user=MASTER_DB_USER)
    args = parser.parse_args(argv)
    applied = run(db_settings(args, parser, master_db_settings))
    print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

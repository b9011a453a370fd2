"""Versioned SQL migrations, tracked in ``schema_migrations``.

Applied at Lambda cold start and by ``python -m processor.migrate``. Several
containers may cold-start at once, so each run takes a PostgreSQL advisory lock
and every migration commits atomically with its bookkeeping row.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

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


def load_migrations(directory: Path = MIGRATIONS_DIR) -> List[Migration]:
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


def apply_migrations(conn, migrations: Optional[Sequence[Migration]] = None) -> List[str]:
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
        done: List[str] = []
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
                v=migration.version, n=migration.name, c=migration.checksum,
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


def _cli_settings(args: argparse.Namespace):
    from processor.config import DbSettings, db_settings_from_env
    from processor.aws_secrets import fetch_secret_string

    if args.host:
        password = os.environ.get("PGPASSWORD")
        if not password:
            raise SystemExit("set PGPASSWORD when using --host")
        return DbSettings(args.host, args.port, args.dbname, args.user, password, ssl=not args.no_ssl)
    return db_settings_from_env(os.environ, fetch_secret_string)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processor.migrate",
        description="Apply pending SQL migrations. Without --host, reads the Lambda environment "
                    "variables and Secrets Manager.",
    )
    parser.add_argument("--host", help="connect directly (password from PGPASSWORD)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--dbname", default="postgres")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--no-ssl", action="store_true", help="plain TCP (local development only)")
    args = parser.parse_args(argv)

    from processor.pg_store import connect

    conn = connect(_cli_settings(args))
    try:
        applied = apply_migrations(conn)
    finally:
        conn.close()
    print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

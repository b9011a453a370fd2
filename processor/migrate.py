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
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, List, Optional, Sequence

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


def migrations_checksum(migrations: Optional[Sequence[Migration]] = None) -> str:
    """One SHA-256 over every migration (name and text): it changes exactly when a deploy must migrate."""
    digest = hashlib.sha256()
    for migration in migrations if migrations is not None else load_migrations():
        digest.update(f"{migration.version}_{migration.name}\0{migration.checksum}\n".encode("ascii"))
    return digest.hexdigest()


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


ENV_RETENTION_MONTHS = "TRANSACTION_RETENTION_MONTHS"
ENV_REJECTED_DAYS = "REJECTED_RETENTION_DAYS"
DEFAULT_RETENTION_MONTHS = 84  # seven years of payment records
DEFAULT_REJECTED_DAYS = 90
# Partitions are kept this far back for late arrivals, and made this far ahead.
LATE_ARRIVAL_MONTHS = 12
MONTHS_AHEAD = 3
_PARTITION = re.compile(r"^transactions_y(\d{4})m(\d{2})$")


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def maintain(conn, *, retention_months: int, rejected_days: int, today: date) -> dict:
    """Daily upkeep: partitions made ahead, those past the retention detached (kept as plain
    tables for archiving), and the id, window and reject rows past their retention deleted."""
    first = max(_months_before(today, LATE_ARRIVAL_MONTHS), _months_before(today, retention_months - 1))
    created = [row[0] for row in conn.run(
        "SELECT ensure_transaction_partitions(CAST(:first AS date), CAST(:last AS date))",
        first=first.isoformat(), last=_months_before(today, -MONTHS_AHEAD).isoformat())]
    cutoff = _months_before(today, retention_months - 1)  # the oldest month still kept
    partitions = [row[0] for row in conn.run(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'transactions'::regclass ORDER BY 1")]
    detached = []
    conn.run("BEGIN")
    try:
        for name in partitions:
            match = _PARTITION.match(name)
            if match and date(int(match.group(1)), int(match.group(2)), 1) < cutoff:
                conn.run(f'ALTER TABLE transactions DETACH PARTITION "{name}"')  # name matched above
                detached.append(name)
        since = cutoff.isoformat()
        conn.run("DELETE FROM transaction_ids WHERE occurred_at < CAST(:c AS date)", c=since)
        conn.run("DELETE FROM customer_windows WHERE window_start < CAST(:c AS date)", c=since)
        conn.run("DELETE FROM rejected_transactions WHERE created_at < now() - make_interval(days => :d)",
                 d=rejected_days)
        purged = conn.row_count
        conn.run("COMMIT")
    except BaseException:
        try:
            conn.run("ROLLBACK")
        except Exception:  # connection already gone; the original error matters
            pass
        raise
    return {"created": created, "detached": detached, "rejects_purged": purged}


def _positive(env, name: str, default: int) -> int:
    from processor.config import parse_positive_int

    raw = env.get(name, "").strip()
    return parse_positive_int(name, raw) if raw else default


def run(settings, action: str = "migrate", env=os.environ, today: Optional[date] = None) -> Any:
    """Connect over verified TLS as ``settings`` (the master user) and apply what is pending;
    ``action="maintain"`` then does the daily partition and retention upkeep."""
    from processor.pg_store import connect

    conn = connect(settings)
    try:
        applied = apply_migrations(conn)
        if action != "maintain":
            return applied
        return {"applied": applied, **maintain(
            conn, retention_months=_positive(env, ENV_RETENTION_MONTHS, DEFAULT_RETENTION_MONTHS),
            rejected_days=_positive(env, ENV_REJECTED_DAYS, DEFAULT_REJECTED_DAYS),
            today=today or datetime.now(timezone.utc).date())}
    finally:
        conn.close()


def handle(event: Any, context: Any = None) -> dict:
    """Migration function entry point: the only code that reads the master secret."""
    from processor.aws_secrets import fetch_secret_string
    from processor.config import master_db_settings

    checksum = migrations_checksum()
    event = event if isinstance(event, dict) else {}
    wanted = event.get("checksum")
    if wanted and wanted != checksum:
        raise MigrationError(f"invoked for migrations {wanted}, but this bundle carries {checksum}")
    action = event.get("action", "migrate")
    if action not in ("migrate", "maintain"):
        raise MigrationError(f"event key 'action' must be 'migrate' or 'maintain', got {action!r}")
    settings = master_db_settings(os.environ, fetch_secret_string)
    if action == "maintain":
        result = {**run(settings, "maintain"), "checksum": checksum}
    else:
        result = {"applied": run(settings), "checksum": checksum}
    print(json.dumps(result))
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processor.migrate",
        description="Apply pending SQL migrations as the master user, over verified TLS. Without --host, "
                    "reads DB_CONNECTION_SECRET_ARN and the RDS-managed master secret, as the migration "
                    "function does.",
    )
    parser.add_argument("--host", help="connect directly (password from PGPASSWORD)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--dbname", default="transactions")
    parser.add_argument("--user", default="japancart_admin")
    parser.add_argument("--ca-file", default=None, help="CA bundle (default: the RDS bundle in processor/certs)")
    args = parser.parse_args(argv)

    from processor.config import DB_AUTH_PASSWORD, RDS_CA_BUNDLE, DbSettings, master_db_settings

    if args.host:
        password = os.environ.get("PGPASSWORD")
        if not password:
            parser.error("--host needs the password in PGPASSWORD")
        settings = DbSettings(args.host, args.port, args.dbname, args.user, auth=DB_AUTH_PASSWORD,
                              password=password, ca_file=args.ca_file or RDS_CA_BUNDLE)
    else:
        from processor.aws_secrets import fetch_secret_string

        settings = master_db_settings(os.environ, fetch_secret_string)
    applied = run(settings)
    print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The daily data lifecycle, run as ``txn_maintainer``: partitions ahead, retention, the drop of old partitions.

The maintenance function (``handle``, invoked every day by EventBridge Scheduler) signs in as the
maintainer role with an IAM token. That role may execute four functions and nothing else
(migration 0004): ``lifecycle_create_partitions``, ``lifecycle_detach_partitions``,
``lifecycle_drop_partitions`` and ``lifecycle_purge``, which run as the master that owns the tables.
What they keep comes from ``maintenance_policy``, which only the master writes: the migration function
calls :func:`set_policy` with the configured :class:`RetentionPolicy` on every deploy. The day they act
for is the caller's, but never later than the server's date, so the maintainer can run the upkeep, not
shorten a retention.

A partition past ``transaction_retention_months`` is detached (a plain table), and dropped once
``partition_drop_grace_days`` have passed since; with ``export_before_drop`` only after
``python -m processor.maintain export`` (the master, by hand) wrote it to a file and recorded the export.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processor.config import DbSettings
from processor.contract import MAINTENANCE_EVENT, RetentionPolicy

if TYPE_CHECKING:
    import pg8000.native

#: A DETACH waits for the processor's open transactions; longer than this, it gives up (the schedule retries)
#: rather than queue the processor's inserts behind its lock.
LOCK_TIMEOUT = "10s"
#: Outcomes of `lifecycle_drop_partitions` that need a person: the run fails (the Errors alarm) after the rest.
ALARMING_OUTCOMES = ("changed since export",)


class MaintenanceError(RuntimeError):
    """The maintenance run was asked for something it does not do, or found a partition it must not drop."""


def set_policy(conn: pg8000.native.Connection, policy: RetentionPolicy) -> None:
    """Write the policy the lifecycle functions read (as the master: nobody else may)."""
    values = policy.as_dict()
    columns = ", ".join(values)
    conn.run(
        f"INSERT INTO maintenance_policy ({columns}) VALUES ({', '.join(':' + c for c in values)})"
        f" ON CONFLICT (singleton) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in values)},"
        " updated_at = now()",
        **values,
    )


def maintain(conn: pg8000.native.Connection, today: date | None = None) -> dict[str, Any]:
    """One day's upkeep on a connection as the maintainer, each step its own transaction."""
    day = (today or datetime.now(UTC).date()).isoformat()
    conn.run(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
    created = [row[0] for row in conn.run("SELECT lifecycle_create_partitions(CAST(:d AS date))", d=day)]
    detached = [row[0] for row in conn.run("SELECT lifecycle_detach_partitions(CAST(:d AS date))", d=day)]
    partitions = {
        name: outcome
        for name, outcome in conn.run(
            "SELECT table_name, outcome FROM lifecycle_drop_partitions(CAST(:d AS date))", d=day
        )
    }
    [[purged]] = conn.run("SELECT lifecycle_purge(CAST(:d AS date))", d=day)
    return {"day": day, "created": created, "detached": detached, "partitions": partitions, "purged": purged}


def export_partitions(conn: pg8000.native.Connection, out_dir: Path) -> list[dict[str, Any]]:
    """Write every detached partition not exported yet to `<out_dir>/<table>.csv.gz` (CSV with a header,
    ordered by id) and record the export (rows, SHA-256 of the file, its path), each in one snapshot, as the
    master. A file appears under its name only when complete; an export the table disagrees with is refused."""
    from pg8000.native import identifier

    out_dir.mkdir(parents=True, exist_ok=True)
    pending = [
        row[0]
        for row in conn.run(
            "SELECT table_name FROM detached_partitions WHERE dropped_on IS NULL AND exported_at IS NULL ORDER BY 1"
        )
    ]
    exported = []
    for name in pending:
        path = (out_dir / f"{name}.csv.gz").resolve()
        partial = path.with_name(path.name + ".partial")
        conn.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            [[rows]] = conn.run(f"SELECT count(*) FROM {identifier(name)}")
            with gzip.open(partial, "wb") as out:
                conn.run(
                    f"COPY (SELECT * FROM {identifier(name)} ORDER BY transaction_id)"
                    " TO STDOUT WITH (FORMAT csv, HEADER)",
                    stream=out,
                )
            digest = hashlib.sha256(partial.read_bytes()).hexdigest()
            conn.run("COMMIT")
        except BaseException:
            partial.unlink(missing_ok=True)
            try:
                conn.run("ROLLBACK")
            except Exception:  # the connection may be gone; the original error matters
                pass
            raise
        os.replace(partial, path)
        conn.run("SELECT mark_partition_exported(:n, :r, :s, :l)", n=name, r=rows, s=digest, l=str(path))
        exported.append({"table": name, "rows": rows, "sha256": digest, "file": str(path)})
    return exported


def _check_event(event: Any) -> None:
    if event in (None, {}) or event == MAINTENANCE_EVENT:
        return
    raise MaintenanceError(
        f"the maintenance function takes {json.dumps(MAINTENANCE_EVENT)} (or nothing), got {event!r}"
    )


def run(settings: DbSettings, today: date | None = None) -> dict[str, Any]:
    """Connect over verified TLS as `settings` (the maintainer) and do one day's upkeep."""
    from processor.pg_store import connect

    conn = connect(settings)
    try:
        return maintain(conn, today)
    finally:
        conn.close()


def _alarming(result: Mapping[str, Any]) -> None:
    flagged = {name: outcome for name, outcome in result["partitions"].items() if outcome in ALARMING_OUTCOMES}
    if flagged:
        raise MaintenanceError(f"not dropped, needs a person: {flagged} (export again, or see detached_partitions)")


def handle(event: Any, context: Any = None) -> dict[str, Any]:
    """Maintenance function entry point: the daily run as the maintainer role, never the master."""
    from processor.aws_secrets import fetch_secret_string
    from processor.config import maintainer_db_settings

    _check_event(event)
    result = run(maintainer_db_settings(os.environ, fetch_secret_string))
    print(json.dumps(result))
    _alarming(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    from processor.cli import add_connection_arguments, db_settings
    from processor.config import maintainer_db_settings
    from processor.contract import MAINTAINER_DB_USER

    parser = argparse.ArgumentParser(
        prog="python -m processor.maintain",
        description="run: one day's upkeep as the maintainer (what the daily function does); without --host it "
        "reads DB_CONNECTION_SECRET_ARN and DB_AUTH as the function does. export: write detached "
        "partitions awaiting export to files and record them; as the master (--user), by hand.",
    )
    parser.add_argument("command", choices=("run", "export"), nargs="?", default="run")
    parser.add_argument("--today", type=date.fromisoformat, help="act for this day (never after the server's)")
    parser.add_argument("--out", type=Path, help="export: the directory the files go to")
    add_connection_arguments(parser, user=MAINTAINER_DB_USER)
    args = parser.parse_args(argv)
    if args.command == "export" and (args.out is None or not args.host):
        parser.error("export needs --out and --host (as the master user)")
    settings = db_settings(args, parser, maintainer_db_settings)
    if args.command == "export":
        from processor.pg_store import connect

        conn = connect(settings)
        try:
            print(json.dumps(export_partitions(conn, args.out), indent=2))
        finally:
            conn.close()
        return 0
    result = run(settings, args.today)
    print(json.dumps(result, indent=2))
    _alarming(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

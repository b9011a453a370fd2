"""The daily data lifecycle as `txn_maintainer` on the PostgreSQL 16 rig, migrated by the RDS-like master.

Each integration test gets a database of its own, migrated by the migration code as the master with a
retention policy, as a deploy leaves it; the upkeep then runs as the maintainer role, with the day pinned in
the past (the functions never act for a day after the server's) and the data placed before it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pg8000.exceptions
import pytest

from processor import aws_secrets, maintain
from processor.contract import MAINTENANCE_EVENT, ConfigError, RetentionPolicy
from processor.maintain import MaintenanceError, export_partitions, set_policy
from tests.support.pipeline import MAINTAINER_DB_PASSWORD, maintainer_settings, master_settings

#: The day the runs act for: in the past, so the server's own date never caps it.
TODAY = date(2026, 6, 15)
LIFECYCLE_FUNCTIONS = {
    "lifecycle_create_partitions(date)",
    "lifecycle_detach_partitions(date)",
    "lifecycle_drop_partitions(date)",
    "lifecycle_purge(date)",
}


@dataclass
class LifecycleDb:
    name: str
    master: pg8000.native.Connection
    maintainer: object  # DbSettings

    def upkeep(self, day: date = TODAY) -> dict:
        return maintain.run(self.maintainer, day)

    def policy(self, **changes) -> RetentionPolicy:
        policy = RetentionPolicy(**changes)
        set_policy(self.master, policy)
        return policy

    def transaction(self, txn_id: str, occurred_at: str) -> None:
        self.master.run("SELECT ensure_transaction_partitions(CAST(:d AS date), CAST(:d AS date))", d=occurred_at[:10])
        self.master.run("INSERT INTO transaction_ids VALUES (:i, CAST(:t AS timestamptz))", i=txn_id, t=occurred_at)
        self.master.run(
            "INSERT INTO transactions (transaction_id, customer_id, merchant_id, amount, currency,"
            " occurred_at, payment_method, sequence_number) VALUES (:i, 'c-1', 'm-1', 1200, 'JPY',"
            " CAST(:t AS timestamptz), 'card', '1')",
            i=txn_id,
            t=occurred_at,
        )

    def count(self, table: str, where: str = "true") -> int:
        return self.master.run(f"SELECT count(*) FROM {table} WHERE {where}")[0][0]

    def exists(self, table: str) -> bool:
        return self.master.run("SELECT to_regclass(:t) IS NOT NULL", t=table)[0][0]


@pytest.fixture
def lifecycle_db(pg_server) -> Iterator[LifecycleDb]:
    from processor.migrate import run

    name = f"lifecycle_{secrets.token_hex(4)}"
    admin = pg_server.connect(pg_server.master_user, pg_server.master_password)
    admin.run(f"CREATE DATABASE {name}")
    try:
        run(master_settings(pg_server, name), RetentionPolicy())  # what the migration function does on deploy
        conn = pg_server.connect(pg_server.master_user, pg_server.master_password, database=name)
        try:
            yield LifecycleDb(name, conn, maintainer_settings(pg_server, name))
        finally:
            conn.close()
    finally:
        admin.run(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def _partitions(db: LifecycleDb) -> set:
    return {
        row[0]
        for row in db.master.run(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'transactions'::regclass"
        )
    }


def _denied(conn, sql: str) -> str:
    with pytest.raises(pg8000.exceptions.DatabaseError) as caught:
        conn.run(sql)
    assert caught.value.args[0]["C"] == "42501", caught.value.args[0]
    return caught.value.args[0]["M"]


# --------------------------------------------------------------------------------------------------
# The role: exactly what maintenance needs
# --------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_maintainer_may_execute_the_lifecycle_functions_and_nothing_else(pg_conn):
    role = pg_conn.run(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = 'txn_maintainer'"
    )
    assert role == [[False, False, False, True, False, False]]
    # Granted rds_iam by the RDS-like master on PostgreSQL 16 (IAM tokens on RDS); member of nothing else.
    assert pg_conn.run(
        "SELECT r.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid"
        " WHERE a.member = 'txn_maintainer'::regrole"
    ) == [["rds_iam"]]
    for view in ("role_table_grants", "role_column_grants", "role_usage_grants"):
        assert pg_conn.run(f"SELECT * FROM information_schema.{view} WHERE grantee = 'txn_maintainer'") == []
    executable = {
        row[0]
        for row in pg_conn.run(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace"
            " AND has_function_privilege('txn_maintainer', p.oid, 'EXECUTE')"
        )
    }
    assert executable == LIFECYCLE_FUNCTIONS
    # Each runs as the master, who owns every table; none of them can be replaced by the maintainer.
    definers = pg_conn.run(
        "SELECT p.oid::regprocedure::text, p.prosecdef, pg_get_userbyid(p.proowner),"
        " p.proconfig FROM pg_proc p WHERE p.proname LIKE 'lifecycle\\_%' ORDER BY 1"
    )
    assert {row[0] for row in definers} == LIFECYCLE_FUNCTIONS
    assert all(row[1:] == [True, "japancart_admin", ["search_path=public, pg_temp"]] for row in definers)
    assert pg_conn.run(
        "SELECT has_schema_privilege('txn_maintainer', 'public', 'CREATE'),"
        " has_database_privilege('txn_maintainer', current_database(), 'CREATE')"
    ) == [[False, False]]


@pytest.mark.integration
def test_the_processor_role_executes_none_of_the_schemas_functions(pg_conn):
    """ensure_transaction_partitions was executable by every role (PostgreSQL's default for functions)."""
    assert (
        pg_conn.run(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace"
            " AND has_function_privilege('txn_writer', p.oid, 'EXECUTE')"
        )
        == []
    )


@pytest.mark.integration
def test_the_maintainer_cannot_touch_data_or_policy_directly(lifecycle_db):
    db = lifecycle_db
    db.transaction("t-1", "2026-06-01T00:00:00Z")
    db.master.run("SELECT ensure_transaction_partitions(DATE '2019-01-01', DATE '2019-01-01')")
    db.master.run("ALTER TABLE transactions DETACH PARTITION transactions_y2019m01")
    from processor.pg_store import connect

    conn = connect(db.maintainer)
    try:
        for sql in (
            "SELECT count(*) FROM transactions",
            "DELETE FROM transaction_ids",
            "UPDATE maintenance_policy SET transaction_retention_months = 1",
            "UPDATE detached_partitions SET detached_on = DATE '2000-01-01'",
            "SELECT ensure_transaction_partitions(DATE '2030-01-01', DATE '2030-01-01')",
            "SELECT mark_partition_exported('transactions_y2019m01', 0, 'x', 'y')",
            "SELECT maintenance_day(DATE '2999-01-01')",
        ):
            _denied(conn, sql)
        assert "must be owner" in _denied(conn, "DROP TABLE transactions_y2019m01")
    finally:
        conn.close()
    assert db.count("transaction_ids") == 1 and db.exists("transactions_y2019m01")


# --------------------------------------------------------------------------------------------------
# The daily upkeep
# --------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_upkeep_makes_partitions_ahead_detaches_expired_months_and_purges_old_rows(lifecycle_db):
    db = lifecycle_db
    db.transaction("old-1", "2019-06-30T23:59:59Z")  # June 2019: past 84 months on 2026-06-15
    db.transaction("kept-1", "2019-07-01T00:00:00Z")  # July 2019: the oldest month still kept
    db.master.run(
        "INSERT INTO customer_windows VALUES ('c-1', 'day', '2019-06-30T15:00:00Z', 'JPY', 1, 1200),"
        " ('c-1', 'day', '2019-07-01T15:00:00Z', 'JPY', 1, 1200)"
    )
    db.master.run(
        "INSERT INTO rejected_transactions (stream_arn, shard_id, sequence_number, raw_payload, reason,"
        " created_at) VALUES ('s', 'shard', '1', 'x', 'r', '2026-03-16T23:59:59Z'),"
        " ('s', 'shard', '2', 'x', 'r', '2026-03-17T00:00:00Z')"
    )  # 90 days before 2026-06-15

    result = db.upkeep()

    # Twelve months back and three ahead of the day (what the migration made around the real date aside).
    around = {f"transactions_y{(2025 * 12 + 5 + n) // 12}m{(5 + n) % 12 + 1:02d}" for n in range(16)}
    assert {"transactions_y2025m06", "transactions_y2026m09"} <= around
    assert set(result["created"]) <= around and around <= _partitions(db)
    assert result["detached"] == ["transactions_y2019m06"]
    assert result["partitions"] == {}  # detached today: its grace period starts
    assert result["purged"] == {
        "transaction_ids": 1,
        "customer_windows": 1,
        "rejected_transactions": 1,
        "transaction_conflicts": 0,
        "rule_alerts": 0,
    }
    assert [r[0] for r in db.master.run("SELECT transaction_id FROM transactions")] == ["kept-1"]
    assert db.count("transactions_y2019m06") == 1  # detached, not dropped
    assert db.master.run("SELECT table_name, month, detached_on, dropped_on FROM detached_partitions") == [
        ["transactions_y2019m06", date(2019, 6, 1), TODAY, None]
    ]
    again = db.upkeep()
    assert (again["created"], again["detached"]) == ([], [])


@pytest.mark.integration
def test_conflicts_and_alerts_are_purged_after_their_configured_days(lifecycle_db):
    db = lifecycle_db
    db.policy(conflict_retention_days=30, alert_retention_days=400)
    db.transaction("t-1", "2026-01-10T00:00:00Z")
    db.master.run(
        "INSERT INTO transaction_conflicts (transaction_id, stream_arn, shard_id, sequence_number,"
        " payload, received_at) VALUES ('t-1', 's', 'shard', '1', '{}', '2026-05-15T23:59:59Z'),"
        " ('t-1', 's', 'shard', '2', '{}', '2026-05-16T00:00:00Z')"
    )  # 30 days before 2026-06-15
    db.master.run(
        "INSERT INTO rule_alerts (rule, customer_id, window_key, window_start, window_end, currency,"
        " observed_value, threshold, updated_at) VALUES"
        " ('r', 'c-1', 'old', '2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', 'JPY', 2, 1, '2025-05-10T23:59:59Z'),"
        " ('r', 'c-1', 'new', '2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z', 'JPY', 2, 1, '2025-05-11T00:00:00Z')"
    )

    purged = db.upkeep()["purged"]

    assert (purged["transaction_conflicts"], purged["rule_alerts"]) == (1, 1)
    assert db.master.run("SELECT sequence_number FROM transaction_conflicts") == [["2"]]
    assert db.master.run("SELECT window_key FROM rule_alerts") == [["new"]]


@pytest.mark.integration
def test_a_conflict_of_an_expired_transaction_does_not_stop_the_upkeep(lifecycle_db):
    """transaction_conflicts references transaction_ids: deleting an expired id used to fail on its conflict."""
    db = lifecycle_db
    db.transaction("old-1", "2019-06-01T00:00:00Z")
    db.master.run(
        "INSERT INTO transaction_conflicts (transaction_id, stream_arn, shard_id, sequence_number, payload,"
        " received_at) VALUES ('old-1', 's', 'shard', '1', '{}', '2026-06-01T00:00:00Z')"
    )
    assert db.upkeep()["purged"]["transaction_conflicts"] == 1
    assert db.count("transaction_ids") == 0 and db.count("transaction_conflicts") == 0


# --------------------------------------------------------------------------------------------------
# Detached partitions: grace period, optional export, drop
# --------------------------------------------------------------------------------------------------


def _detach_june_2019(db: LifecycleDb) -> None:
    db.transaction("old-1", "2019-06-05T00:00:00Z")
    db.transaction("old-2", "2019-06-06T00:00:00Z")
    assert db.upkeep()["detached"] == ["transactions_y2019m06"]


@pytest.mark.integration
def test_a_detached_partition_is_dropped_once_its_grace_period_is_over(lifecycle_db):
    db = lifecycle_db
    db.policy(partition_drop_grace_days=30)
    _detach_june_2019(db)
    assert db.upkeep(TODAY + timedelta(days=29))["partitions"] == {}
    assert db.exists("transactions_y2019m06")
    assert db.upkeep(TODAY + timedelta(days=30))["partitions"] == {"transactions_y2019m06": "dropped"}
    assert not db.exists("transactions_y2019m06")
    assert db.master.run("SELECT dropped_on FROM detached_partitions") == [[TODAY + timedelta(days=30)]]
    assert db.upkeep(TODAY + timedelta(days=31))["partitions"] == {}  # recorded, never again


@pytest.mark.integration
def test_with_export_before_drop_a_partition_waits_for_its_export(lifecycle_db, tmp_path):
    db = lifecycle_db
    db.policy(partition_drop_grace_days=1, export_before_drop=True)
    _detach_june_2019(db)
    later = TODAY + timedelta(days=5)
    assert db.upkeep(later)["partitions"] == {"transactions_y2019m06": "awaiting export"}
    assert db.exists("transactions_y2019m06")

    [export] = export_partitions(db.master, tmp_path / "archive")  # the master, by hand

    file = tmp_path / "archive" / "transactions_y2019m06.csv.gz"
    assert export == {
        "table": "transactions_y2019m06",
        "rows": 2,
        "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
        "file": str(file),
    }
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(file.read_bytes()).decode("utf-8"))))
    assert [(r["transaction_id"], r["amount"], r["currency"]) for r in rows] == [
        ("old-1", "1200.000", "JPY"),
        ("old-2", "1200.000", "JPY"),
    ]
    assert not list((tmp_path / "archive").glob("*.partial"))
    assert db.master.run("SELECT export_rows, export_sha256, export_location FROM detached_partitions") == [
        [2, export["sha256"], str(file)]
    ]
    assert export_partitions(db.master, tmp_path / "archive") == []  # nothing left to export
    assert db.upkeep(later)["partitions"] == {"transactions_y2019m06": "dropped"}
    assert not db.exists("transactions_y2019m06")


@pytest.mark.integration
def test_a_partition_that_changed_after_its_export_is_kept_and_the_run_fails(
    lifecycle_db, tmp_path, pg_server, monkeypatch
):
    db = lifecycle_db
    db.policy(partition_drop_grace_days=1, export_before_drop=True)
    _detach_june_2019(db)
    export_partitions(db.master, tmp_path)
    db.master.run("DELETE FROM transactions_y2019m06 WHERE transaction_id = 'old-2'")  # someone edited it
    monkeypatch.setenv("PGPASSWORD", MAINTAINER_DB_PASSWORD)
    args = [
        "run",
        "--today",
        (TODAY + timedelta(days=5)).isoformat(),
        "--host",
        pg_server.host,
        "--port",
        str(pg_server.port),
        "--dbname",
        db.name,
        "--ca-file",
        pg_server.ca_file,
    ]
    with pytest.raises(MaintenanceError, match="transactions_y2019m06.*changed since export"):
        maintain.main(args)  # the CLI as the maintainer; the function fails the same way (its Errors alarm)
    assert db.count("transactions_y2019m06") == 1


@pytest.mark.integration
def test_an_export_that_does_not_match_the_table_is_refused(lifecycle_db):
    db = lifecycle_db
    _detach_june_2019(db)
    with pytest.raises(pg8000.exceptions.DatabaseError, match="holds 2 rows, the export has 1"):
        db.master.run("SELECT mark_partition_exported('transactions_y2019m06', 1, 'x', 'y')")
    with pytest.raises(pg8000.exceptions.DatabaseError, match="not a detached partition awaiting its drop"):
        db.master.run("SELECT mark_partition_exported('transactions_y2026m06', 0, 'x', 'y')")


# --------------------------------------------------------------------------------------------------
# Whoever holds the role can run the upkeep early, never shorten a retention
# --------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_day_after_the_servers_date_is_the_servers_date(lifecycle_db):
    db = lifecycle_db
    now = datetime.now(UTC).date()
    oldest_kept = date((now.year * 12 + now.month - 1 - 83) // 12, (now.year * 12 + now.month - 1 - 83) % 12 + 1, 1)
    db.transaction("kept-1", oldest_kept.isoformat() + "T00:00:00Z")
    db.policy(partition_drop_grace_days=3650)
    _detach_june_2019(db)

    result = db.upkeep(date(2999, 1, 1))

    # In 2999 every month would be past 84 months, and June 2019's ten-year grace period over.
    assert (result["detached"], result["partitions"]) == ([], {})
    assert db.count("transactions", "transaction_id = 'kept-1'") == 1 and db.exists("transactions_y2019m06")
    assert (
        db.master.run("SELECT max(relname) FROM pg_class WHERE relname ~ '^transactions_y'")[0][0]
        <= f"transactions_y{now.year + 1}m12"
    )  # nothing made for 2999
    assert db.master.run("SELECT detached_on FROM detached_partitions") == [[TODAY]]


@pytest.mark.integration
def test_without_a_policy_nothing_runs(pg_server):
    from processor.migrate import run

    name = f"lifecycle_{secrets.token_hex(4)}"
    admin = pg_server.connect(pg_server.master_user, pg_server.master_password)
    admin.run(f"CREATE DATABASE {name}")
    try:
        run(master_settings(pg_server, name))  # migrated by hand: the policy comes with a deploy
        with pytest.raises(pg8000.exceptions.DatabaseError, match="no maintenance policy: the migration function"):
            maintain.run(maintainer_settings(pg_server, name), TODAY)
    finally:
        admin.run(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


# --------------------------------------------------------------------------------------------------
# The maintenance function
# --------------------------------------------------------------------------------------------------


@pytest.mark.integration
def test_maintenance_function_signs_in_as_the_maintainer_and_never_reads_the_master_secret(
    aws_env, pg_server, redis_server, pg_conn, monkeypatch, capsys
):
    import boto3
    from lambda_env import create_secrets

    env = create_secrets(pg_server, redis_server)
    set_policy(pg_conn, RetentionPolicy())
    for name, value in {
        "DB_CONNECTION_SECRET_ARN": env["DB_CONNECTION_SECRET_ARN"],
        "DB_AUTH": "password",
        "DB_PASSWORD_SECRET_ARN": env["_MAINTAINER_PASSWORD_SECRET_ARN"],
        "DB_CA_BUNDLE": pg_server.ca_file,
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("secretsmanager")
    read: list = []
    real_get = client.get_secret_value
    client.get_secret_value = lambda SecretId: read.append(SecretId) or real_get(SecretId=SecretId)
    monkeypatch.setattr(aws_secrets, "_secrets_client", lambda: client)

    result = maintain.handle(MAINTENANCE_EVENT)  # what the schedule sends

    assert set(result) == {"day", "created", "detached", "partitions", "purged"}
    assert sorted(read) == sorted([env["DB_CONNECTION_SECRET_ARN"], env["_MAINTAINER_PASSWORD_SECRET_ARN"]])
    assert re.search(
        rf"connection authorized: user=txn_maintainer database={pg_server.dbname} .*SSL enabled", pg_server.log_text()
    )
    assert '"purged"' in capsys.readouterr().out


def test_maintenance_function_takes_only_the_schedules_event():
    for event in ({"action": "migrate"}, {"action": "maintain", "today": "2999-01-01"}, ["maintain"]):
        with pytest.raises(MaintenanceError, match='takes {"action": "maintain"}'):
            maintain.handle(event)


# --------------------------------------------------------------------------------------------------
# The policy's own checks (the configuration checks the same ranges before synthesis)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"transaction_retention_months": 0},
            "retention.transaction_retention_months must be a whole number from 1 to 240, got 0",
        ),
        (
            {"conflict_retention_days": 3651},
            "retention.conflict_retention_days must be a whole number from 1 to 3650, got 3651",
        ),
        (
            {"alert_retention_days": True},
            "retention.alert_retention_days must be a whole number from 1 to 3650, got True",
        ),
        (
            {"partition_drop_grace_days": 2.0},
            "retention.partition_drop_grace_days must be a whole number from 1 to 3650, got 2.0",
        ),
        ({"export_before_drop": "yes"}, "retention.export_before_drop must be true or false, got 'yes'"),
    ],
)
def test_retention_policy_refuses_bad_values(changes, message):
    with pytest.raises(ConfigError) as caught:
        RetentionPolicy(**changes)
    assert str(caught.value) == message


def test_retention_policy_from_the_event_takes_every_field_and_nothing_else():
    assert RetentionPolicy.from_mapping(RetentionPolicy(alert_retention_days=9).as_dict()).alert_retention_days == 9
    with pytest.raises(ConfigError, match=r"unknown \['drop_everything'\], missing \['export_before_drop'\]"):
        RetentionPolicy.from_mapping(
            {
                **{k: v for k, v in RetentionPolicy().as_dict().items() if k != "export_before_drop"},
                "drop_everything": True,
            }
        )

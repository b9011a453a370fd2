"""Throughput of the batch path vs a naive per-record consumer, in the configuration production runs.

    python bench/processor_bench.py [--runs 5] [--batch-size 500] [--batches 10] [--no-fsync]

Starts the test rig (tests/support/servers.py): PostgreSQL TLS-only with SCRAM-SHA-256 and
RDS-like roles, Redis TLS-only with the processor's ACL user, certificates from a throwaway
CA. Both paths connect as production does: verified TLS (CA and host name), the application
role ``txn_writer`` (a password on the rig, an IAM token on RDS, same SCRAM/TLS handshake
otherwise) and the Redis ACL user. The batch path is ``BatchProcessor.process`` on
Kinesis-shaped events: validation, one PostgreSQL transaction (rows, windows, alerts), one
Redis script call per batch. The naive path does what a simple consumer would: per record,
validate, one SET, one INSERT, one COMMIT (it skips the windows and rules, so the ratio is,
if anything, flattering to it). Durable commits (fsync on) by default.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "processor"))

from txn_events import STREAM_ARN, kinesis_event  # noqa: E402

from processor import pg_store, redis_store  # noqa: E402
from processor.config import DbSettings, RedisSettings, RuleThresholds, Settings  # noqa: E402
from processor.contract import (  # noqa: E402
    APP_DB_USER,  # noqa: E402
    AUTH_PASSWORD,
    METRIC_NAMESPACE,
    REDIS_ACL_RULES,
)
from processor.handler import BatchProcessor  # noqa: E402
from processor.migrate import run as migrate  # noqa: E402
from processor.schema import parse_transaction  # noqa: E402
from tests.support.pipeline import REDIS_USER  # noqa: E402
from tests.support.servers import PostgresServer, RedisServer, ServerUnavailable, TestCA  # noqa: E402

APP_PASSWORD = "bench-txn-writer-password"
REDIS_PASSWORD = "bench-txn-processor-password-0123456789"
TABLES = "transactions, transaction_ids, rejected_transactions, transaction_conflicts, customer_windows, rule_alerts"
NAIVE_INSERT = (
    "INSERT INTO transactions (transaction_id, customer_id, merchant_id, amount, currency, occurred_at,"
    " payment_method, metadata, sequence_number) VALUES (:id, :cust, :merch, :amount, :cur,"
    " CAST(:at AS timestamptz), :method, CAST(:meta AS jsonb), :seq) ON CONFLICT DO NOTHING"
)


CUSTOMERS = 20_000
# Batches each run processes before the clock starts: connect (TLS, SCRAM), then reach the state a
# warm Lambda container is in. PostgreSQL plans a prepared statement afresh for its first five runs
# and then keeps a generic plan; a container handles thousands of batches on one connection.
WARMUP_BATCHES = 5


def make_payloads(run: int, count: int) -> list[bytes]:
    """``count`` valid transactions; customers rotate so histories grow as in production."""
    now = datetime.now(UTC)
    payloads = []
    for n in range(count):
        customer = (run * count + n * 7) % CUSTOMERS
        payloads.append(
            json.dumps(
                {
                    "transaction_id": f"bench-{run}-{n}",
                    "customer_id": f"cust-{customer:05d}",
                    "merchant_id": f"merchant-{n % 50:03d}",
                    "amount": str(500 + n % 20000),
                    "currency": "JPY",
                    "occurred_at": (now - timedelta(seconds=n % 3600)).isoformat(),
                    "payment_method": "card",
                    "metadata": {"channel": "web"},
                }
            ).encode("utf-8")
        )
    return payloads


def to_event(payloads: list[bytes], first_seq: int) -> dict:
    return kinesis_event(payloads, first_seq=first_seq)


def make_reset(pg_server: PostgresServer, redis_server: RedisServer) -> Callable[[], None]:
    def reset() -> None:
        client = redis_server.client()
        client.flushall()
        client.close()
        conn = pg_server.connect(pg_server.master_user, pg_server.master_password)
        conn.run(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        conn.close()

    return reset


def describe_connections(settings: Settings) -> str:
    """What the server side saw, so the figures say which configuration they measure."""
    conn = pg_store.connect(settings.db)
    version, user, server = conn.run(
        "SELECT s.version, current_user, current_setting('server_version')"
        " FROM pg_stat_ssl s WHERE pid = pg_backend_pid()"
    )[0]
    conn.close()
    client = redis_store.connect(settings.redis)
    client.ping()  # logged in as the ACL user, or this raises
    tls = client.connection_pool.get_connection("PING")._sock.version()  # type: ignore[union-attr]
    redis_version = client.info("server")["redis_version"]
    client.close()
    return (
        f"postgres {server}: {version}, certificate and host name verified, SCRAM-SHA-256 as {user} "
        f"(not the master)\n"
        f"redis {redis_version}: {tls}, certificate and host name verified, ACL user {settings.redis.username}"
    )


def _process_all(processor: BatchProcessor, events: list[dict]) -> None:
    for event in events:
        if processor.process(event)["batchItemFailures"]:
            raise RuntimeError("batch path reported failures during the benchmark")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BatchRun(NamedTuple):
    """One run's throughput, and the CPU time a batch cost each process (ms): unlike the
    throughput, CPU time moves little when other work shares the machine's cores."""

    txn_per_second: float
    client_cpu_ms: float
    postgres_cpu_ms: float
    redis_cpu_ms: float


def batch_run(settings: Settings, run: int, batch_size: int, batches: int) -> BatchRun:
    """Throughput of ``BatchProcessor.process`` with connections and plans warm."""
    processor = BatchProcessor(settings, emit=lambda line: None)
    warmup = [
        to_event(make_payloads(-(run * 100 + b) - 1, batch_size), 10**6 + b * batch_size) for b in range(WARMUP_BATCHES)
    ]
    _process_all(processor, warmup)
    pids = (
        processor._pg_conn().run("SELECT pg_backend_pid()")[0][0],
        int(processor._redis_client().info("server")["process_id"]),
    )
    events = [to_event(make_payloads(run * 1000 + b, batch_size), b * batch_size) for b in range(batches)]
    cpu_before = [time.process_time(), *map(_cpu_seconds, pids)]
    start = time.perf_counter()
    _process_all(processor, events)
    elapsed = time.perf_counter() - start
    cpu_ms = [
        (after - before) * 1000 / batches
        for before, after in zip(cpu_before, [time.process_time(), *map(_cpu_seconds, pids)], strict=True)
    ]
    processor.close()
    return BatchRun(batch_size * batches / elapsed, *cpu_ms)


def naive_run(settings: Settings, run: int, count: int) -> float:
    """Per record: decode, validate, SET with TTL, INSERT, COMMIT."""
    client = redis_store.connect(settings.redis)
    conn = pg_store.connect(settings.db)
    payloads = make_payloads(run * 1000 + 999, count)
    start = time.perf_counter()
    for seq, payload in enumerate(payloads):
        txn = parse_transaction(payload)
        client.set(redis_store.txn_key(txn.transaction_id), txn.to_json(), ex=settings.history_ttl_seconds)
        conn.run("BEGIN")
        conn.run(
            NAIVE_INSERT,
            id=txn.transaction_id,
            cust=txn.customer_id,
            merch=txn.merchant_id,
            amount=txn.amount,
            cur=txn.currency,
            at=txn.occurred_at.isoformat(),
            method=txn.payment_method,
            meta=json.dumps(txn.metadata),
            seq=str(seq),
        )
        conn.run("COMMIT")
    elapsed = time.perf_counter() - start
    client.close()
    conn.close()
    return count / elapsed


def median_of(runs: int, measure: Callable[[int], Any], reset: Callable[[], None]) -> list[Any]:
    results = []
    for run in range(runs):
        reset()
        results.append(measure(run))
    return results


def end_to_end(records: int, batch_size: int, durable: bool, runs: int) -> str:
    """``runs`` runs through the whole pipeline (tests/support/pipeline.py), each on fresh servers: Kinesis is moto
    over HTTP, so this figure is bounded by the emulator, not by the processor; it shows the path works at volume.
    One run lasts about a second, so the median of several is what to compare. The CPU time this process spent
    meanwhile (handler, event source and moto, all in its threads) moves far less than the rate when other work
    shares the machine."""
    from tests.support.pipeline import run, running_pipeline

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("processor").setLevel(logging.ERROR)
    rates, cpu_ms = [], []
    for _ in range(runs):
        with running_pipeline(shards=2, durable=durable) as pipeline:
            result = run(pipeline, records, seed=3, batch_size=batch_size)
        stats = result["stats"]
        rates.append(stats.records_delivered / result["seconds"])
        cpu_ms.append(result["cpu_seconds"] * 1000)
    return (
        f"end to end (producer -> Kinesis emulator -> event source emulator -> handler -> TLS stores, "
        f"{stats.records_delivered} records, {stats.invocations} invocations, 2 shards; median of {runs} runs): "
        f"{statistics.median(rates):,.0f} records/s (runs: {', '.join(f'{r:,.0f}' for r in rates)}); "
        f"CPU of this process meanwhile {statistics.median(cpu_ms):,.0f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--naive-records", type=int, default=1000)
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off")
    parser.add_argument(
        "--e2e-records",
        type=int,
        default=5000,
        help="records through producer -> Kinesis emulator -> event source -> handler (0: skip)",
    )
    parser.add_argument("--e2e-runs", type=int, default=3, help="end-to-end runs; their median is printed")
    args = parser.parse_args()
    # Each run starts from an empty Redis, which the processor rebuilds (and says so at WARNING): not news here.
    logging.getLogger("processor").setLevel(logging.ERROR)
    ca = TestCA()
    os.environ["SSL_CERT_FILE"] = ca.ca_file  # Redis: the default trust store, as in Lambda; here the rig CA
    os.environ.pop("SSL_CERT_DIR", None)
    try:
        pg_server = PostgresServer(ca, durable=not args.no_fsync).start()
        redis_server = RedisServer(ca, acl_rules=REDIS_ACL_RULES, user=REDIS_USER, password=REDIS_PASSWORD).start()
    except ServerUnavailable as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    try:
        migrate(
            DbSettings(
                pg_server.host,
                pg_server.port,
                pg_server.dbname,
                pg_server.master_user,
                auth=AUTH_PASSWORD,
                password=pg_server.master_password,
                ca_file=ca.ca_file,
            )
        )
        pg_server.set_password(APP_DB_USER, APP_PASSWORD)
        settings = Settings(
            db=DbSettings(
                pg_server.host,
                pg_server.port,
                pg_server.dbname,
                APP_DB_USER,
                auth=AUTH_PASSWORD,
                password=APP_PASSWORD,
                ca_file=ca.ca_file,
            ),
            redis=RedisSettings(redis_server.host, redis_server.port, REDIS_USER, password=REDIS_PASSWORD),
            thresholds=RuleThresholds(20, Decimal(1_000_000), Decimal(500_000)),
            history_ttl_seconds=86400,
            metric_namespace=METRIC_NAMESPACE,
            environment="dev",
            stream_arn=STREAM_ARN,
        )
        print(describe_connections(settings))
        reset = make_reset(pg_server, redis_server)
        batch_runs = median_of(args.runs, lambda r: batch_run(settings, r, args.batch_size, args.batches), reset)
        naive = median_of(args.runs, lambda r: naive_run(settings, r, args.naive_records), reset)
    finally:
        redis_server.destroy()
        pg_server.destroy()
        ca.cleanup()
    batch = [r.txn_per_second for r in batch_runs]
    batch_median, naive_median = statistics.median(batch), statistics.median(naive)
    ratio = batch_median / naive_median
    print(f"postgres fsync: {'off' if args.no_fsync else 'on'}; runs: {args.runs}")
    print(
        f"batch path ({args.batch_size}/batch x {args.batches}, after {WARMUP_BATCHES} warm-up batches): "
        f"median {batch_median:,.0f} txn/s (runs: {', '.join(f'{v:,.0f}' for v in batch)})"
    )
    print(
        "CPU per batch, medians of runs (ms): "
        + ", ".join(
            f"{name} {statistics.median(getattr(r, field) for r in batch_runs):.1f}"
            for name, field in (
                ("client", "client_cpu_ms"),
                ("PostgreSQL backend", "postgres_cpu_ms"),
                ("Redis", "redis_cpu_ms"),
            )
        )
    )
    print(
        f"naive path (per record, {args.naive_records} records): median {naive_median:,.0f} txn/s "
        f"(runs: {', '.join(f'{v:,.0f}' for v in naive)})"
    )
    print(f"ratio batch/naive: {ratio:.1f}x")
    if args.e2e_records:
        print(end_to_end(args.e2e_records, args.batch_size, durable=not args.no_fsync, runs=max(1, args.e2e_runs)))
    goals = batch_median >= 5000 and ratio >= 10
    print(f"goals (>= 5,000 txn/s and >= 10x): {'met' if goals else 'NOT met'}")
    return 0  # a benchmark reports figures; it does not fail on timing


if __name__ == "__main__":
    sys.exit(main())

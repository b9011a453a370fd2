"""Throughput of the batch path vs a naive per-record consumer.

    python bench/processor_bench.py [--runs 5] [--batch-size 500] [--batches 10] [--no-fsync]

Starts its own redis-server and PostgreSQL (same helpers as the tests). The
batch path is the real Lambda handler on Kinesis-shaped events: validation,
one Redis pipeline, the rules, one multi-row INSERT and one commit per batch.
The naive path does what a simple consumer would: per record, validate, one
SET, one INSERT, one COMMIT (it skips the sorted sets and rules, so the ratio
is, if anything, flattering to it). Durable commits (fsync on) by default,
since the real database is durable.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor import pg_store, redis_store  # noqa: E402
from processor.config import RuleThresholds, Settings  # noqa: E402
from processor.handler import BatchProcessor  # noqa: E402
from processor.migrate import apply_migrations  # noqa: E402
from processor.schema import parse_transaction  # noqa: E402
from processor.testing_servers import PostgresServer, RedisServer, ServerUnavailable  # noqa: E402

NAIVE_INSERT = (
    "INSERT INTO transactions (transaction_id, customer_id, merchant_id, amount, currency, occurred_at,"
    " payment_method, metadata, sequence_number) VALUES (:id, :cust, :merch, :amount, :cur,"
    " CAST(:at AS timestamptz), :method, CAST(:meta AS jsonb), :seq) ON CONFLICT (transaction_id) DO NOTHING"
)


CUSTOMERS = 20_000


def make_payloads(run: int, count: int) -> List[bytes]:
    """``count`` valid transactions; customers rotate so histories grow as in production."""
    now = datetime.now(timezone.utc)
    payloads = []
    for n in range(count):
        customer = (run * count + n * 7) % CUSTOMERS
        payloads.append(json.dumps({
            "transaction_id": f"bench-{run}-{n}", "customer_id": f"cust-{customer:05d}",
            "merchant_id": f"merchant-{n % 50:03d}", "amount": str(500 + n % 20000), "currency": "JPY",
            "occurred_at": (now - timedelta(seconds=n % 3600)).isoformat(), "payment_method": "card",
            "metadata": {"channel": "web"},
        }).encode("utf-8"))
    return payloads


def to_event(payloads: List[bytes], first_seq: int) -> Dict:
    return {"Records": [{"kinesis": {"data": base64.b64encode(p).decode("ascii"),
                                     "sequenceNumber": str(first_seq + i), "partitionKey": "k"}}
                        for i, p in enumerate(payloads)]}


def reset(settings: Settings) -> None:
    client = redis_store.connect(settings.redis)
    client.flushall()
    client.close()
    conn = pg_store.connect(settings.db)
    conn.run("TRUNCATE transactions, rejected_transactions, transaction_alerts")
    conn.close()


def batch_run(settings: Settings, run: int, batch_size: int, batches: int) -> float:
    """Transactions per second through ``BatchProcessor.process`` (connections warm)."""
    processor = BatchProcessor(settings, emit=lambda line: None)
    processor.process(to_event(make_payloads(-run - 1, 10), 10**9))  # connect + migrate check
    events = [to_event(make_payloads(run * 1000 + b, batch_size), b * batch_size) for b in range(batches)]
    start = time.perf_counter()
    for event in events:
        if processor.process(event)["batchItemFailures"]:
            raise RuntimeError("batch path reported failures during the benchmark")
    elapsed = time.perf_counter() - start
    processor.close()
    return batch_size * batches / elapsed


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
        conn.run(NAIVE_INSERT, id=txn.transaction_id, cust=txn.customer_id, merch=txn.merchant_id,
                 amount=txn.amount, cur=txn.currency, at=txn.occurred_at.isoformat(),
                 method=txn.payment_method, meta=json.dumps(txn.metadata), seq=str(seq))
        conn.run("COMMIT")
    elapsed = time.perf_counter() - start
    client.close()
    conn.close()
    return count / elapsed


def median_of(runs: int, measure: Callable[[int], float], settings: Settings) -> List[float]:
    results = []
    for run in range(runs):
        reset(settings)
        results.append(measure(run))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--naive-records", type=int, default=1000)
    parser.add_argument("--no-fsync", action="store_true", help="PostgreSQL with fsync off")
    args = parser.parse_args()
    try:
        redis_server = RedisServer().start()
        pg_server = PostgresServer(durable=not args.no_fsync).start()
    except ServerUnavailable as exc:
        print(f"cannot run the benchmark: {exc}", file=sys.stderr)
        return 2
    try:
        settings = Settings(
            db=pg_server.settings, redis=redis_server.settings,
            thresholds=RuleThresholds(20, Decimal(1_000_000), Decimal(500_000)),
            metric_namespace="JapanCart/TransactionMonitoring", environment="dev",
        )
        conn = pg_store.connect(settings.db)
        apply_migrations(conn)
        conn.close()
        batch = median_of(args.runs, lambda r: batch_run(settings, r, args.batch_size, args.batches), settings)
        naive = median_of(args.runs, lambda r: naive_run(settings, r, args.naive_records), settings)
    finally:
        redis_server.stop()
        pg_server.destroy()
    batch_median, naive_median = statistics.median(batch), statistics.median(naive)
    ratio = batch_median / naive_median
    print(f"postgres fsync: {'off' if args.no_fsync else 'on'}; runs: {args.runs}")
    print(f"batch path ({args.batch_size}/batch x {args.batches}): median {batch_median:,.0f} txn/s "
          f"(runs: {', '.join(f'{v:,.0f}' for v in batch)})")
    print(f"naive path (per record, {args.naive_records} records): median {naive_median:,.0f} txn/s "
          f"(runs: {', '.join(f'{v:,.0f}' for v in naive)})")
    print(f"ratio batch/naive: {ratio:.1f}x")
    goals = batch_median >= 5000 and ratio >= 10
    print(f"goals (>= 5,000 txn/s and >= 10x): {'met' if goals else 'NOT met'}")
    return 0  # a benchmark reports figures; it does not fail on timing


if __name__ == "__main__":
    sys.exit(main())

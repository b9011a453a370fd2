"""The two rates a database restore's recovery time depends on, on the TLS rig (docs/operations.md, "Restoring the
database"):

    python bench/restore_rates.py [--transactions 20000] [--batch-size 500]

* **history rebuild**: rows per second the processor copies from PostgreSQL into an empty Redis (the first batch
  after the restore, `processor/history.py`), with a budget large enough to finish in one call;
* **catch-up replay**: records per second `operator_tools.catch_up` replays from the stream into the processor,
  writing into a restored (here: empty, migrated) database.

The rig is the processor tests' (tests/support/pipeline.py): PostgreSQL 16 TLS-only with SCRAM and the
application role, Redis TLS-only with the processor's ACL user, moto's Kinesis on loopback; the handler is invoked
in this process, so the figures exclude Lambda's own overhead and the network to AWS.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import platform
import sys
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "processor"))

from txn_events import txn_doc  # noqa: E402

from operator_tools.catch_up import catch_up  # noqa: E402
from processor import contract as c  # noqa: E402
from processor import handler  # noqa: E402
from tests.support.pipeline import admin_rows, close_processor, point_processor_at, running_pipeline  # noqa: E402
from tests.support.pipeline import run as produce_and_drain  # noqa: E402

EMPTY_DB = "restored_empty"
BENCH_ROLE = "arn:aws:iam::123456789012:role/japancart-dev-replay"


def invoke(event: dict[str, Any]) -> Any:
    """The function as Lambda runs it: the handler of this process's container, a Kinesis-shaped event."""
    return handler.handle(event, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/restore_rates.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)
    if args.transactions < 1 or not 1 <= args.batch_size <= 10_000:
        parser.error(
            f"--transactions must be >= 1 and --batch-size 1..10000, got {args.transactions}, {args.batch_size}"
        )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("processor").setLevel(logging.ERROR)

    with running_pipeline(shards=2) as pipeline:
        pg = pipeline.pg
        admin_rows(pg, "postgres", f"CREATE DATABASE {EMPTY_DB} TEMPLATE {pg.dbname}")  # migrated, no rows yet
        since = datetime.now(UTC) - timedelta(seconds=1)
        filled = produce_and_drain(pipeline, args.transactions, seed=21, batch_size=args.batch_size)
        (rows,) = admin_rows(pg, pg.dbname, "SELECT count(*) FROM transactions")[0]

        # History rebuild: an empty Redis, then the next batch (one new record) finds the day missing and copies it.
        redis = pipeline.redis.client(decode_responses=True)
        redis.flushall()
        kinesis, stream_arn = pipeline.client("kinesis"), os.environ[c.ENV_STREAM_ARN]
        one_more = datetime.now(UTC) - timedelta(seconds=1)
        kinesis.put_record(StreamName=pipeline.stream, Data=json.dumps(txn_doc(424242)).encode(), PartitionKey="k")
        started = time.perf_counter()
        with redirect_stdout(io.StringIO()):  # the handler's EMF metric lines
            catch_up(kinesis, invoke, stream_arn=stream_arn, since=one_more, invoke_identity_arn=BENCH_ROLE)
        rebuild_seconds = time.perf_counter() - started
        history = sum(1 for _ in redis.scan_iter("txn:*", count=5000))
        complete = redis.get("history:ready") == redis.info("server")["run_id"]

        # Catch-up replay into a restored database (empty here): every record of the stream, through the handler.
        point_processor_at(pipeline, EMPTY_DB)
        pipeline.redis.client().flushall()
        started = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            report = catch_up(
                kinesis,
                invoke,
                stream_arn=stream_arn,
                since=since,
                batch_size=args.batch_size,
                invoke_identity_arn=BENCH_ROLE,
            )
        replay_seconds = time.perf_counter() - started
        (replayed_rows,) = admin_rows(pg, EMPTY_DB, "SELECT count(*) FROM transactions")[0]
        (version,) = admin_rows(pg, "postgres", "SELECT current_setting('server_version')")[0]
        redis_version = pipeline.redis.server_info("redis_version")
        close_processor()

    print(
        f"python {platform.python_version()}, postgresql {version}, redis {redis_version} (TLS both, verified), "
        f"{os.cpu_count()} cores"
    )
    print(f"filled: {rows} transactions (+{filled['plan'].invalid} invalid records) through the event source")
    print(
        f"history rebuild: {history} transactions copied into an empty Redis ({'complete' if complete else 'NOT complete'})"
        f" in {rebuild_seconds:.2f}s with the batch that found it = {history / rebuild_seconds:,.0f} rows/s"
    )
    print(
        f"catch-up replay: {report.records} records ({replayed_rows} transactions stored) in {replay_seconds:.2f}s = "
        f"{report.records / replay_seconds:,.0f} records/s, batches of {args.batch_size}, "
        f"{'no failures' if report.ok else 'FAILURES: ' + report.summary()}"
    )
    return 0 if report.ok and complete and replayed_rows == rows + 1 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The whole pipeline on loopback, as production runs it: `make pipeline` (a demo) and the benchmark.

    python -m tests.support.pipeline [--count 3000] [--shards 2] [--batch-size 500] [--seed 7]

Starts the TLS rig (PostgreSQL migrated by the migration code as the master user, Redis with
the processor's ACL user), moto for Secrets Manager, Kinesis and SQS, writes the secrets in the
constructs' shapes, sets the Lambda environment, then: producer -> Kinesis -> event-source
emulator -> ``processor.handler.handle`` -> stores. Prints what arrived where.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from processor import contract as c
from processor.config import DbSettings
from processor.contract import APP_DB_USER, AUTH_PASSWORD, MAINTAINER_DB_USER
from tests.support.servers import PostgresServer, RedisServer, TestCA, free_port

APP_DB_PASSWORD = "rig-txn-writer-password"
MAINTAINER_DB_PASSWORD = "rig-txn-maintainer-password"
# The rig's Redis user, named as the cache construct names it (`<replication group id>-processor`). In AWS it
# signs in with IAM tokens; the rig gives it a password, as it does txn_writer (REDIS_AUTH=password).
REDIS_CACHE_NAME = "japancart-dev-history"
REDIS_USER = c.redis_app_user(REDIS_CACHE_NAME)
REDIS_PASSWORD = "rig-txn-processor-password-0123456789"
THRESHOLDS = {c.ENV_MAX_TXNS_PER_HOUR: "5", c.ENV_MAX_DAILY_TOTAL: "100000", c.ENV_MAX_SINGLE_AMOUNT: "50000"}


def master_settings(server: PostgresServer, dbname: str | None = None) -> DbSettings:
    return DbSettings(
        server.host,
        server.port,
        dbname or server.dbname,
        server.master_user,
        auth=AUTH_PASSWORD,
        password=server.master_password,
        ca_file=server.ca_file,
    )


def maintainer_settings(server: PostgresServer, dbname: str | None = None) -> DbSettings:
    return DbSettings(
        server.host,
        server.port,
        dbname or server.dbname,
        MAINTAINER_DB_USER,
        auth=AUTH_PASSWORD,
        password=MAINTAINER_DB_PASSWORD,
        ca_file=server.ca_file,
    )


def migrate(server: PostgresServer, retention=None) -> None:
    """What the migration function does on deploy (with `retention`, a `RetentionPolicy`, also what it sets);
    then the rig gives the application and maintainer roles passwords (IAM tokens on RDS)."""
    from processor.migrate import run

    run(master_settings(server), retention)
    server.set_password(APP_DB_USER, APP_DB_PASSWORD)
    server.set_password(MAINTAINER_DB_USER, MAINTAINER_DB_PASSWORD)


def create_secrets(sm: Any, pg_server: PostgresServer, redis_server: RedisServer, stream_arn: str) -> dict[str, str]:
    """Exactly the JSON the database construct writes, plus the rig's passwords for the application role, the
    maintainer and the Redis user (in AWS all three sign in with IAM tokens and no such secret exists). Returns
    the Lambda environment of a processor of ``stream_arn`` as the construct sets it, in password mode;
    `_MASTER_SECRET_ARN` is for assertions only, `_MAINTAINER_PASSWORD_SECRET_ARN` the maintenance function's
    DB_PASSWORD_SECRET_ARN on the rig."""
    managed = sm.create_secret(
        Name="rds!db-local",
        SecretString=json.dumps({"username": pg_server.master_user, "password": pg_server.master_password}),
    )["ARN"]
    connection = sm.create_secret(
        Name="japancart/dev/db-connection",
        SecretString=json.dumps(
            {
                "engine": "postgres",
                "host": pg_server.host,
                "port": pg_server.port,
                "dbname": pg_server.dbname,
                "username": pg_server.master_user,
                c.SECRET_PASSWORD_SECRET_ARN: managed,
                c.SECRET_APP_USERNAME: APP_DB_USER,
                c.SECRET_MAINTAINER_USERNAME: MAINTAINER_DB_USER,
            }
        ),
    )["ARN"]
    app_password = sm.create_secret(
        Name="rig/txn-writer", SecretString=json.dumps({"username": APP_DB_USER, "password": APP_DB_PASSWORD})
    )["ARN"]
    maintainer_password = sm.create_secret(
        Name="rig/txn-maintainer",
        SecretString=json.dumps({"username": MAINTAINER_DB_USER, "password": MAINTAINER_DB_PASSWORD}),
    )["ARN"]
    redis_password = sm.create_secret(
        Name="rig/redis-app", SecretString=json.dumps({"username": REDIS_USER, "password": REDIS_PASSWORD})
    )["ARN"]
    return {
        c.ENV_DB_SECRET: connection,
        c.ENV_DB_AUTH: AUTH_PASSWORD,
        c.ENV_DB_PASSWORD_SECRET: app_password,
        c.ENV_DB_CA_BUNDLE: pg_server.ca_file,
        c.ENV_REDIS_HOST: redis_server.host,
        c.ENV_REDIS_PORT: str(redis_server.port),
        c.ENV_REDIS_USER: REDIS_USER,
        c.ENV_REDIS_CACHE_NAME: REDIS_CACHE_NAME,
        c.ENV_REDIS_AUTH: AUTH_PASSWORD,
        c.ENV_REDIS_PASSWORD_SECRET: redis_password,
        c.ENV_HISTORY_TTL: str(c.LONGEST_RULE_WINDOW_SECONDS),
        c.ENV_METRIC_NAMESPACE: c.METRIC_NAMESPACE,
        c.ENV_STREAM_ARN: stream_arn,
        "_MASTER_SECRET_ARN": managed,
        "_MAINTAINER_PASSWORD_SECRET_ARN": maintainer_password,
    }


@dataclass
class Pipeline:
    pg: PostgresServer
    redis: RedisServer
    endpoint: str
    stream: str
    queue_url: str

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="ap-northeast-1")


@contextmanager
def running_pipeline(*, shards: int = 2, durable: bool = False) -> Iterator[Pipeline]:
    """Everything started, the Lambda environment in ``os.environ``; all stopped and restored after."""
    from moto.server import ThreadedMotoServer

    saved = dict(os.environ)
    ca = TestCA()
    pg = redis = moto = None
    try:
        pg = PostgresServer(ca, durable=durable).start()
        migrate(pg)
        redis = RedisServer(ca, acl_rules=c.REDIS_ACL_RULES, user=REDIS_USER, password=REDIS_PASSWORD).start()
        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        # moto's backends are per process, shared by every server in it: start from empty.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "ap-northeast-1",
                "AWS_DEFAULT_REGION": "ap-northeast-1",
                c.ENV_ENVIRONMENT: "dev",
                "SSL_CERT_FILE": ca.ca_file,
                **THRESHOLDS,
            }
        )  # Redis: default trust store = rig CA
        os.environ.pop("SSL_CERT_DIR", None)
        pipeline = Pipeline(pg, redis, endpoint, "japancart-dev-transactions", "")
        kinesis = pipeline.client("kinesis")
        kinesis.create_stream(StreamName=pipeline.stream, ShardCount=shards)
        stream_arn = kinesis.describe_stream_summary(StreamName=pipeline.stream)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        env = create_secrets(pipeline.client("secretsmanager"), pg, redis, stream_arn)
        os.environ.update({k: v for k, v in env.items() if not k.startswith("_")})
        pipeline.queue_url = pipeline.client("sqs").create_queue(QueueName="japancart-dev-processor-dlq")["QueueUrl"]
        yield pipeline
    finally:
        close_processor()
        for server in (moto,):
            if server is not None:
                server.stop()
        for store in (redis, pg):
            if store is not None:
                store.destroy()
        ca.cleanup()
        os.environ.clear()
        os.environ.update(saved)


def close_processor() -> None:
    """Drop the container's connections and cached secrets: the next batch connects anew, as a new container."""
    from processor import aws_secrets, handler

    if handler._container_processor is not None:
        handler._container_processor.close()
        handler._container_processor = None
    aws_secrets.clear_cache()


def admin_rows(pg: PostgresServer, database: str, sql: str) -> list[Any]:
    """``sql`` run as the rig's master user in ``database``, its rows."""
    conn = pg.admin(database)
    try:
        return conn.run(sql)
    finally:
        conn.close()


def point_processor_at(pipeline: Pipeline, database: str) -> None:
    """What a restore's plan does to the connection secret: the processor reads and writes another database."""
    sm = pipeline.client("secretsmanager")
    secret_id = os.environ[c.ENV_DB_SECRET]
    value = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    sm.put_secret_value(SecretId=secret_id, SecretString=json.dumps({**value, "dbname": database}))
    close_processor()


def produce(pipeline: Pipeline, count: int, seed: int, include_invalid: bool = True) -> Any:
    """Put ``count`` transactions (+ invalid ones unless told otherwise) into the stream; the producer's plan."""
    from operator_tools.produce import build_plan, put_all

    plan = build_plan(
        count,
        seed,
        int(THRESHOLDS[c.ENV_MAX_TXNS_PER_HOUR]),
        Decimal(THRESHOLDS[c.ENV_MAX_DAILY_TOTAL]),
        Decimal(THRESHOLDS[c.ENV_MAX_SINGLE_AMOUNT]),
        include_invalid=include_invalid,
    )
    put_all(pipeline.client("kinesis"), pipeline.stream, plan.records, rate=1e9)
    return plan


def run(pipeline: Pipeline, count: int, seed: int, batch_size: int) -> dict[str, Any]:
    """Produce ``count`` transactions (+ invalid ones) and drain the stream through the handler."""
    from processor import handler
    from tests.support.kinesis_esm import EventSourceMapping

    kinesis = pipeline.client("kinesis")
    plan = produce(pipeline, count, seed)
    esm = EventSourceMapping(
        kinesis,
        pipeline.stream,
        lambda event: handler.handle(event, None),
        batch_size=batch_size,
        max_retries=-1,
        max_record_age_seconds=21_600,
        bisect_on_error=True,
        on_failure_queue_url=pipeline.queue_url,
        sqs=pipeline.client("sqs"),
    )
    metrics = io.StringIO()
    started, cpu_started = time.perf_counter(), time.process_time()
    with redirect_stdout(metrics):  # the handler prints its EMF metric lines, as in Lambda
        stats = esm.run_until_idle(timeout=600)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "plan": plan,
        "stats": stats,
        "seconds": elapsed,
        "cpu_seconds": cpu,  # of this process's threads: the handler, the event source and moto's server
        "metric_lines": metrics.getvalue().splitlines(),
    }


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.count < 1 or args.shards < 1 or not 1 <= args.batch_size <= 10_000:
        parser.error(
            f"--count and --shards must be >= 1 and --batch-size 1..10000, got "
            f"{args.count}, {args.shards}, {args.batch_size}"
        )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    import processor.handler  # noqa: F401 (sets the processor logger's level on import)

    logging.getLogger("processor").setLevel(logging.ERROR)  # rejects are counted below instead
    with running_pipeline(shards=args.shards) as pipeline:
        result = run(pipeline, args.count, args.seed, args.batch_size)
        conn = pipeline.pg.connect(pipeline.pg.master_user, pipeline.pg.master_password)
        stored = conn.run("SELECT count(*) FROM transactions")[0][0]
        rejected = conn.run("SELECT count(*) FROM rejected_transactions")[0][0]
        alerts = conn.run("SELECT rule, customer_id, window_key, observed_value FROM rule_alerts ORDER BY 1, 2, 3")
        conn.close()
        observer = pipeline.redis.client(decode_responses=True)
        history = sum(1 for _ in observer.scan_iter("txn:*", count=1000))
        stats, plan = result["stats"], result["plan"]
        print(
            "stores: PostgreSQL TLS-only + SCRAM (processor as txn_writer), Redis TLS-only + ACL user "
            f"{REDIS_USER}; certificates verified against a throwaway CA"
        )
        print(f"produced {len(plan.records)} records ({plan.invalid} invalid) on {args.shards} shards")
        print(
            f"event source: {stats.invocations} invocations, {stats.records_delivered} records, "
            f"{stats.retries} retries, {stats.destination_messages} to the dead-letter queue"
        )
        print(f"postgres: {stored} transactions, {rejected} rejected; redis: {history} txn keys")
        print(f"metrics: {len(result['metric_lines'])} EMF lines ({c.METRIC_RULE_HITS}, {c.METRIC_CONFLICTS})")
        print(f"end to end: {len(plan.records) / result['seconds']:,.0f} records/s ({result['seconds']:.2f} s)")
        for rule, customer, window, value in alerts:
            print(f"alert {rule:18} {customer:28} {window:20} {value}")
        for customer, rule in plan.trippers.items():
            print(
                f"expected {rule} for {customer}: {'yes' if any(a[0] == rule and a[1] == customer for a in alerts) else 'MISSING'}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

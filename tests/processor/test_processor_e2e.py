"""End to end, as production runs: producer -> Kinesis (emulator) -> event source mapping -> the
Lambda entry point -> PostgreSQL and Redis over verified TLS, with the stores failing mid-run."""

from __future__ import annotations

import json
import os
import random
from decimal import Decimal

import boto3
import pytest
from lambda_env import create_secrets, lambda_env
from reference import reference_alerts, stored_alerts

from operator_tools.produce import build_plan, put_all
from operator_tools.replay import replay
from tests.support.kinesis_esm import EventSourceMapping

pytestmark = pytest.mark.integration

THRESHOLDS = {"RULE_MAX_TXNS_PER_HOUR": "5", "RULE_MAX_DAILY_TOTAL": "100000", "RULE_MAX_SINGLE_AMOUNT": "50000"}
STREAM = "japancart-dev-transactions"


@pytest.fixture
def pipeline(aws_env, pg_server, redis_server, pg_conn, redis_client, trust_rig_ca, monkeypatch, entry_point):
    """A two-shard stream, the dead-letter queue, and the Lambda environment the construct sets."""
    kinesis, sqs = boto3.client("kinesis"), boto3.client("sqs")
    kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    stream_arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    env = create_secrets(pg_server, redis_server, stream_arn)
    lambda_env(monkeypatch, env, ENVIRONMENT="dev", **THRESHOLDS)
    queue_url = sqs.create_queue(QueueName="japancart-dev-processor-dlq")["QueueUrl"]
    return kinesis, sqs, queue_url, entry_point


def produce(kinesis, count: int, seed: int):
    """The producer's own plan, plus at-least-once duplicates and a conflicting re-send."""
    plan = build_plan(count, seed, 5, Decimal(100000), Decimal(50000), include_invalid=True)
    valid = [json.loads(r["Data"]) for r in plan.records if not r["PartitionKey"].startswith("invalid-")]
    rng = random.Random(seed)
    resent = [dict(r) for r in rng.sample(plan.records[:count], 25)]  # same content again
    victim = valid[3]
    conflicting = {"Data": json.dumps(dict(victim, amount="777")).encode(), "PartitionKey": victim["customer_id"]}
    assert put_all(kinesis, STREAM, plan.records + resent + [conflicting], rate=1e9) == 0
    return plan, valid, victim


def test_every_transaction_exactly_once_through_redis_loss_and_a_postgres_stop(pipeline, pg_server, redis_server):
    kinesis, sqs, queue_url, handle = pipeline
    plan, valid, victim = produce(kinesis, 900, seed=11)
    esm = EventSourceMapping(
        kinesis,
        STREAM,
        lambda event: handle(event, None),
        batch_size=100,
        max_retries=-1,
        max_record_age_seconds=21_600,
        bisect_on_error=True,
        on_failure_queue_url=queue_url,
        sqs=sqs,
    )
    for _ in range(3):
        esm.poll_once()
    redis_server.kill()  # the node is replaced: empty, new run id
    for _ in range(3):
        esm.poll_once()  # these fail and are retried, not lost
    redis_server.start()
    for _ in range(3):
        esm.poll_once()
    pg_server.stop("immediate")
    for _ in range(3):
        esm.poll_once()
    pg_server.start()
    stats = esm.run_until_idle(timeout=120)

    assert stats.partial_failures > 0  # the outages really failed batches
    pg_conn = pg_server.connect(pg_server.master_user, pg_server.master_password)
    assert stats.destination_messages == 0 and "Messages" not in sqs.receive_message(QueueUrl=queue_url)
    ids = [row[0] for row in pg_conn.run("SELECT transaction_id FROM transactions")]
    assert sorted(ids) == sorted(doc["transaction_id"] for doc in valid)  # each exactly once
    assert pg_conn.run("SELECT amount FROM transactions WHERE transaction_id = :i", i=victim["transaction_id"]) == [
        [Decimal(victim["amount"])]
    ]
    assert pg_conn.run("SELECT count(*), min(payload->>'amount') FROM transaction_conflicts") == [[1, "777"]]
    assert pg_conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == plan.invalid

    # Redis lost everything mid-run and was rebuilt from PostgreSQL: every transaction, with a TTL.
    observer = redis_server.client(decode_responses=True)
    pipe = observer.pipeline()
    for doc in valid:
        pipe.ttl(f"txn:{doc['transaction_id']}")
    ttls = pipe.execute()
    assert all(0 < ttl <= 86_400 for ttl in ttls), sorted(ttls)[:3]
    assert json.loads(observer.get(f"txn:{victim['transaction_id']}"))["amount"] == victim["amount"]

    expected = reference_alerts(
        valid, max_txns_per_hour=5, max_daily_total=Decimal(100000), max_single_amount=Decimal(50000)
    )
    assert stored_alerts(pg_conn) == expected
    tripped = {(rule, customer) for rule, customer, _ in expected}
    assert {(rule, customer) for customer, rule in plan.trippers.items()} <= tripped


def test_what_finally_fails_goes_to_the_queue_as_a_pointer_and_replay_stores_it(pipeline, pg_conn):
    kinesis, sqs, queue_url, handle = pipeline
    plan, valid, _ = produce(kinesis, 200, seed=5)
    broken = {"on": True}

    def invoke(event):
        if broken["on"]:
            raise RuntimeError("simulated deployment bug")
        return handle(event, None)

    esm = EventSourceMapping(
        kinesis,
        STREAM,
        invoke,
        batch_size=100,
        max_retries=1,
        bisect_on_error=False,
        on_failure_queue_url=queue_url,
        sqs=sqs,
    )
    esm.run_until_idle(timeout=60)
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 0
    assert esm.stats.destination_messages > 0

    broken["on"] = False  # fixed; re-drive from the pointers
    report = replay(
        sqs,
        kinesis,
        queue_url,
        lambda event: handle(event, None),
        stream_arn=os.environ["STREAM_ARN"],
        invoke_identity_arn="arn:aws:iam::123456789012:role/japancart-dev-replay",
    )
    assert report.ok, report.summary()
    assert sorted(r[0] for r in pg_conn.run("SELECT transaction_id FROM transactions")) == sorted(
        doc["transaction_id"] for doc in valid
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url)


def test_the_make_pipeline_demo_runs_and_reports_every_expected_alert(capsys):
    from tests.support.pipeline import main

    assert main(["--count", "200", "--batch-size", "100"]) == 0
    out = capsys.readouterr().out
    assert "postgres: 200 transactions, 6 rejected; redis: 200 txn keys" in out
    assert out.count(": yes") == 3 and "MISSING" not in out

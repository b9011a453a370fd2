"""Secrets Manager and Kinesis contracts, through moto's server on loopback."""

from __future__ import annotations

import base64
import json

import boto3
import pytest

from processor import handler as handler_module
from processor.produce import main as produce_main
from txn_events import failed_ids, kinesis_event, txn_doc


def create_secrets(pg_server, redis_server) -> dict:
    """The secret JSON shapes the construct creates (plus ``ssl: false`` for local plain TCP)."""
    sm = boto3.client("secretsmanager")
    managed = sm.create_secret(Name="rds!db-local", SecretString=json.dumps(
        {"username": pg_server.user, "password": pg_server.password}))["ARN"]
    connection = sm.create_secret(Name="processor/db-connection", SecretString=json.dumps({
        "engine": "postgres", "host": "127.0.0.1", "port": pg_server.port, "dbname": pg_server.dbname,
        "username": pg_server.user, "password_secret_arn": managed, "ssl": False}))["ARN"]
    redis_secret = sm.create_secret(Name="processor/redis", SecretString=json.dumps({
        "host": "127.0.0.1", "port": redis_server.port, "auth_token": redis_server.password,
        "tls": False}))["ARN"]
    return {"DB_CONNECTION_SECRET_ARN": connection, "REDIS_SECRET_ARN": redis_secret}


@pytest.mark.integration
def test_lambda_entry_point_reads_both_secrets_once(aws_env, settings, pg_server, redis_server,
                                                    pg_conn, monkeypatch, capsys):
    env = create_secrets(pg_server, redis_server)
    env.update({"RULE_MAX_TXNS_PER_HOUR": "3", "RULE_MAX_DAILY_TOTAL": "1000000",
                "RULE_MAX_SINGLE_AMOUNT": "500000", "METRIC_NAMESPACE": "JapanCart/TransactionMonitoring",
                "ENVIRONMENT": "staging", "HISTORY_TTL_SECONDS": "86400"})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler_module, "_container_processor", None)
    calls = []
    original = handler_module.aws_secrets._secrets_client

    def counting_client():
        client = original()
        if not calls or calls[-1] is not client:
            calls.append(client)
        return client

    monkeypatch.setattr(handler_module.aws_secrets, "_secrets_client", counting_client)
    try:
        docs = [txn_doc(n, customer_id="hot") for n in range(4)] + [txn_doc(n) for n in range(4, 100)]
        assert failed_ids(handler_module.handle(kinesis_event(docs), None)) == []
        processor = handler_module._container_processor
        assert processor.settings.db.password == pg_server.password
        assert processor.settings.environment == "staging"
        assert failed_ids(handler_module.handle(kinesis_event(docs), None)) == []
        assert handler_module._container_processor is processor  # cached for the container
    finally:
        if handler_module._container_processor is not None:
            handler_module._container_processor.close()
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 100
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(d["Rule"], d["RuleHits"], d["Environment"]) for d in emf] == [("max_txns_per_hour", 1, "staging")]


@pytest.mark.integration
def test_rotated_database_password_is_picked_up_on_the_next_invocation(
        aws_env, settings, pg_server, redis_server, pg_conn, monkeypatch):
    env = create_secrets(pg_server, redis_server)
    sm = boto3.client("secretsmanager")
    managed_arn = json.loads(sm.get_secret_value(SecretId=env["DB_CONNECTION_SECRET_ARN"])
                             ["SecretString"])["password_secret_arn"]
    sm.put_secret_value(SecretId=managed_arn, SecretString=json.dumps(
        {"username": pg_server.user, "password": "stale-password"}))
    env.update({"RULE_MAX_TXNS_PER_HOUR": "10", "RULE_MAX_DAILY_TOTAL": "1000000",
                "RULE_MAX_SINGLE_AMOUNT": "500000", "ENVIRONMENT": "dev"})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handler_module, "_container_processor", None)
    event = kinesis_event([txn_doc(n) for n in range(50)])

    assert len(failed_ids(handler_module.handle(event, None))) == 50  # retried, not lost
    assert handler_module._container_processor is None  # secrets will be re-read
    sm.put_secret_value(SecretId=managed_arn, SecretString=json.dumps(
        {"username": pg_server.user, "password": pg_server.password}))
    try:
        assert failed_ids(handler_module.handle(event, None)) == []
    finally:
        handler_module._container_processor.close()
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 50


@pytest.mark.integration
def test_producer_puts_records_that_the_processor_accepts(aws_env, run_batch, pg_conn, capsys):
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="transactions", ShardCount=1)
    assert produce_main(["--stream", "transactions", "--rate", "100000", "--count", "700",
                         "--seed", "42", "--endpoint-url", aws_env, "--region", "ap-northeast-1",
                         "--include-invalid", "--max-txns-per-hour", "5",
                         "--max-daily-total", "100000", "--max-single-amount", "50000"]) == 0
    out = capsys.readouterr().out
    assert "sent=706 failed=0 invalid=6" in out

    shard = kinesis.list_shards(StreamName="transactions")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="transactions", ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    assert len(records) == 706
    event = {"Records": [{"kinesis": {"data": base64.b64encode(r["Data"]).decode(),
                                      "sequenceNumber": r["SequenceNumber"],
                                      "partitionKey": r["PartitionKey"]}} for r in records]}
    assert failed_ids(run_batch(event)) == []
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 700
    assert pg_conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == 6
    tripped = {tuple(r) for r in pg_conn.run(
        "SELECT DISTINCT rule, customer_id FROM transaction_alerts WHERE customer_id LIKE 'cust-trip-%'")}
    assert tripped == {("max_txns_per_hour", "cust-trip-burst-42"),
                       ("max_daily_total", "cust-trip-daily-42"),
                       ("max_single_amount", "cust-trip-single-42")}


def test_put_all_batches_at_most_500_and_retries_throttled_records():
    class FakeKinesis:
        """Stands in for the Kinesis API only (not a data store) to exercise retry logic."""

        def __init__(self):
            self.calls = []

        def put_records(self, StreamName, Records):
            self.calls.append(len(Records))
            if len(self.calls) == 1:
                return {"FailedRecordCount": 1, "Records": [{"ErrorCode": "Throttled"}] + [{}] * (len(Records) - 1)}
            return {"FailedRecordCount": 0, "Records": [{}] * len(Records)}

    from processor.produce import put_all

    fake = FakeKinesis()
    records = [{"Data": b"x", "PartitionKey": "k"}] * 1200
    assert put_all(fake, "s", records, rate=1e9, sleep=lambda s: None) == 0
    assert fake.calls == [500, 1, 500, 200]

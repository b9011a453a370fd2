"""End-to-end batch path against a real redis-server and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from txn_events import failed_ids, kinesis_event, sequence_number, txn_doc

pytestmark = pytest.mark.integration


def table_snapshot(pg_conn):
    return {
        "transactions": pg_conn.run(
            "SELECT transaction_id, customer_id, merchant_id, amount, currency, occurred_at,"
            " payment_method, metadata, sequence_number FROM transactions ORDER BY transaction_id"),
        "rejected": pg_conn.run(
            "SELECT id, sequence_number, partition_key, raw_payload, reason FROM rejected_transactions ORDER BY id"),
        "alerts": pg_conn.run(
            "SELECT id, rule, customer_id, transaction_id, observed_value, threshold"
            " FROM transaction_alerts ORDER BY id"),
    }


def test_empty_event_is_a_no_op(run_batch):
    assert run_batch({"Records": []}) == {"batchItemFailures": []}


def test_batch_of_500_is_stored_with_24h_ttl_everywhere(run_batch, redis_client, pg_conn):
    docs = [txn_doc(n) for n in range(500)]
    assert run_batch(kinesis_event(docs)) == {"batchItemFailures": []}

    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 500
    row = pg_conn.run("SELECT amount, currency, metadata, sequence_number FROM transactions"
                      " WHERE transaction_id = 'txn-000007'")[0]
    assert row == [Decimal(107), "JPY", {"channel": "app"}, sequence_number(7)]
    txn_keys = list(redis_client.scan_iter("txn:*", count=1000))
    cust_keys = list(redis_client.scan_iter("cust:*", count=1000))
    assert len(txn_keys) == 500 and len(cust_keys) == 97
    pipe = redis_client.pipeline()
    for key in txn_keys + cust_keys:
        pipe.ttl(key)
    ttls = pipe.execute()
    assert all(86_390 <= ttl <= 86_400 for ttl in ttls), sorted(set(ttls))[:5]
    stored = json.loads(redis_client.get("txn:txn-000007"))
    assert stored["amount"] == "107" and stored["customer_id"] == "cust-007"
    assert redis_client.zcard("cust:cust-007:txns") == len([n for n in range(500) if n % 97 == 7])


def test_same_batch_twice_gives_same_rows_and_no_duplicate_metrics(run_batch, pg_conn):
    docs = [txn_doc(n, customer_id="busy") for n in range(7)]  # 7 > 5 per hour
    docs += [txn_doc(100 + n) for n in range(300)] + [b"garbage"]
    event = kinesis_event(docs)
    assert failed_ids(run_batch(event)) == []
    first, first_metrics = table_snapshot(pg_conn), list(run_batch.metrics)
    assert failed_ids(run_batch(event)) == []
    assert table_snapshot(pg_conn) == first
    assert len(first["alerts"]) == 2 and len(first["rejected"]) == 1
    assert run_batch.metrics == first_metrics  # nothing new emitted on redelivery


def test_malformed_records_are_kept_with_reason_while_the_rest_commit(run_batch, pg_conn):
    docs = [txn_doc(n) for n in range(200)]
    docs[10] = b"{not json"
    docs[50] = txn_doc(50, amount="99.5")
    docs[90] = txn_doc(90, occurred_at="2026-11-25T10:00:00")
    result = run_batch(kinesis_event(docs))
    assert failed_ids(result) == []  # rejects are safely stored, so acknowledged
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 197
    rejected = pg_conn.run("SELECT sequence_number, raw_payload, reason FROM rejected_transactions ORDER BY id")
    assert [r[0] for r in rejected] == [sequence_number(10), sequence_number(50), sequence_number(90)]
    assert rejected[0][1] == b"{not json" and "not valid JSON" in rejected[0][2]
    assert "field 'amount' has 1 decimal places but JPY allows 0, got '99.5'" in rejected[1][2]
    assert json.loads(rejected[1][1])["transaction_id"] == "txn-000050"
    assert "field 'occurred_at' must include a time zone offset" in rejected[2][2]


def test_rules_write_alerts_and_emit_emf(run_batch, pg_conn):
    now = datetime.now(timezone.utc)
    burst = [txn_doc(n, customer_id="burst", at=now - timedelta(seconds=n)) for n in range(6)]
    spender = [txn_doc(10 + n, customer_id="spender", amount="40000", at=now - timedelta(hours=2 * n))
               for n in range(3)]
    whale = [txn_doc(20, customer_id="whale", amount="50001"),
             txn_doc(21, customer_id="edge", amount="50000")]
    assert failed_ids(run_batch(kinesis_event(burst + spender + whale))) == []

    alerts = pg_conn.run("SELECT rule, customer_id, transaction_id, observed_value, threshold"
                         " FROM transaction_alerts ORDER BY rule, transaction_id")
    assert alerts == [
        ["max_daily_total", "spender", "txn-000010", Decimal(120000), Decimal(100000)],
        ["max_single_amount", "whale", "txn-000020", Decimal(50001), Decimal(50000)],
        ["max_txns_per_hour", "burst", "txn-000000", Decimal(6), Decimal(5)],
    ]
    docs = [json.loads(line) for line in run_batch.metrics]
    assert {d["Rule"]: d["RuleHits"] for d in docs} == {
        "max_daily_total": 1, "max_single_amount": 1, "max_txns_per_hour": 1}
    assert all(d["Environment"] == "dev" and d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
               == [["Environment"], ["Environment", "Rule"]] for d in docs)


def test_rules_see_history_from_earlier_batches(run_batch, pg_conn):
    now = datetime.now(timezone.utc)
    first = [txn_doc(n, customer_id="steady", at=now - timedelta(minutes=50 - n)) for n in range(5)]
    assert failed_ids(run_batch(kinesis_event(first))) == []
    assert pg_conn.run("SELECT count(*) FROM transaction_alerts")[0][0] == 0
    sixth = [txn_doc(99, customer_id="steady", at=now)]
    assert failed_ids(run_batch(kinesis_event(sixth, first_seq=10))) == []
    assert pg_conn.run("SELECT rule, transaction_id FROM transaction_alerts") == [
        ["max_txns_per_hour", "txn-000099"]]


def test_redis_outage_fails_the_records_then_retry_stores_them(run_batch, redis_server, pg_conn):
    assert failed_ids(run_batch(kinesis_event([txn_doc(n) for n in range(100)]))) == []
    redis_server.stop()
    try:
        docs = [txn_doc(n) for n in range(100, 400)] + [b"not json"]
        event = kinesis_event(docs, first_seq=100)
        failed = failed_ids(run_batch(event))
        assert failed == [sequence_number(i) for i in range(100, 400)]  # the reject is stored: acked
    finally:
        redis_server.start()
    assert failed_ids(run_batch(event)) == []
    client = run_batch.processor._redis_client()
    assert client.exists(*[f"txn:txn-{n:06d}" for n in range(100, 400)]) == 300
    assert client.ttl("txn:txn-000399") > 86_000
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 400
    assert pg_conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == 1


def test_postgres_outage_fails_every_record_then_retry_stores_them(run_batch, pg_server, pg_conn, redis_client):
    assert failed_ids(run_batch(kinesis_event([txn_doc(n) for n in range(100)]))) == []
    docs = [txn_doc(n) for n in range(100, 350)] + [b"not json"]
    event = kinesis_event(docs, first_seq=100)
    pg_server.stop("immediate")
    try:
        failed = failed_ids(run_batch(event))
        # Redis succeeded, but nothing is acknowledged until PostgreSQL has it, rejects included.
        assert failed == [sequence_number(i) for i in range(100, 351)]
        assert redis_client.exists("txn:txn-000349") == 1
    finally:
        pg_server.start()
    assert failed_ids(run_batch(event)) == []
    from processor import pg_store

    conn = pg_store.connect(pg_server.settings)
    try:
        assert conn.run("SELECT count(*) FROM transactions")[0][0] == 350
        assert conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == 1
    finally:
        conn.close()


def test_customer_window_is_trimmed_to_24h_on_write(settings, redis_client):
    from processor.handler import make_handler

    now = datetime.now(timezone.utc)
    clock = {"now": now.timestamp()}
    handler = make_handler(settings, clock=lambda: clock["now"], emit=lambda line: None)
    try:
        old = [txn_doc(n, customer_id="loyal", at=now - timedelta(hours=2)) for n in range(3)]
        assert failed_ids(handler(kinesis_event(old))) == []
        clock["now"] += 23 * 3600  # the old ones are now 25 h old
        new = [txn_doc(10, customer_id="loyal", at=now + timedelta(hours=23))]
        assert failed_ids(handler(kinesis_event(new, first_seq=10))) == []
    finally:
        handler.processor.close()
    assert redis_client.zrange("cust:loyal:txns", 0, -1) == ["JPY:110:txn-000010"]
    assert 86_390 <= redis_client.ttl("cust:loyal:txns") <= 86_400

"""The card-number guard through the handler on the TLS rig: whatever a producer sends, no card number
reaches PostgreSQL (any table, any column), Redis (any key or value) or the logs unmasked."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
from cards import card_numbers, card_texts, digit_dense_uuids, exposes, ids, payload_with_card
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from txn_events import failed_ids, kinesis_event, sequence_number, txn_doc

pytestmark = pytest.mark.integration

_sequence = itertools.count(1000)


def everything_stored(pg_conn, redis_client) -> list[Any]:
    """Every row of every table (as PostgreSQL prints it, numbers as stored) and raw payload, and every
    Redis key and value."""
    found: list[Any] = []
    tables = [t for [t] in pg_conn.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    for table in tables:
        found += [row for [row] in pg_conn.run(f"SELECT (to_jsonb(t) - 'raw_payload')::text FROM \"{table}\" t")]
    found += [raw for [raw] in pg_conn.run("SELECT raw_payload FROM rejected_transactions")]
    for key in redis_client.scan_iter("*", count=1000):
        kind = redis_client.type(key)
        value = (
            redis_client.get(key)
            if kind == "string"
            else redis_client.zrange(key, 0, -1, withscores=True)
            if kind == "zset"
            else redis_client.hgetall(key)
            if kind == "hash"
            else None
        )
        found += [key, value]
    return found


def logged(caplog, run_batch) -> list[str]:
    return [record.getMessage() for record in caplog.records] + list(run_batch.metrics)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_no_card_in_any_encoding_reaches_postgres_redis_or_the_logs(data, run_batch, pg_conn, redis_client, caplog):
    """And no uuid or producer id is taken for one: the valid record of each batch is stored under them."""
    caplog.set_level(logging.DEBUG)
    n = next(_sequence)
    raw, how, card = data.draw(payload_with_card(txn_doc(n)))
    key_card = data.draw(card_numbers())
    key = data.draw(card_texts(key_card))
    valid = txn_doc(
        n + 200_000,
        transaction_id=data.draw(digit_dense_uuids()),
        customer_id=data.draw(ids),
        merchant_id=data.draw(ids),
    )
    # The card record, a valid record whose partition key is a card, and a valid record, in one batch.
    event = kinesis_event(
        [raw, txn_doc(n + 100_000), valid], first_seq=n * 3, partition_keys=["cust-001", key, data.draw(ids)]
    )
    assert failed_ids(run_batch(event)) == []
    # Not rejected, and stored (generated uuids may repeat across examples: then it is a duplicate).
    rejected = pg_conn.run("SELECT sequence_number FROM rejected_transactions")
    assert [sequence_number(n * 3 + i) in [seq for [seq] in rejected] for i in range(3)] == [True, True, False]
    assert pg_conn.run("SELECT count(*) FROM transactions WHERE transaction_id = :id", id=valid["transaction_id"]) == [
        [1]
    ]
    stored = everything_stored(pg_conn, redis_client)
    for where, items in (("stored", stored), ("logged", logged(caplog, run_batch))):
        for secret, what in ((card, how), (key_card, f"partition key {key!r}")):
            assert not any(exposes(item, secret) for item in items), f"{what}: {secret} {where}"


def test_a_uuid4_id_that_looks_like_a_card_run_is_stored_with_its_identity(run_batch, pg_conn, redis_client):
    """The issue's example: stored under its own id in both stores, not rejected and masked."""
    transaction_id = "11e55118-2923-4442-84e5-b96a648c38ae"
    assert failed_ids(run_batch(kinesis_event([txn_doc(1, transaction_id=transaction_id)]))) == []
    assert pg_conn.run("SELECT transaction_id FROM transactions") == [[transaction_id]]
    assert pg_conn.run("SELECT count(*) FROM rejected_transactions") == [[0]]
    assert redis_client.exists(f"txn:{transaction_id}") == 1


def test_escaped_digits_in_the_customer_id_reach_neither_the_windows_nor_the_history(run_batch, pg_conn, redis_client):
    """Found: "\\u0034111111111111111" as customer_id landed in customer_windows and cust:...:txns."""
    raw = (
        b'{"transaction_id":"t-1","customer_id":"\\u0034111111111111111","merchant_id":"m","amount":"100",'
        b'"currency":"JPY","occurred_at":"2026-11-25T10:00:00+09:00","payment_method":"card"}'
    )
    assert failed_ids(run_batch(kinesis_event([raw]))) == []
    assert pg_conn.run("SELECT count(*) FROM customer_windows") == [[0]]
    assert list(redis_client.scan_iter("cust:*")) == []
    [[stored_raw, reason]] = pg_conn.run("SELECT raw_payload, reason FROM rejected_transactions")
    assert reason.startswith("field 'customer_id' contains a payment card number (PAN)")
    assert stored_raw == raw.replace(b"\\u0034111111111111111", b"************1111")

"""The batch path against the TLS rig, as the application role and the Redis ACL user."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from txn_events import failed_ids, kinesis_event, sequence_number, txn_doc

pytestmark = pytest.mark.integration


def table_snapshot(pg_conn):
    return {
        "transactions": pg_conn.run(
            "SELECT transaction_id, customer_id, merchant_id, amount, currency, occurred_at,"
            " payment_method, metadata, sequence_number, shard_id FROM transactions ORDER BY transaction_id"
        ),
        "rejected": pg_conn.run(
            "SELECT id, stream_arn, shard_id, sequence_number, partition_key, raw_payload, reason"
            " FROM rejected_transactions ORDER BY id"
        ),
        "windows": pg_conn.run("SELECT * FROM customer_windows ORDER BY 1, 2, 3, 4"),
        "alerts": pg_conn.run(
            "SELECT id, rule, customer_id, window_key, observed_value, threshold FROM rule_alerts ORDER BY id"
        ),
        "conflicts": pg_conn.run("SELECT id, transaction_id, sequence_number FROM transaction_conflicts"),
    }


def test_empty_event_is_a_no_op(run_batch):
    assert run_batch({"Records": []}) == {"batchItemFailures": []}


def test_batch_of_500_is_stored_with_event_time_ttl_everywhere(run_batch, redis_client, pg_conn):
    docs = [txn_doc(n) for n in range(500)]
    assert run_batch(kinesis_event(docs)) == {"batchItemFailures": []}

    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 500
    row = pg_conn.run(
        "SELECT amount, currency, metadata, sequence_number, shard_id FROM transactions"
        " WHERE transaction_id = 'txn-000007'"
    )[0]
    assert row == [Decimal(107), "JPY", {"channel": "app"}, sequence_number(7), "shardId-000000000000"]
    txn_keys = list(redis_client.scan_iter("txn:*", count=1000))
    cust_keys = list(redis_client.scan_iter("cust:*", count=1000))
    assert len(txn_keys) == 500 and len(cust_keys) == 97
    pipe = redis_client.pipeline()
    for key in txn_keys + cust_keys:
        pipe.ttl(key)
    ttls = pipe.execute()
    # Each key lives 24 h from its event (txn_doc events are up to 10 minutes old).
    assert all(86_400 - 600 - 5 <= ttl <= 86_400 for ttl in ttls), sorted(set(ttls))[:5]
    stored = json.loads(redis_client.get("txn:txn-000007"))
    assert stored["amount"] == "107" and stored["customer_id"] == "cust-007"
    assert redis_client.zcard("cust:cust-007:txns") == len([n for n in range(500) if n % 97 == 7])


def test_same_batch_twice_changes_nothing_and_emits_no_new_metrics(run_batch, pg_conn):
    now = datetime.now(UTC)
    docs = [txn_doc(n, customer_id="busy", at=now) for n in range(7)]  # 7 > 5 in one clock hour
    docs += [txn_doc(100 + n) for n in range(300)] + [b"garbage"]
    event = kinesis_event(docs)
    assert failed_ids(run_batch(event)) == []
    first, first_metrics = table_snapshot(pg_conn), list(run_batch.metrics)
    assert failed_ids(run_batch(event)) == []
    assert table_snapshot(pg_conn) == first
    assert len(first["alerts"]) == 1 and len(first["rejected"]) == 1 and first["conflicts"] == []
    assert run_batch.metrics == first_metrics  # nothing new emitted on redelivery


def test_malformed_records_are_kept_with_reason_while_the_rest_commit(run_batch, pg_conn):
    docs = [txn_doc(n) for n in range(200)]
    docs[10] = b"{not json"
    docs[50] = txn_doc(50, amount="99.5")
    docs[90] = txn_doc(90, occurred_at="2026-11-25T10:00:00")
    docs[120] = json.dumps(txn_doc(120, metadata={"s": "\ud800"})).encode("ascii")
    docs[130] = txn_doc(130, metadata={"lat": 35.68, "lng": 139.77})  # fractions in metadata are fine
    result = run_batch(kinesis_event(docs))
    assert failed_ids(result) == []  # rejects are safely stored, so acknowledged
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 196
    assert pg_conn.run("SELECT metadata FROM transactions WHERE transaction_id = 'txn-000130'") == [
        [{"lat": 35.68, "lng": 139.77}]
    ]
    rejected = pg_conn.run(
        "SELECT stream_arn, shard_id, sequence_number, raw_payload, reason FROM rejected_transactions ORDER BY id"
    )
    assert [r[2] for r in rejected] == [sequence_number(i) for i in (10, 50, 90, 120)]
    assert rejected[0][:2] == [
        "arn:aws:kinesis:ap-northeast-1:123456789012:stream/transactions",
        "shardId-000000000000",
    ]
    assert rejected[0][3] == b"{not json" and "not valid JSON" in rejected[0][4]
    assert "field 'amount' has 1 decimal places but JPY allows 0, got '99.5'" in rejected[1][4]
    assert "field 'occurred_at' must include a time zone offset" in rejected[2][4]
    assert "lone surrogate" in rejected[3][4]


def test_later_batches_after_a_rejected_surrogate_are_really_stored(run_batch, pg_conn):
    """Once, a surrogate left the connection out of step and later batches were acked but lost."""
    bad = json.dumps(txn_doc(1, metadata={"s": "\udfff"})).encode("ascii")
    assert failed_ids(run_batch(kinesis_event([bad, txn_doc(2)]))) == []
    for n in range(3):
        assert failed_ids(run_batch(kinesis_event([txn_doc(10 + n)], first_seq=10 + n))) == []
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 4


def test_duplicate_with_other_content_is_a_recorded_conflict_and_postgres_wins(run_batch, pg_conn, redis_client):
    original = txn_doc(1, customer_id="dup")
    changed = dict(original, amount="999999")
    assert failed_ids(run_batch(kinesis_event([original, dict(original), changed]))) == []
    assert failed_ids(run_batch(kinesis_event([dict(changed, merchant_id="m-9")], first_seq=10))) == []
    assert pg_conn.run("SELECT amount FROM transactions WHERE transaction_id = 'txn-000001'") == [[Decimal(101)]]
    conflicts = pg_conn.run(
        "SELECT transaction_id, sequence_number, payload->>'amount' FROM transaction_conflicts ORDER BY id"
    )
    assert conflicts == [["txn-000001", sequence_number(2), "999999"], ["txn-000001", sequence_number(10), "999999"]]
    assert json.loads(redis_client.get("txn:txn-000001"))["amount"] == "101"
    assert redis_client.zrange("cust:dup:txns", 0, -1) == ["JPY:101:txn-000001"]
    # No alert for an amount PostgreSQL does not hold, and the conflicts are counted for the alarm.
    assert pg_conn.run("SELECT count(*) FROM rule_alerts")[0][0] == 0
    assert [json.loads(m)["TransactionConflicts"] for m in run_batch.metrics] == [1, 1]


def test_a_repeat_equal_to_the_stored_version_is_no_conflict_whatever_the_batch_held_before_it(run_batch, pg_conn):
    """Found: a repeat was compared with the batch's first occurrence, so [X (differs), S' (== stored S)]
    recorded S' as a conflict too (and fired the TransactionConflicts alarm for it)."""
    stored = txn_doc(1, customer_id="dup")
    assert failed_ids(run_batch(kinesis_event([stored]))) == []
    differs = dict(stored, amount="999")
    assert failed_ids(run_batch(kinesis_event([differs, dict(stored), differs, txn_doc(2)], first_seq=10))) == []
    assert pg_conn.run(
        "SELECT transaction_id, sequence_number, payload->>'amount' FROM transaction_conflicts ORDER BY id"
    ) == [["txn-000001", sequence_number(10), "999"], ["txn-000001", sequence_number(12), "999"]]
    assert [json.loads(m)["TransactionConflicts"] for m in run_batch.metrics] == [2]
    # A new id: the batch's first occurrence is what PostgreSQL holds after the batch; each later one is
    # compared with it, so [A, B (differs), A' (== A)] is one conflict, B.
    first, other = txn_doc(3), dict(txn_doc(3), amount="555")
    assert failed_ids(run_batch(kinesis_event([first, other, dict(first)], first_seq=20))) == []
    assert pg_conn.run(
        "SELECT sequence_number, payload->>'amount' FROM transaction_conflicts WHERE transaction_id = 'txn-000003'"
    ) == [[sequence_number(21), "555"]]
    assert pg_conn.run("SELECT amount FROM transactions WHERE transaction_id = 'txn-000003'") == [[Decimal(103)]]


def test_rules_write_alerts_and_emit_emf(run_batch, pg_conn):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    burst = [txn_doc(n, customer_id="burst", at=hour + timedelta(minutes=n)) for n in range(6)]
    spender = [
        txn_doc(10 + n, customer_id="spender", amount="40000", at=hour + timedelta(minutes=10 * n)) for n in range(3)
    ]
    whale = [
        txn_doc(20, customer_id="whale", amount="50001", at=hour),
        txn_doc(21, customer_id="edge", amount="50000", at=hour),
    ]
    assert failed_ids(run_batch(kinesis_event(burst + spender + whale))) == []

    alerts = pg_conn.run(
        "SELECT rule, customer_id, transaction_id, observed_value, threshold FROM rule_alerts ORDER BY rule"
    )
    assert alerts == [
        ["max_daily_total", "spender", None, Decimal(120000), Decimal(100000)],
        ["max_single_amount", "whale", "txn-000020", Decimal(50001), Decimal(50000)],
        ["max_txns_per_hour", "burst", None, Decimal(6), Decimal(5)],
    ]
    docs = [json.loads(line) for line in run_batch.metrics]
    assert {d["Rule"]: d["RuleHits"] for d in docs} == {
        "max_daily_total": 1,
        "max_single_amount": 1,
        "max_txns_per_hour": 1,
    }
    assert all(
        d["Environment"] == "dev"
        and d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment"], ["Environment", "Rule"]]
        for d in docs
    )


@pytest.mark.parametrize("order", ["oldest first", "newest first"])
def test_one_alert_per_window_whatever_the_arrival_order(run_batch, pg_conn, order):
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    docs = [txn_doc(n, customer_id="steady", at=hour + timedelta(minutes=n)) for n in range(8)]
    if order == "newest first":
        docs.reverse()
    for n, doc in enumerate(docs):  # one transaction per batch
        assert failed_ids(run_batch(kinesis_event([doc], first_seq=n))) == []
    assert pg_conn.run("SELECT rule, customer_id, observed_value FROM rule_alerts") == [
        ["max_txns_per_hour", "steady", Decimal(8)]
    ]
    assert len(run_batch.metrics) == 1  # raised once, then its value rose in place


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
    client = redis_server.client(decode_responses=True)
    # The restarted server was empty: the history was rebuilt from PostgreSQL, not just this batch.
    assert client.exists(*[f"txn:txn-{n:06d}" for n in range(400)]) == 400
    assert 0 < client.ttl("txn:txn-000005") <= 86_400
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 400
    assert pg_conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == 1


def test_postgres_outage_fails_every_record_then_retry_stores_them(run_batch, pg_server, pg_conn, redis_client):
    assert failed_ids(run_batch(kinesis_event([txn_doc(n) for n in range(100)]))) == []
    docs = [txn_doc(n) for n in range(100, 350)] + [b"not json"]
    event = kinesis_event(docs, first_seq=100)
    pg_server.stop("immediate")
    try:
        failed = failed_ids(run_batch(event))
        assert failed == [sequence_number(i) for i in range(100, 351)]
        # PostgreSQL is written first: Redis never got a version the database does not hold.
        assert redis_client.exists("txn:txn-000349") == 0
    finally:
        pg_server.start()
    assert failed_ids(run_batch(event)) == []
    conn = pg_server.connect(pg_server.master_user, pg_server.master_password)
    try:
        assert conn.run("SELECT count(*) FROM transactions")[0][0] == 350
        assert conn.run("SELECT count(*) FROM rejected_transactions")[0][0] == 1
    finally:
        conn.close()
    assert redis_client.exists("txn:txn-000349") == 1


def test_unexpected_error_drops_both_connections_before_reuse(run_batch, monkeypatch):
    from processor import rules

    assert failed_ids(run_batch(kinesis_event([txn_doc(1)]))) == []
    processor = run_batch.processor
    old_pg, old_redis = processor._pg, processor._redis
    with monkeypatch.context() as patch:
        patch.setattr(rules, "evaluate", lambda *a: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            run_batch(kinesis_event([txn_doc(2)], first_seq=2))
    assert processor._pg is None and processor._redis is None
    assert failed_ids(run_batch(kinesis_event([txn_doc(2)], first_seq=2))) == []
    assert processor._pg is not old_pg and processor._redis is not old_redis


def test_customer_history_is_trimmed_to_the_ttl(settings, redis_client):
    from processor.handler import make_handler

    now = datetime.now(UTC)
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


def test_a_record_the_database_refuses_is_rejected_alone_and_the_rest_stored(run_batch, pg_server, pg_conn):
    """A constraint the validator does not know (a later migration, a data bug) must not hold the
    shard for the hours the mapping retries: the record is isolated and kept as a reject."""
    admin = pg_server.admin()
    admin.run("ALTER TABLE transactions ADD CONSTRAINT test_no_embargoed_merchant CHECK (merchant_id <> 'embargoed')")
    try:
        docs = [txn_doc(n) for n in range(40)]
        docs[17] = txn_doc(17, merchant_id="embargoed")
        assert failed_ids(run_batch(kinesis_event(docs))) == []
    finally:
        admin.run("ALTER TABLE transactions DROP CONSTRAINT test_no_embargoed_merchant")
        admin.close()
    assert pg_conn.run("SELECT count(*) FROM transactions")[0][0] == 39
    [[seq, reason]] = pg_conn.run("SELECT sequence_number, reason FROM rejected_transactions")
    assert seq == sequence_number(17)
    assert reason.startswith(
        "the database refused the record (DatabaseError: ERROR SQLSTATE 23514 (check_violation), "
        "schema public, table transactions_"
    ), reason
    assert reason.endswith(", constraint test_no_embargoed_merchant)")


def test_a_refused_record_s_values_appear_neither_in_the_logs_nor_in_its_reason(run_batch, pg_server, pg_conn, caplog):
    """Found: the handler logged the whole driver error, whose DETAIL ("Failing row contains (...)") and, from
    a trigger or a cast, MESSAGE quote the row's values; the reason kept the MESSAGE."""
    caplog.set_level(logging.INFO, logger="processor")
    admin = pg_server.admin()
    admin.run(
        "CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.customer_id = 'cust-refused-4242' THEN RAISE EXCEPTION 'refusing customer %', NEW.customer_id"
        " USING ERRCODE = 'check_violation', DETAIL = format('row %s', NEW), TABLE = 'transactions'; END IF;"
        " RETURN NEW; END $$"
    )
    admin.run("CREATE TRIGGER test_refuse BEFORE INSERT ON transactions FOR EACH ROW EXECUTE FUNCTION test_refuse()")
    admin.run("ALTER TABLE transactions ADD CONSTRAINT test_no_embargoed_merchant CHECK (merchant_id <> 'embargoed')")
    try:
        docs = [txn_doc(n) for n in range(6)]
        docs[2] = txn_doc(2, customer_id="cust-refused-4242", amount="7331", metadata={"note": "private-note-77"})
        docs[4] = txn_doc(4, merchant_id="embargoed", customer_id="cust-embargoed-5151", amount="9173")
        assert failed_ids(run_batch(kinesis_event(docs))) == []
    finally:
        admin.run("DROP TRIGGER test_refuse ON transactions")
        admin.run("DROP FUNCTION test_refuse()")
        admin.run("ALTER TABLE transactions DROP CONSTRAINT test_no_embargoed_merchant")
        admin.close()
    rows = pg_conn.run("SELECT sequence_number, reason FROM rejected_transactions ORDER BY sequence_number")
    assert [seq for seq, _ in rows] == [sequence_number(2), sequence_number(4)]
    logs = [record.getMessage() for record in caplog.records]
    values = [
        "cust-refused-4242",
        "7331",
        "private-note-77",
        "txn-000002",
        "cust-embargoed-5151",
        "9173",
        "txn-000004",
        "embargoed,",
    ]
    for text in logs + [reason for _, reason in rows]:
        assert not any(value in text for value in values), text
    refused = [line for line in logs if "postgres refused record" in line]
    assert len(refused) == 2 and all(
        "ERROR SQLSTATE 23514 (check_violation), " in line and "table transactions" in line for line in refused
    ), refused


def test_a_transaction_for_a_month_without_a_partition_is_rejected_not_retried(run_batch, pg_conn):
    docs = [txn_doc(1), txn_doc(2, occurred_at="2003-05-01T00:00:00+09:00"), txn_doc(3)]
    assert failed_ids(run_batch(kinesis_event(docs))) == []
    assert sorted(r[0] for r in pg_conn.run("SELECT transaction_id FROM transactions")) == ["txn-000001", "txn-000003"]
    [[reason]] = pg_conn.run("SELECT reason FROM rejected_transactions")
    # PostgreSQL's "no partition of relation ... found for row", by its code and table alone (its DETAIL
    # quotes the row's occurred_at).
    assert reason == (
        "the database refused the record (DatabaseError: ERROR SQLSTATE 23514 (check_violation), "
        "schema public, table transactions)"
    )


def test_awkward_text_reaches_postgres_and_redis_exactly_as_validated(run_batch, pg_conn, redis_client):
    """The rows PostgreSQL reads are spliced from each transaction's canonical JSON: quotes,
    backslashes, non-ASCII, line separators and nested metadata must arrive unchanged."""
    from processor.pg_store import transaction_from_row
    from processor.schema import parse_transaction

    doc = txn_doc(
        1,
        transaction_id='id "quoted" \\ back',
        customer_id="顧客-ü-😀",
        merchant_id="m'\u2028x",
        amount="12.30",
        currency="USD",
        metadata={"ネスト": {"list": [1, 2.5, True, None, 'say "hi"\\n']}, "": "empty key"},
    )
    payload = json.dumps(doc, ensure_ascii=False).encode("utf-8")
    assert failed_ids(run_batch(kinesis_event([payload]))) == []

    expected = parse_transaction(payload)
    [row] = pg_conn.run(
        "SELECT transaction_id, customer_id, merchant_id, amount::text, currency, occurred_at,"
        " payment_method, metadata FROM transactions"
    )
    assert transaction_from_row(row).to_json() == expected.to_json()
    assert pg_conn.run("SELECT shard_id, sequence_number FROM transactions") == [
        ["shardId-000000000000", sequence_number(0)]
    ]
    assert pg_conn.run(
        "SELECT kind, currency, txn_count, total::text FROM customer_windows"
        " WHERE customer_id = '顧客-ü-😀' ORDER BY kind"
    ) == [["day", "USD", 1, "12.300"], ["hour", "", 1, "0.000"]]
    assert redis_client.get(f"txn:{doc['transaction_id']}") == expected.to_json()


def test_statements_are_prepared_once_per_connection_and_keep_their_plan(run_batch):
    """Each batch statement is one round trip of a named prepared statement, not parsed and planned anew."""
    for batch in range(7):
        assert failed_ids(run_batch(kinesis_event([txn_doc(batch * 10 + n) for n in range(3)]))) == []
    conn = run_batch.processor._pg
    statements = conn.run("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
    [(generic, custom)] = [(g, c) for sql, g, c in statements if "INSERT INTO customer_windows" in sql]
    assert generic + custom == 7 and generic >= 1
    assert len(statements) == len({sql for sql, _, _ in statements})


def test_windows_at_their_threshold_raise_nothing_and_one_more_transaction_raises_both(run_batch, pg_conn):
    """PostgreSQL returns only the windows above a threshold; at the threshold is not above it."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    at_limit = [txn_doc(n, customer_id="limit", amount="20000", at=hour + timedelta(minutes=n)) for n in range(5)]
    assert failed_ids(run_batch(kinesis_event(at_limit))) == []  # 5 per hour, 100000 a day: both at the limit
    assert pg_conn.run("SELECT count(*) FROM rule_alerts") == [[0]]

    one_more = txn_doc(5, customer_id="limit", amount="1", at=hour + timedelta(minutes=5))
    assert failed_ids(run_batch(kinesis_event([one_more], first_seq=5))) == []
    assert pg_conn.run("SELECT rule, observed_value FROM rule_alerts ORDER BY rule") == [
        ["max_daily_total", Decimal(100001)],
        ["max_txns_per_hour", Decimal(6)],
    ]

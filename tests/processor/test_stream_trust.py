"""The processor takes transactions only from its own stream (STREAM_ARN): records of any other source
fail the invocation loudly and nothing of them is stored (issue 17: anyone with lambda:InvokeFunction
could inject transactions). Kinesis-shaped events, from the event-source emulator and by hand."""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from lambda_env import create_secrets, lambda_env
from txn_events import STREAM_ARN, failed_ids, kinesis_event, txn_doc

from processor.kinesis import ForeignEventError
from tests.support.kinesis_esm import EventSourceMapping

pytestmark = pytest.mark.integration

THRESHOLDS = {"RULE_MAX_TXNS_PER_HOUR": "5", "RULE_MAX_DAILY_TOTAL": "100000", "RULE_MAX_SINGLE_AMOUNT": "50000"}
OTHER_ARN = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/someone-elses"


def nothing_stored(pg_conn, redis_client) -> bool:
    counts = pg_conn.run(
        "SELECT (SELECT count(*) FROM transactions) + (SELECT count(*) FROM rejected_transactions)"
        " + (SELECT count(*) FROM transaction_conflicts) + (SELECT count(*) FROM customer_windows)"
    )
    return counts == [[0]] and list(redis_client.scan_iter("*")) == []


def test_a_stream_other_than_the_configured_one_is_refused_by_the_entry_point(
    aws_env, pg_server, redis_server, pg_conn, redis_client, trust_rig_ca, monkeypatch, entry_point, caplog
):
    caplog.set_level(logging.INFO, logger="processor")
    kinesis = boto3.client("kinesis")
    for name in ("japancart-dev-transactions", "intruder"):
        kinesis.create_stream(StreamName=name, ShardCount=1)
    own = kinesis.describe_stream_summary(StreamName="japancart-dev-transactions")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    lambda_env(monkeypatch, create_secrets(pg_server, redis_server, own), ENVIRONMENT="dev", **THRESHOLDS)
    docs = [txn_doc(n, customer_id="cust-injected-777") for n in range(7)]
    for doc in docs:
        kinesis.put_record(StreamName="intruder", Data=json.dumps(doc).encode(), PartitionKey=doc["customer_id"])
    intruder = EventSourceMapping(
        kinesis, "intruder", lambda event: entry_point(event, None), batch_size=10, max_retries=1, bisect_on_error=False
    )
    intruder.run_until_idle(timeout=60)

    # Every invocation failed (the Errors alarm counts them) and nothing reached a store.
    assert intruder.stats.function_errors == intruder.stats.invocations == 2
    assert {i.detail.split(":")[0] for i in intruder.trace} == {"ForeignEventError"}
    assert nothing_stored(pg_conn, redis_client)
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert (
        refusals
        == [
            f"refused 7 of 7 records, not from the configured stream {own}: 7 from eventSourceARN "
            f"'{intruder.stream_arn}' (eventSource 'aws:kinesis'); nothing of this event was stored"
        ]
        * 2
    )
    assert not any("cust-injected-777" in r.getMessage() for r in caplog.records)  # counts, never payloads

    # The configured stream's own mapping is processed as ever.
    for doc in docs:
        kinesis.put_record(
            StreamName="japancart-dev-transactions", Data=json.dumps(doc).encode(), PartitionKey=doc["customer_id"]
        )
    own_mapping = EventSourceMapping(
        kinesis, "japancart-dev-transactions", lambda event: entry_point(event, None), batch_size=10
    )
    own_mapping.run_until_idle(timeout=60)
    assert own_mapping.stats.function_errors == 0
    assert pg_conn.run("SELECT count(*) FROM transactions") == [[7]]


@pytest.mark.parametrize(
    "tamper, refused",
    [
        (lambda records: records[3].update(eventSourceARN=OTHER_ARN), f"1 from eventSourceARN '{OTHER_ARN}'"),
        (
            lambda records: records[0].update(eventSource="aws:sqs"),
            f"1 from eventSourceARN '{STREAM_ARN}' (eventSource 'aws:sqs')",
        ),
        (lambda records: records[1].pop("eventSourceARN"), "1 from eventSourceARN None"),
        (lambda records: records.append("not a record"), "1 from eventSourceARN None (eventSource None)"),
        (lambda records: records[2].update(eventSourceARN=[STREAM_ARN]), f"1 from eventSourceARN ['{STREAM_ARN}']"),
    ],
    ids=["another stream", "another service", "no source", "not a record", "not a string"],
)
def test_an_event_with_any_foreign_record_is_refused_whole(run_batch, pg_conn, redis_client, tamper, refused):
    event = kinesis_event([txn_doc(n) for n in range(5)])
    tamper(event["Records"])
    with pytest.raises(ForeignEventError, match="refused 1 of [56] records, not from the configured stream") as err:
        run_batch(event)
    assert refused in str(err.value)
    assert nothing_stored(pg_conn, redis_client)
    # The same records from the configured stream are stored.
    assert failed_ids(run_batch(kinesis_event([txn_doc(n) for n in range(5)]))) == []
    assert pg_conn.run("SELECT count(*) FROM transactions") == [[5]]


@pytest.mark.parametrize("event", [{"action": "maintain"}, {"Records": "x"}, ["Records"]])
def test_an_invocation_that_is_not_a_kinesis_event_is_refused(run_batch, pg_conn, redis_client, event):
    with pytest.raises(ForeignEventError, match="refused an invocation that is not a Kinesis event"):
        run_batch(event)
    assert nothing_stored(pg_conn, redis_client)


def test_a_foreign_arn_is_quoted_masked_and_short(run_batch):
    arn = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/4111-1111-1111-1111-" + "x" * 200
    with pytest.raises(ForeignEventError) as err:
        run_batch(kinesis_event([txn_doc(1)], stream_arn=arn))
    assert "****-****-****-1111" in str(err.value) and "4111-1111" not in str(err.value)
    assert len(str(err.value)) < 400

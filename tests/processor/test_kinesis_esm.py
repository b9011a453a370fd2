"""The Kinesis event source mapping emulator (tests/support/kinesis_esm.py) against moto's Kinesis
and SQS: event shape, per-shard order, partial batch responses, retries, bisection, record age and
the on-failure destination's invocation record."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from processor.kinesis import parse_event
from tests.support.kinesis_esm import DEFAULT_FUNCTION_ARN, DEFAULT_ROLE_ARN, EventSourceMapping

REGION = "ap-northeast-1"
STREAM = "transactions"
MAX_HASH = str(2**128 - 2)  # top of the hash key range: the last shard


class Aws:
    def __init__(self, url: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()

        def client(service: str) -> Any:
            return boto3.client(
                service,
                region_name=REGION,
                endpoint_url=url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        self.kinesis = client("kinesis")
        self.sqs = client("sqs")

    def stream(self, shards: int = 1) -> str:
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=shards)
        return self.kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]

    def put(self, payloads: Iterable[bytes], hash_key: str | None = None) -> list[str]:
        seqs = []
        for payload in payloads:
            extra = {"ExplicitHashKey": hash_key} if hash_key else {}
            seqs.append(
                self.kinesis.put_record(StreamName=STREAM, Data=payload, PartitionKey=payload.decode(), **extra)[
                    "SequenceNumber"
                ]
            )
        return seqs

    def queue(self) -> str:
        return self.sqs.create_queue(QueueName="processor-on-failure")["QueueUrl"]

    def drain(self, url: str) -> list[dict[str, Any]]:
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") or []
            if not messages:
                return bodies
            for m in messages:
                bodies.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def aws(moto_endpoint: str) -> Aws:
    return Aws(moto_endpoint)


def payloads(*names: str) -> list[bytes]:
    return [n.encode() for n in names]


class FakeFunction:
    """Records every call. ``fail`` maps a payload to how many times it is reported in
    batchItemFailures; a payload in ``poison`` makes the call raise (a function error)."""

    def __init__(
        self,
        fail: dict[bytes, int] | None = None,
        poison: Iterable[bytes] = (),
        response: Any = "default",
        on_call=None,
    ) -> None:
        self.fail = dict(fail or {})
        self.poison = set(poison)
        self.response = response
        self.on_call = on_call
        self.calls: list[list[bytes]] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        data = [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]
        self.calls.append(data)
        if self.on_call:
            self.on_call()
        if self.poison.intersection(data):
            raise RuntimeError("poison record")
        if self.response != "default":
            return self.response
        failures = []
        for record, payload in zip(event["Records"], data, strict=True):
            if self.fail.get(payload, 0) > 0:
                self.fail[payload] -= 1
                failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
        return {"batchItemFailures": failures}


def test_event_is_the_lambda_kinesis_event(aws: Aws) -> None:
    stream_arn = aws.stream()
    before = time.time()
    seqs = aws.put(payloads("a", "b"))
    fn = FakeFunction()
    EventSourceMapping(aws.kinesis, STREAM, fn).run_until_idle()

    (event,) = fn.events
    first = event["Records"][0]
    assert set(first) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert first["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert first["kinesis"]["partitionKey"] == "a"
    assert first["kinesis"]["sequenceNumber"] == seqs[0]
    assert base64.b64decode(first["kinesis"]["data"], validate=True) == b"a"
    arrival = first["kinesis"]["approximateArrivalTimestamp"]
    assert isinstance(arrival, float) and before - 2 <= arrival <= time.time() + 2
    assert (first["eventSource"], first["eventName"], first["eventVersion"]) == (
        "aws:kinesis",
        "aws:kinesis:record",
        "1.0",
    )
    assert first["eventID"] == f"shardId-000000000000:{seqs[0]}"
    assert first["eventSourceARN"] == stream_arn
    assert first["invokeIdentityArn"] == DEFAULT_ROLE_ARN
    assert first["awsRegion"] == REGION
    # The processor's parser finds the shard and stream in it (records are told apart by them).
    refs = [item.ref for item in parse_event(event).rejected]
    assert [(r.stream_arn, r.shard_id, r.sequence_number) for r in refs] == [
        (stream_arn, "shardId-000000000000", s) for s in seqs
    ]


def test_batches_respect_batch_size_and_shard_order(aws: Aws) -> None:
    aws.stream(shards=2)
    low = aws.put(payloads("l0", "l1", "l2", "l3", "l4"), hash_key="0")
    high = aws.put(payloads("h0", "h1", "h2"), hash_key=MAX_HASH)
    fn = FakeFunction()
    esm = EventSourceMapping(aws.kinesis, STREAM, fn, batch_size=2)

    assert esm.poll_once() == 4  # one batch in flight per shard: 2 + 2 records
    esm.run_until_idle()

    by_shard: dict[str, list[list[str]]] = {}
    for inv in esm.trace:
        by_shard.setdefault(inv.shard_id, []).append(inv.sequence_numbers)
    assert by_shard == {
        "shardId-000000000000": [low[0:2], low[2:4], low[4:]],
        "shardId-000000000001": [high[0:2], high[2:]],
    }
    assert all(len(call) <= 2 for call in fn.calls)
    assert esm.checkpoints() == {"shardId-000000000000": low[-1], "shardId-000000000001": high[-1]}
    assert (esm.stats.invocations, esm.stats.records_delivered, esm.stats.retries) == (5, 8, 0)
    # Nothing new: idle, and a new record is picked up after the checkpoint.
    assert esm.poll_once() == 0
    late = aws.put(payloads("l5"), hash_key="0")
    esm.run_until_idle()
    assert esm.trace[-1].sequence_numbers == late


def test_partial_failure_checkpoints_before_the_lowest_failure(aws: Aws) -> None:
    aws.stream()
    seqs = aws.put(payloads("r0", "r1", "r2", "r3", "r4", "r5"))
    fn = FakeFunction(fail={b"r4": 1, b"r2": 1})
    esm = EventSourceMapping(aws.kinesis, STREAM, fn, bisect_on_error=False)

    esm.poll_once()
    assert esm.checkpoints()["shardId-000000000000"] == seqs[1]  # r0, r1 are done
    esm.run_until_idle()

    assert [inv.sequence_numbers for inv in esm.trace] == [seqs, seqs[2:]]
    assert [inv.outcome for inv in esm.trace] == ["partial", "success"]
    assert esm.trace[1].retry == 1 and esm.stats.retries == 1
    assert esm.checkpoints()["shardId-000000000000"] == seqs[-1]


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_empty_or_missing_failures_mean_success(aws: Aws, response: Any) -> None:
    aws.stream()
    aws.put(payloads("a", "b"))
    esm = EventSourceMapping(aws.kinesis, STREAM, FakeFunction(response=response))
    esm.run_until_idle()
    assert [inv.outcome for inv in esm.trace] == ["success"]


@pytest.mark.parametrize("identifier", [None, "", "999999"])
def test_bad_item_identifier_fails_the_whole_batch(aws: Aws, identifier: Any) -> None:
    aws.stream()
    seqs = aws.put(payloads("a", "b", "c"))
    queue = aws.queue()
    esm = EventSourceMapping(
        aws.kinesis,
        STREAM,
        FakeFunction(response={"batchItemFailures": [{"itemIdentifier": seqs[1]}, {"itemIdentifier": identifier}]}),
        max_retries=1,
        on_failure_queue_url=queue,
        sqs=aws.sqs,
    )
    esm.run_until_idle()

    assert [inv.sequence_numbers for inv in esm.trace] == [seqs, seqs]  # never checkpointed inside
    assert {inv.outcome for inv in esm.trace} == {"invalid_response"}
    (message,) = aws.drain(queue)
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == seqs[0]


def test_report_batch_item_failures_off_ignores_the_response(aws: Aws) -> None:
    aws.stream()
    aws.put(payloads("a", "b"))
    esm = EventSourceMapping(aws.kinesis, STREAM, FakeFunction(fail={b"a": 5}), report_batch_item_failures=False)
    esm.run_until_idle()
    assert esm.stats.invocations == 1 and esm.stats.retries == 0


def test_retries_exhausted_sends_the_invocation_record(aws: Aws) -> None:
    stream_arn = aws.stream()
    seqs = aws.put(payloads("r0", "r1", "r2", "r3", "r4"))
    queue = aws.queue()
    fn = FakeFunction(fail={b"r2": 100})
    esm = EventSourceMapping(
        aws.kinesis,
        STREAM,
        fn,
        max_retries=2,
        on_failure_queue_url=queue,
        sqs=aws.sqs,
        function_arn=DEFAULT_FUNCTION_ARN,
    )
    esm.run_until_idle()

    # First attempt, then 2 retries of the records from the failure, then the shard moves on.
    assert [inv.sequence_numbers for inv in esm.trace] == [seqs, seqs[2:], seqs[2:]]
    assert esm.checkpoints()["shardId-000000000000"] == seqs[-1]
    (message,) = aws.drain(queue)
    assert set(message) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    assert message["version"] == "1.0"
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["functionArn"] == DEFAULT_FUNCTION_ARN
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["requestId"] == esm.trace[-1].request_id
    assert message["responseContext"]["statusCode"] == 200
    datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    info = message["KinesisBatchInfo"]
    assert {k: info[k] for k in ("shardId", "startSequenceNumber", "endSequenceNumber", "batchSize", "streamArn")} == {
        "shardId": "shardId-000000000000",
        "startSequenceNumber": seqs[2],
        "endSequenceNumber": seqs[4],
        "batchSize": 3,
        "streamArn": stream_arn,
    }
    first = datetime.strptime(info["approximateArrivalOfFirstRecord"], "%Y-%m-%dT%H:%M:%S.%fZ")
    last = datetime.strptime(info["approximateArrivalOfLastRecord"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert first <= last
    assert abs(first.replace(tzinfo=UTC).timestamp() - time.time()) < 60
    assert (esm.stats.destination_messages, esm.stats.records_to_destination) == (1, 3)


def test_bisection_isolates_a_poison_record(aws: Aws) -> None:
    aws.stream()
    names = [f"r{i}" for i in range(8)]
    seqs = aws.put(payloads(*names))
    queue = aws.queue()
    fn = FakeFunction(poison={b"r5"})
    esm = EventSourceMapping(
        aws.kinesis, STREAM, fn, max_retries=1, bisect_on_error=True, on_failure_queue_url=queue, sqs=aws.sqs
    )
    esm.run_until_idle()

    calls = [[p.decode() for p in call] for call in fn.calls]
    assert calls == [names, names[:4], names[4:], names[4:6], ["r4"], ["r5"], ["r5"], names[6:]]
    succeeded = [s for inv in esm.trace if inv.succeeded for s in inv.sequence_numbers]
    assert succeeded == [s for s in seqs if s != seqs[5]]  # every other record, once, in order
    assert esm.stats.bisections == 3 and esm.stats.retries == 1  # splits do not use the retry quota
    (message,) = aws.drain(queue)
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (seqs[5], seqs[5], 1)
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_without_bisection_a_function_error_retries_the_whole_batch(aws: Aws) -> None:
    aws.stream()
    seqs = aws.put(payloads("r0", "bad", "r2"))
    queue = aws.queue()
    esm = EventSourceMapping(
        aws.kinesis,
        STREAM,
        FakeFunction(poison={b"bad"}),
        max_retries=0,
        bisect_on_error=False,
        on_failure_queue_url=queue,
        sqs=aws.sqs,
    )
    esm.run_until_idle()

    assert [inv.sequence_numbers for inv in esm.trace] == [seqs]
    (message,) = aws.drain(queue)
    assert message["requestContext"]["approximateInvokeCount"] == 1
    assert message["KinesisBatchInfo"]["batchSize"] == 3


def test_infinite_retries_block_the_shard(aws: Aws) -> None:
    aws.stream()
    aws.put(payloads("bad", "ok"))
    esm = EventSourceMapping(aws.kinesis, STREAM, FakeFunction(poison={b"bad"}), max_retries=-1)
    with pytest.raises(TimeoutError, match="shardId-000000000000"):
        esm.run_until_idle(timeout=0.3)
    assert esm.stats.retries > 0 and esm.checkpoints()["shardId-000000000000"] is None


def test_record_age_expiry_with_an_injected_clock(aws: Aws) -> None:
    aws.stream()
    seqs = aws.put(payloads("bad", "ok"))
    queue = aws.queue()
    now = [time.time()]

    def advance() -> None:  # each failed attempt takes 40 s of (injected) time
        now[0] += 40

    fn = FakeFunction(fail={b"bad": 100}, on_call=advance)
    esm = EventSourceMapping(
        aws.kinesis,
        STREAM,
        fn,
        max_retries=-1,
        max_record_age_seconds=60,
        on_failure_queue_url=queue,
        sqs=aws.sqs,
        clock=lambda: now[0],
    )
    esm.run_until_idle()

    # Attempt at t+0 and the retry at t+40 fail; at t+80 the records are too old to deliver.
    assert [inv.sequence_numbers for inv in esm.trace] == [seqs, seqs]
    (message,) = aws.drain(queue)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 2
    assert message["KinesisBatchInfo"]["batchSize"] == 2
    assert esm.checkpoints()["shardId-000000000000"] == seqs[-1]


def test_records_older_than_the_maximum_age_are_never_delivered(aws: Aws) -> None:
    aws.stream()
    old = aws.put(payloads("old1", "old2"))
    time.sleep(0.02)
    between = time.time()
    time.sleep(0.02)
    aws.put(payloads("new"))
    queue = aws.queue()
    fn = FakeFunction()
    # 60 s after ``between``: the first two records are over the maximum age, the last is not.
    esm = EventSourceMapping(
        aws.kinesis,
        STREAM,
        fn,
        max_record_age_seconds=60,
        on_failure_queue_url=queue,
        sqs=aws.sqs,
        clock=lambda: between + 60,
    )
    esm.run_until_idle()

    assert fn.calls == [[b"new"]]
    (message,) = aws.drain(queue)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"
    assert message["requestContext"]["approximateInvokeCount"] == 0
    assert message["responseContext"] == {}
    info = message["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (old[0], old[1], 2)


def test_a_failing_shard_does_not_hold_up_another(aws: Aws) -> None:
    aws.stream(shards=2)
    aws.put(payloads("bad"), hash_key="0")
    good = aws.put(payloads("g0", "g1", "g2"), hash_key=MAX_HASH)
    fn = FakeFunction(poison={b"bad"})
    esm = EventSourceMapping(aws.kinesis, STREAM, fn, batch_size=1, max_retries=3)
    esm.run_until_idle()

    other = [inv.sequence_numbers[0] for inv in esm.trace if inv.shard_id == "shardId-000000000001"]
    assert other == good
    assert esm.stats.records_discarded == 1 and esm.stats.retries == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be 1-10000, got 0"),
        ({"max_retries": -2}, "max_retries must be -1 (infinite) or 0-10000, got -2"),
        ({"max_record_age_seconds": 30}, "max_record_age_seconds must be -1 (infinite) or 60-604800, got 30"),
        ({"on_failure_queue_url": "http://q"}, "on_failure_queue_url='http://q' needs an sqs client"),
    ],
)
def test_fails_when_a_setting_is_out_of_range(aws: Aws, kwargs: dict[str, Any], message: str) -> None:
    aws.stream()
    with pytest.raises(ValueError) as excinfo:
        EventSourceMapping(aws.kinesis, STREAM, FakeFunction(), **kwargs)
    assert str(excinfo.value) == message

"""operator_tools.replay against moto: batches the event source mapping emulator gave up on are read back
from the stream through the on-failure queue's pointers, re-driven, and their messages deleted only
when the whole batch succeeded."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from operator_tools import replay as replay_module
from operator_tools.invoke import FunctionError, lambda_invoker
from operator_tools.replay import main, replay
from tests.support.kinesis_esm import DEFAULT_ROLE_ARN, EventSourceMapping

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"
STREAM = "transactions"
SHARD = "shardId-000000000000"


def client(url: str, service: str) -> Any:
    return boto3.client(
        service, region_name=REGION, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


class Function:
    """A stand-in for the processor: records each event; fails as told."""

    def __init__(self, poison: bytes = b"", fail: bytes = b"") -> None:
        self.poison, self.fail = poison, fail
        self.events: list[dict[str, Any]] = []

    def data(self, i: int = -1) -> list[bytes]:
        return [base64.b64decode(r["kinesis"]["data"]) for r in self.events[i]["Records"]]

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        records = event["Records"]
        payloads = [base64.b64decode(r["kinesis"]["data"]) for r in records]
        if self.poison and self.poison in payloads:
            raise RuntimeError("poison record")
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["kinesis"]["sequenceNumber"]}
                for r, p in zip(records, payloads, strict=True)
                if self.fail and p == self.fail
            ]
        }


class World:
    """A stream whose records r3..r5 were given up on: the on-failure queue holds their pointer."""

    def __init__(self, url: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
        self.url = url
        self.kinesis, self.sqs = client(url, "kinesis"), client(url, "sqs")
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        self.stream_arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{STREAM}"
        self.queue = self.sqs.create_queue(QueueName="processor-on-failure")["QueueUrl"]
        self.seqs = [
            self.kinesis.put_record(StreamName=STREAM, Data=f"r{i}".encode(), PartitionKey=f"k{i}")["SequenceNumber"]
            for i in range(8)
        ]
        self.original = Function(poison=b"r4")
        self.esm = EventSourceMapping(
            self.kinesis,
            STREAM,
            self.original,
            batch_size=3,
            max_retries=0,
            bisect_on_error=False,
            on_failure_queue_url=self.queue,
            sqs=self.sqs,
        )
        self.esm.run_until_idle()
        assert self.esm.stats.destination_messages == 1

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the queue (received with a short visibility, so they come back)."""
        found: dict[str, Any] = {}
        for _ in range(3):
            for m in (
                self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
                    "Messages"
                )
                or []
            ):
                found[m["MessageId"]] = json.loads(m["Body"]) if m["Body"].startswith("{") else m["Body"]
        return list(found.values())

    def trim(self, *indexes: int) -> None:
        """Drop records as the stream's retention period would (moto never trims on its own)."""
        from moto.kinesis.models import kinesis_backends

        shard = kinesis_backends[ACCOUNT][REGION].streams[STREAM].shards[SHARD]
        for i in indexes:
            del shard.records[int(self.seqs[i])]


@pytest.fixture
def world(moto_endpoint: str) -> World:
    return World(moto_endpoint)


def test_replay_redrives_exactly_the_pointed_records_and_deletes_the_message(world: World) -> None:
    fixed = Function()
    report = replay(
        world.sqs, world.kinesis, world.queue, fixed, stream_arn=world.stream_arn, invoke_identity_arn=DEFAULT_ROLE_ARN
    )

    assert [o.status for o in report.outcomes] == ["replayed"] and report.ok
    assert len(fixed.events) == 1
    # The same event the mapping sent for r3..r5, not their neighbours.
    assert fixed.events[0] == world.original.events[1]
    assert fixed.data(0) == [b"r3", b"r4", b"r5"]
    assert report.outcomes[0].records_invoked == 3
    assert world.messages() == []


def test_replay_keeps_the_message_when_the_function_still_raises(world: World) -> None:
    report = replay(
        world.sqs,
        world.kinesis,
        world.queue,
        Function(poison=b"r4"),
        stream_arn=world.stream_arn,
        invoke_identity_arn=DEFAULT_ROLE_ARN,
    )

    (outcome,) = report.outcomes
    assert outcome.status == "failed" and not report.ok
    assert "function error: RuntimeError: poison record" in outcome.detail
    (message,) = world.messages()  # kept, and visible again at once
    assert message["KinesisBatchInfo"]["startSequenceNumber"] == world.seqs[3]


def test_replay_keeps_the_message_when_records_still_fail(world: World) -> None:
    report = replay(
        world.sqs,
        world.kinesis,
        world.queue,
        Function(fail=b"r5"),
        stream_arn=world.stream_arn,
        invoke_identity_arn=DEFAULT_ROLE_ARN,
    )

    (outcome,) = report.outcomes
    assert outcome.status == "failed"
    assert outcome.detail == f"function reported 1 failed records: {world.seqs[5]}"
    assert len(world.messages()) == 1


def test_trimmed_records_are_reported_and_the_message_kept(world: World) -> None:
    world.trim(0, 1, 2, 3, 4)  # r3 and r4 of the batch are gone, r5 is left
    fn = Function()
    report = replay(
        world.sqs, world.kinesis, world.queue, fn, stream_arn=world.stream_arn, invoke_identity_arn=DEFAULT_ROLE_ARN
    )

    (outcome,) = report.outcomes
    assert outcome.status == "lost"
    assert f"{SHARD}: 2 of 3 records lost, from {world.seqs[3]} up to (not including) {world.seqs[5]}" in outcome.detail
    assert fn.data(0) == [b"r5"]  # what is left is still processed before it is trimmed too
    assert len(world.messages()) == 1


def test_a_fully_trimmed_batch_is_not_invoked(world: World) -> None:
    world.trim(*range(6))
    fn = Function()
    report = replay(
        world.sqs, world.kinesis, world.queue, fn, stream_arn=world.stream_arn, invoke_identity_arn=DEFAULT_ROLE_ARN
    )

    (outcome,) = report.outcomes
    assert outcome.status == "lost"
    assert outcome.detail == (
        f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{STREAM} {SHARD} "
        f"{world.seqs[3]}..{world.seqs[5]} (3 records): all lost, no longer in the stream "
        "(trimmed after the retention period)"
    )
    assert fn.events == []
    assert len(world.messages()) == 1


def test_dry_run_invokes_and_deletes_nothing(world: World) -> None:
    fn = Function()
    report = replay(
        world.sqs,
        world.kinesis,
        world.queue,
        fn,
        stream_arn=world.stream_arn,
        invoke_identity_arn=DEFAULT_ROLE_ARN,
        dry_run=True,
    )

    assert [(o.status, o.detail) for o in report.outcomes] == [("dry-run", "would replay 3 records")]
    assert fn.events == [] and len(world.messages()) == 1


def test_unreadable_messages_are_kept_and_max_messages_is_honoured(world: World) -> None:
    world.sqs.send_message(QueueUrl=world.queue, MessageBody="not json")
    world.sqs.send_message(QueueUrl=world.queue, MessageBody=json.dumps({"requestContext": {}}))
    report = replay(
        world.sqs,
        world.kinesis,
        world.queue,
        Function(),
        stream_arn=world.stream_arn,
        invoke_identity_arn=DEFAULT_ROLE_ARN,
        max_messages=2,
    )

    assert len(report.outcomes) == 2
    assert report.summary().startswith("messages=2 ")
    assert len(world.messages()) == 3 - report.count("replayed")
    report = replay(
        world.sqs,
        world.kinesis,
        world.queue,
        Function(),
        stream_arn=world.stream_arn,
        invoke_identity_arn=DEFAULT_ROLE_ARN,
    )
    assert sorted(o.status for o in report.outcomes) == ["unreadable", "unreadable"]
    assert {o.detail for o in report.outcomes} == {
        "message body is not JSON",
        "message has no KinesisBatchInfo (not from a Kinesis event source mapping)",
    }


def test_a_pointer_into_another_stream_is_refused_kept_and_never_read(world: World) -> None:
    """The stream ARN in a message is the sender's word: only the configured stream is replayed."""
    world.kinesis.create_stream(StreamName="elsewhere", ShardCount=1)
    seq = world.kinesis.put_record(StreamName="elsewhere", Data=b"planted", PartitionKey="k")["SequenceNumber"]
    elsewhere = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/elsewhere"
    world.sqs.send_message(
        QueueUrl=world.queue,
        MessageBody=json.dumps(
            {
                "KinesisBatchInfo": {
                    "shardId": SHARD,
                    "startSequenceNumber": seq,
                    "endSequenceNumber": seq,
                    "batchSize": 1,
                    "streamArn": elsewhere,
                }
            }
        ),
    )
    fn = Function()
    report = replay(
        world.sqs, world.kinesis, world.queue, fn, stream_arn=world.stream_arn, invoke_identity_arn=DEFAULT_ROLE_ARN
    )

    outcomes = {o.status: o for o in report.outcomes}
    assert sorted(outcomes) == ["refused", "replayed"] and not report.ok
    assert outcomes["refused"].detail == (
        f"points at another stream than the configured {world.stream_arn}; "
        "not read or replayed, kept: find out who sent it"
    )
    assert outcomes["refused"].pointer.stream_arn == elsewhere
    assert [d for event in fn.events for d in [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]] == [
        b"r3",
        b"r4",
        b"r5",
    ]  # the planted record was never read or invoked
    assert [m["KinesisBatchInfo"]["streamArn"] for m in world.messages()] == [elsewhere]
    assert "refused=1" in report.summary()


def test_lambda_invoker_raises_on_a_function_error() -> None:
    class FakeLambda:
        def __init__(self, response: dict[str, Any]) -> None:
            self.response, self.calls = response, []

        def invoke(self, **kwargs: Any) -> dict[str, Any]:
            self.calls.append(kwargs)
            return self.response

    failing = FakeLambda({"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage": "boom"}')})
    with pytest.raises(FunctionError, match='Unhandled: {"errorMessage": "boom"}'):
        lambda_invoker(failing, "processor")({"Records": []})
    assert failing.calls[0]["InvocationType"] == "RequestResponse"
    assert json.loads(failing.calls[0]["Payload"]) == {"Records": []}
    ok = FakeLambda({"Payload": io.BytesIO(b'{"batchItemFailures": []}')})
    assert lambda_invoker(ok, "processor")({"Records": []}) == {"batchItemFailures": []}


QUEUE_URL = "https://sqs.ap-northeast-1.amazonaws.com/123456789012/q"
STREAM_ARG = ["--stream-arn", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{STREAM}"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--queue-url", "queue", "--function-name", "f", *STREAM_ARG], "--queue-url must be an SQS queue URL"),
        (
            ["--queue-url", QUEUE_URL, "--function-name", "no spaces", *STREAM_ARG],
            "--function-name must be a Lambda function name or ARN, got 'no spaces'",
        ),
        (
            ["--queue-url", QUEUE_URL, "--function-name", "f", "--stream-arn", "transactions"],
            "--stream-arn must be a Kinesis stream ARN like arn:aws:kinesis:<region>:<account>:stream/<name>, "
            "got 'transactions'",
        ),
        (
            ["--queue-url", QUEUE_URL, "--function-name", "f", *STREAM_ARG, "--region", "tokyo"],
            "--region must be an AWS region such as ap-northeast-1, got 'tokyo'",
        ),
        (
            ["--queue-url", QUEUE_URL, "--function-name", "f", *STREAM_ARG, "--endpoint-url", "localhost:4566"],
            "--endpoint-url must be an http(s) URL, got 'localhost:4566'",
        ),
        (
            ["--queue-url", QUEUE_URL, "--function-name", "f", *STREAM_ARG, "--max-messages", "0"],
            "--max-messages must be a positive integer, got '0'",
        ),
    ],
)
def test_cli_fails_with_one_line_naming_the_argument(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("python -m operator_tools.replay: error: ")


def test_cli_needs_the_stream_to_trust(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["--queue-url", QUEUE_URL, "--function-name", "f"])
    assert exit_code.value.code == 2 and "the following arguments are required: --stream-arn" in capsys.readouterr().err


@pytest.fixture
def lambda_without_docker(moto_endpoint: str) -> Iterator[None]:
    """moto's documented switch: Invoke answers from a queue of canned results instead of running code."""
    from moto.moto_api import _internal as api

    previous = json.loads(json.dumps(api.moto_api_backend.get_config()))
    api.moto_api_backend.set_config({"lambda": {"use_docker": False}})
    yield
    api.moto_api_backend.set_config(previous)


def test_cli_replays_through_lambda_invoke(
    world: World,
    lambda_without_docker: None,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    iam, lam = client(moto_endpoint, "iam"), client(moto_endpoint, "lambda")
    role = iam.create_role(RoleName="processor", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(
        FunctionName="processor",
        Runtime="python3.12",
        Role=role,
        Handler="processor.handler.handle",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    queue_arg = [
        "--queue-url",
        world.queue,
        "--function-name",
        "processor",
        "--stream-arn",
        world.stream_arn,
        "--region",
        REGION,
        "--endpoint-url",
        moto_endpoint,
    ]

    def canned(*results: str) -> None:
        body = json.dumps({"results": list(results), "region": REGION}).encode()
        urllib.request.urlopen(
            urllib.request.Request(f"{moto_endpoint}/moto-api/static/lambda-simple/response", data=body, method="POST")
        ).close()

    canned(json.dumps({"batchItemFailures": [{"itemIdentifier": world.seqs[4]}]}))
    assert main(queue_arg) == 1
    out = capsys.readouterr().out
    assert f"function reported 1 failed records: {world.seqs[4]}" in out and "failed=1" in out
    assert len(world.messages()) == 1

    canned(json.dumps({"batchItemFailures": []}))
    assert main(queue_arg) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("replayed ") and "replayed=1" in out
    assert world.messages() == []


def test_importing_the_module_does_not_load_boto3() -> None:
    """The library part runs wherever the caller's clients come from; boto3 is loaded by main() only."""
    code = "import sys, operator_tools.replay; print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(replay_module.__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "[]"

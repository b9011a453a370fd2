"""Re-drive the Kinesis batches the processor's event source mapping gave up on.

    python -m operator_tools.replay --queue-url URL --function-name NAME --stream-arn ARN \
        [--region R] [--endpoint-url U] [--dry-run] [--max-messages N]

The mapping's on-failure destination (an SQS queue) receives only a pointer per discarded batch
(``KinesisBatchInfo``: shard, first and last sequence number, size, stream ARN), never the data
(https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). So each
message is resolved against the stream (GetShardIterator AT_SEQUENCE_NUMBER, GetRecords up to the
last sequence number), the same Lambda event is rebuilt (``operator_tools.kinesis_event_builder``) and the
function is invoked synchronously. A message is deleted only when the whole batch succeeded (no
function error, no ``batchItemFailures``); otherwise it stays for the next run. Records the stream
has already trimmed cannot be replayed: the lost shard/sequence range is reported and the message
kept, so the loss stays visible until someone deals with it.

Only pointers into the configured stream (``--stream-arn``, the stack output ``kinesis_stream_arn``)
are replayed: the ARN in a message is the sender's word, and the processor refuses any other
stream anyway. A message pointing elsewhere is kept and reported, for someone to find out who
sent it. Run it as the stack's replay role (output ``replay_role_arn``), which may do exactly this.

Every processor write is idempotent, so replaying a batch that was partly stored is safe.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from operator_tools.invoke import Invoke, caller_arn, invoke_batch, lambda_invoker, run_with_aws, target_problem
from operator_tools.kinesis_event_builder import lambda_event
from processor.config import parse_positive_int
from processor.contract import ConfigError
from processor.kinesis import stream_parts

# An invocation can take the function's whole timeout (at most 15 minutes): keep the message
# hidden from other readers that long.
VISIBILITY_TIMEOUT_SECONDS = 900
MAX_GET_RECORDS_LIMIT = 10_000
# GetRecords may return an empty page before the end of a shard; stop after this many in a row.
MAX_EMPTY_READS = 5

REPLAYED = "replayed"  # invoked, whole batch succeeded, message deleted
FAILED = "failed"  # invoked, function error or batchItemFailures: message kept
LOST = "lost"  # records trimmed from the stream (survivors, if any, invoked): kept
UNREADABLE = "unreadable"  # not an invocation record from a Kinesis mapping: kept
REFUSED = "refused"  # points at another stream than the configured one: kept, not read
DRY_RUN = "dry-run"  # resolved only: kept


def _error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, without importing botocore here."""
    response = getattr(exc, "response", None)
    return str(((response or {}).get("Error") or {}).get("Code") or "") if isinstance(response, dict) else ""


@dataclass(frozen=True)
class BatchPointer:
    shard_id: str
    start: str
    end: str
    batch_size: int
    stream_arn: str

    @property
    def where(self) -> str:
        return f"{self.stream_arn} {self.shard_id} {self.start}..{self.end} ({self.batch_size} records)"


def parse_pointer(body: str) -> BatchPointer:
    """The KinesisBatchInfo of an on-failure invocation record; ValueError says what is wrong."""
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError("message body is not JSON") from None
    info = document.get("KinesisBatchInfo") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        raise ValueError("message has no KinesisBatchInfo (not from a Kinesis event source mapping)")
    try:
        pointer = BatchPointer(
            str(info["shardId"]),
            str(info["startSequenceNumber"]),
            str(info["endSequenceNumber"]),
            int(info["batchSize"]),
            str(info["streamArn"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"KinesisBatchInfo is incomplete ({type(exc).__name__}: {exc})") from None
    stream_parts(pointer.stream_arn)  # raises ValueError for anything but a stream ARN
    if not (pointer.start.isdigit() and pointer.end.isdigit()) or int(pointer.start) > int(pointer.end):
        raise ValueError(f"bad sequence range {pointer.start!r}..{pointer.end!r}")
    return pointer


@dataclass
class ResolvedBatch:
    records: list[dict[str, Any]]
    lost: str | None = None  # which records are gone, when some are


def read_pointed_records(kinesis: Any, pointer: BatchPointer) -> ResolvedBatch:
    """The records from ``start`` to ``end`` inclusive that the stream still holds."""
    _, stream_name = stream_parts(pointer.stream_arn)
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name,
            ShardId=pointer.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=pointer.start,
        )["ShardIterator"]
    except Exception as exc:
        code = _error_code(exc)
        if code == "ResourceNotFoundException":
            return ResolvedBatch([], f"{pointer.where}: all lost, the shard or stream no longer exists ({exc})")
        if code != "InvalidArgumentException":
            raise
        # The starting record is past the trim horizon: read what is left of the shard instead.
        iterator = kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=pointer.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    start, end = int(pointer.start), int(pointer.end)
    found: list[dict[str, Any]] = []
    empty_reads = 0
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=min(MAX_GET_RECORDS_LIMIT, max(pointer.batch_size, 1)))
        records = page.get("Records") or []
        past_end = False
        for record in records:
            seq = int(record["SequenceNumber"])
            if seq > end:
                past_end = True
                break
            if seq >= start:
                found.append(record)
        if past_end or (found and int(found[-1]["SequenceNumber"]) == end):
            break
        empty_reads = empty_reads + 1 if not records else 0
        if empty_reads and (page.get("MillisBehindLatest") == 0 or empty_reads >= MAX_EMPTY_READS):
            break
        iterator = page.get("NextShardIterator")
    return ResolvedBatch(found, _describe_loss(pointer, found))


def _describe_loss(pointer: BatchPointer, found: list[dict[str, Any]]) -> str | None:
    if not found:
        return f"{pointer.where}: all lost, no longer in the stream (trimmed after the retention period)"
    first, last = str(found[0]["SequenceNumber"]), str(found[-1]["SequenceNumber"])
    missing = pointer.batch_size - len(found)
    if first != pointer.start:
        return (
            f"{pointer.stream_arn} {pointer.shard_id}: {missing} of {pointer.batch_size} records lost, "
            f"from {pointer.start} up to (not including) {first}, trimmed from the stream"
        )
    if last != pointer.end:
        return (
            f"{pointer.stream_arn} {pointer.shard_id}: records after {last} up to {pointer.end} "
            f"not found ({len(found)} of {pointer.batch_size})"
        )
    if missing > 0:
        return (
            f"{pointer.stream_arn} {pointer.shard_id}: only {len(found)} of {pointer.batch_size} "
            f"records found in {pointer.start}..{pointer.end}"
        )
    return None


@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    status: str
    detail: str
    pointer: BatchPointer | None = None
    records_invoked: int = 0

    def line(self) -> str:
        where = self.pointer.where if self.pointer else "-"
        return f"{self.status:<10} message {self.message_id} {where}: {self.detail}"


@dataclass
class ReplayReport:
    outcomes: list[MessageOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def kept(self) -> int:
        return len(self.outcomes) - self.count(REPLAYED)

    @property
    def ok(self) -> bool:
        """True when nothing needs attention: every message was replayed (or only looked at)."""
        return all(o.status in (REPLAYED, DRY_RUN) for o in self.outcomes)

    def summary(self) -> str:
        counts = " ".join(f"{s}={self.count(s)}" for s in (REPLAYED, FAILED, LOST, UNREADABLE, REFUSED, DRY_RUN))
        return f"messages={len(self.outcomes)} {counts}"


def _handle(
    message: Mapping[str, Any], kinesis: Any, invoke: Invoke, stream_arn: str, invoke_identity_arn: str, dry_run: bool
) -> MessageOutcome:
    message_id = str(message.get("MessageId"))
    try:
        pointer = parse_pointer(message.get("Body") or "")
    except ValueError as exc:
        return MessageOutcome(message_id, UNREADABLE, str(exc))
    if pointer.stream_arn != stream_arn:
        return MessageOutcome(
            message_id,
            REFUSED,
            f"points at another stream than the configured {stream_arn}; "
            "not read or replayed, kept: find out who sent it",
            pointer,
        )
    resolved = read_pointed_records(kinesis, pointer)
    if dry_run:
        detail = resolved.lost or f"would replay {len(resolved.records)} records"
        return MessageOutcome(message_id, LOST if resolved.lost else DRY_RUN, detail, pointer)
    if not resolved.records:
        return MessageOutcome(message_id, LOST, resolved.lost or "no records", pointer)
    region, _ = stream_parts(pointer.stream_arn)
    event = lambda_event(
        resolved.records,
        shard_id=pointer.shard_id,
        stream_arn=pointer.stream_arn,
        invoke_identity_arn=invoke_identity_arn,
        region=region,
    )
    sequence_numbers = [str(r["SequenceNumber"]) for r in resolved.records]
    ok, detail = invoke_batch(invoke, event, sequence_numbers)
    if resolved.lost:
        # The records still in the stream were replayed (they will be trimmed too); the message
        # stays because part of the batch can no longer be processed.
        return MessageOutcome(
            message_id, LOST, f"{resolved.lost}; surviving records: {detail}", pointer, len(sequence_numbers)
        )
    return MessageOutcome(message_id, REPLAYED if ok else FAILED, detail, pointer, len(sequence_numbers))


def replay(
    sqs: Any,
    kinesis: Any,
    queue_url: str,
    invoke: Invoke,
    *,
    stream_arn: str,
    invoke_identity_arn: str,
    dry_run: bool = False,
    max_messages: int | None = None,
    visibility_timeout: int = VISIBILITY_TIMEOUT_SECONDS,
    on_outcome: Callable[[MessageOutcome], None] = lambda outcome: None,
) -> ReplayReport:
    """Replay the batches of ``stream_arn`` the on-failure queue points at; delete each message whose batch
    succeeded. A pointer into any other stream is refused (kept, never read).

    ``invoke(event)`` returns the function's response or raises on a function error (the CLI
    wraps Lambda Invoke; tests pass the handler). ``invoke_identity_arn`` goes into every record
    as the identity that invoked (Lambda's mapping puts its execution role there; the CLI, its caller).
    Messages that are kept are made visible again at the end, so the next run (or a person) sees them
    at once.
    """
    if max_messages is not None and max_messages <= 0:
        raise ValueError(f"max_messages must be a positive integer, got {max_messages}")
    stream_parts(stream_arn)  # raises ValueError for anything but a stream ARN
    report = ReplayReport()
    seen: set[str] = set()
    kept: list[str] = []
    try:
        while max_messages is None or len(report.outcomes) < max_messages:
            wanted = 10 if max_messages is None else min(10, max_messages - len(report.outcomes))
            messages = (
                sqs.receive_message(
                    QueueUrl=queue_url,
                    MaxNumberOfMessages=wanted,
                    WaitTimeSeconds=0,
                    VisibilityTimeout=visibility_timeout,
                ).get("Messages")
                or []
            )
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                outcome = _handle(message, kinesis, invoke, stream_arn, invoke_identity_arn, dry_run)
                if outcome.status == REPLAYED:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    kept.append(message["ReceiptHandle"])
                report.outcomes.append(outcome)
                on_outcome(outcome)
    finally:
        for handle in kept:
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return report


_QUEUE_URL = re.compile(r"^https?://[^\s/]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?$")


def _validate(args: argparse.Namespace) -> str | None:
    """The first bad argument as a one-line message naming it and its value, or None."""
    if not _QUEUE_URL.match(args.queue_url):
        return (
            f"--queue-url must be an SQS queue URL like https://sqs.<region>.amazonaws.com/<account>/<name>, "
            f"got {args.queue_url!r}"
        )
    problem = target_problem(args.function_name, args.stream_arn, args.region, args.endpoint_url)
    if problem:
        return problem
    if args.max_messages is not None:
        try:
            args.max_messages = parse_positive_int("--max-messages", args.max_messages)
        except ConfigError as exc:
            return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operator_tools.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue-url", required=True, help="the event source mapping's on-failure queue")
    parser.add_argument("--function-name", required=True, help="function to invoke (name or ARN)")
    parser.add_argument(
        "--stream-arn",
        required=True,
        help="the processor's stream (stack output kinesis_stream_arn): only its pointers are replayed",
    )
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=None, help="one endpoint for SQS, Kinesis and Lambda")
    parser.add_argument("--dry-run", action="store_true", help="resolve and report; invoke and delete nothing")
    parser.add_argument("--max-messages", default=None, help="stop after this many messages")
    args = parser.parse_args(argv)
    return run_with_aws(
        parser.prog,
        args,
        _validate(args),
        lambda client: replay(
            client("sqs"),
            client("kinesis"),
            args.queue_url,
            lambda_invoker(client("lambda"), args.function_name),
            stream_arn=args.stream_arn,
            invoke_identity_arn=caller_arn(client),  # the replay role has no Lambda action but InvokeFunction
            dry_run=args.dry_run,
            max_messages=args.max_messages,
            on_outcome=lambda outcome: print(outcome.line()),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())

"""Kinesis GetRecords records -> the Lambda Kinesis event, built in one place.

The replay tool (``operator_tools.replay``) and the test event-source emulator both rebuild the event
Lambda's event source mapping sends, so they share this builder and cannot drift apart. The shape
is the one documented for Kinesis events
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Example event"), and it is what
``processor.kinesis.parse_event`` reads (the shard id comes from ``eventID``); the parser owns the
names both sides spell (``EVENT_SOURCE``, ``stream_parts``), since only it ships in the Lambda zip.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from processor.kinesis import EVENT_SOURCE

EVENT_NAME = "aws:kinesis:record"
EVENT_VERSION = "1.0"
KINESIS_SCHEMA_VERSION = "1.0"


def arrival_epoch(record: Mapping[str, Any]) -> float:
    """``ApproximateArrivalTimestamp`` (boto3 gives a datetime) as epoch seconds, millisecond precision."""
    value = record["ApproximateArrivalTimestamp"]
    if isinstance(value, datetime):
        if value.tzinfo is None:  # the SDK parses to aware datetimes; a naive one is taken as UTC
            value = value.replace(tzinfo=UTC)
        return round(value.timestamp(), 3)
    return round(float(value), 3)


def iso_millis(epoch_seconds: float) -> str:
    """``2019-11-14T00:38:04.835Z``: the timestamp format of the on-failure invocation record."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lambda_record(
    record: Mapping[str, Any], *, shard_id: str, stream_arn: str, invoke_identity_arn: str, region: str
) -> dict[str, Any]:
    """One GetRecords record (boto3 shape: bytes ``Data``) as a Lambda Kinesis event record."""
    data = record["Data"]
    if isinstance(data, str):
        data = data.encode("utf-8")
    sequence_number = str(record["SequenceNumber"])
    return {
        "kinesis": {
            "kinesisSchemaVersion": KINESIS_SCHEMA_VERSION,
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival_epoch(record),
        },
        "eventSource": EVENT_SOURCE,
        "eventVersion": EVENT_VERSION,
        "eventID": f"{shard_id}:{sequence_number}",
        "eventName": EVENT_NAME,
        "invokeIdentityArn": invoke_identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def lambda_event(
    records: Iterable[Mapping[str, Any]], *, shard_id: str, stream_arn: str, invoke_identity_arn: str, region: str
) -> dict[str, list[dict[str, Any]]]:
    """The event for one batch: every record comes from the same shard, in sequence order."""
    return {
        "Records": [
            lambda_record(
                r, shard_id=shard_id, stream_arn=stream_arn, invoke_identity_arn=invoke_identity_arn, region=region
            )
            for r in records
        ]
    }


def batch_info(records: list[Mapping[str, Any]], *, shard_id: str, stream_arn: str) -> dict[str, Any]:
    """``KinesisBatchInfo`` of an on-failure invocation record: a pointer to the records, not their data."""
    if not records:
        raise ValueError("a batch info needs at least one record")
    first, last = records[0], records[-1]
    return {
        "shardId": shard_id,
        "startSequenceNumber": str(first["SequenceNumber"]),
        "endSequenceNumber": str(last["SequenceNumber"]),
        "approximateArrivalOfFirstRecord": iso_millis(arrival_epoch(first)),
        "approximateArrivalOfLastRecord": iso_millis(arrival_epoch(last)),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }


@dataclass(frozen=True)
class BatchResult:
    """How Lambda reads a ReportBatchItemFailures response for one batch.

    ``retry_from`` is the index of the first record to process again: the lowest reported
    sequence number, 0 when the response fails the whole batch, None on success.
    """

    retry_from: int | None
    reason: str

    @property
    def succeeded(self) -> bool:
        return self.retry_from is None


def read_batch_response(response: Any, sequence_numbers: list[str]) -> BatchResult:
    """Apply the documented success and failure conditions of a partial batch response.

    Success: a null response, no ``batchItemFailures`` key, a null or empty list. Whole batch
    failed: an ``itemIdentifier`` that is null, empty or not a sequence number of the batch.
    Otherwise processing resumes at the lowest reported sequence number. A response that is not
    an object, or a list that is not a list, is also taken as a whole-batch failure: nothing in it
    can prove the records were processed.
    """
    if response is None:
        return BatchResult(None, "success")
    if not isinstance(response, Mapping):
        return BatchResult(0, f"response is not an object ({type(response).__name__})")
    failures = response.get("batchItemFailures")
    if failures is None or failures == []:
        return BatchResult(None, "success")
    if not isinstance(failures, list):
        return BatchResult(0, "batchItemFailures is not a list")
    position = {seq: i for i, seq in enumerate(sequence_numbers)}
    lowest: int | None = None
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in position:
            return BatchResult(0, f"itemIdentifier {identifier!r} is not a sequence number of the batch")
        index = position[identifier]
        lowest = index if lowest is None else min(lowest, index)
    return BatchResult(lowest, "partial")

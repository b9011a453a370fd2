"""A Lambda event source mapping for a Kinesis stream, emulated against moto's Kinesis and SQS.

moto stores streams but never invokes a function from one, so the tests drive the handler
through this class instead: it reads each shard in order (ListShards, GetShardIterator,
GetRecords), builds the Lambda event with ``operator_tools.kinesis_event_builder`` (the builder the replay
tool uses too) and applies the mapping's documented error handling. Everything is synchronous and
single-threaded, so a test sees a deterministic order of invocations in ``trace``.

Semantics, with where each is documented:

- Batches, order, starting position: one batch of at most ``batch_size`` records in flight per
  shard, shards read from TRIM_HORIZON; the next batch of a shard is read only after the previous
  one is checkpointed. Parameters and defaults (BatchSize 100, MaximumRetryAttempts -1,
  MaximumRecordAgeInSeconds -1 or 60..604800, BisectBatchOnFunctionError false):
  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html
- ReportBatchItemFailures: success = null response, no/null/empty ``batchItemFailures``; an
  ``itemIdentifier`` that is null, empty or not in the batch fails the whole batch; with several
  failures the checkpoint is set before the lowest sequence number and every record from it is
  retried; with BisectBatchOnFunctionError also on, the batch is split at that sequence number
  and only the rest is retried (the same records, so the same behaviour here):
  https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
  (without ``report_batch_item_failures`` the response is ignored, as documented there).
- Function errors, bisection, retries, record age: a function error is retried until the
  records exceed MaximumRecordAgeInSeconds or MaximumRetryAttempts runs out; with
  BisectBatchOnFunctionError a failed batch is split in two, and "splitting batches doesn't
  consume the retry quota"; when error handling gives up the records are discarded and the
  shard moves on:
  https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
- On-failure destination: one JSON invocation record per discarded batch, with
  ``requestContext`` (requestId, functionArn, condition, approximateInvokeCount),
  ``responseContext``, ``version`` "1.0", ``timestamp`` and ``KinesisBatchInfo`` (shardId,
  start/endSequenceNumber, approximateArrivalOfFirst/LastRecord, batchSize, streamArn); the
  records themselves are not included. Example record in the same page as above (and in
  https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Example invocation record").

Choices where the documentation is silent (kept deliberately simple and stated here):

- A split resets the retry count of each half, so a poison record is isolated to a one-record
  batch before MaximumRetryAttempts decides anything; a one-record batch is never split.
- A partial batch response counts as a retry of the records from the lowest failure (the retry
  strategy applies to it, as the partial-response page says); retries are counted per batch.
- Record age is checked before every invocation, including the first: the leading records of
  the batch older than MaximumRecordAgeInSeconds (Kinesis records arrive in order, so the
  expired ones are a prefix) are discarded with condition "RecordAgeExceeded"; the rest is
  invoked. ``approximateInvokeCount`` is the number of invocations made with that batch (0 if
  the records were never delivered), and ``responseContext`` is that of the last invocation
  (empty if there was none).
- A retried batch is the remainder of the same batch (no newer records are pulled in).
- Resharding (parent shards before children), ParallelizationFactor, batching windows,
  tumbling windows and filters are not modelled.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from operator_tools.kinesis_event_builder import (
    arrival_epoch,
    batch_info,
    iso_millis,
    lambda_event,
    read_batch_response,
)

INFINITE = -1
RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"
DEFAULT_FUNCTION_ARN = "arn:aws:lambda:ap-northeast-1:123456789012:function:transaction-processor"
DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/transaction-processor"


@dataclass(frozen=True)
class Invocation:
    """One call of the function, for assertions: which records, and what came back."""

    shard_id: str
    sequence_numbers: list[str]
    request_id: str
    outcome: str  # "success" | "partial" | "invalid_response" | "function_error"
    retry: int  # retries of this batch before this call (0 = first attempt)
    detail: str = ""  # error text or the reason a response failed the batch

    @property
    def succeeded(self) -> bool:
        return self.outcome == "success"


@dataclass
class EsmStats:
    invocations: int = 0
    records_delivered: int = 0
    retries: int = 0
    bisections: int = 0
    function_errors: int = 0
    partial_failures: int = 0
    destination_messages: int = 0
    records_to_destination: int = 0
    records_discarded: int = 0  # given up on, with or without a destination


@dataclass
class _Batch:
    records: list[dict[str, Any]]
    retries: int = 0
    invokes: int = 0
    last_request_id: str = ""
    last_response_context: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Shard:
    shard_id: str
    checkpoint: str | None = None  # last sequence number done with
    batches: deque[_Batch] = field(default_factory=deque)  # [0] in flight, then bisected halves


class EventSourceMapping:
    """Delivers a moto Kinesis stream to ``invoke(event) -> response`` as Lambda's mapping would.

    ``kinesis``/``sqs`` are boto3 clients; ``on_failure_queue_url`` (needs ``sqs``) receives the
    invocation records of discarded batches. ``clock`` is the wall clock used for record age and
    the record timestamps (inject one to age records without waiting).
    """

    def __init__(
        self,
        kinesis: Any,
        stream_name: str,
        invoke: Callable[[dict[str, Any]], Any],
        *,
        batch_size: int = 100,
        max_retries: int = INFINITE,
        max_record_age_seconds: int = INFINITE,
        bisect_on_error: bool = True,
        report_batch_item_failures: bool = True,
        on_failure_queue_url: str | None = None,
        sqs: Any = None,
        function_arn: str = DEFAULT_FUNCTION_ARN,
        role_arn: str = DEFAULT_ROLE_ARN,
        clock: Callable[[], float] = time.time,
        retry_delay: float = 0.0,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be 1-10000, got {batch_size}")
        if not (max_retries == INFINITE or 0 <= max_retries <= 10_000):
            raise ValueError(f"max_retries must be -1 (infinite) or 0-10000, got {max_retries}")
        if not (max_record_age_seconds == INFINITE or 60 <= max_record_age_seconds <= 604_800):
            raise ValueError(f"max_record_age_seconds must be -1 (infinite) or 60-604800, got {max_record_age_seconds}")
        if on_failure_queue_url is not None and sqs is None:
            raise ValueError(f"on_failure_queue_url={on_failure_queue_url!r} needs an sqs client")
        if retry_delay < 0:
            raise ValueError(f"retry_delay must be >= 0, got {retry_delay}")
        self.kinesis = kinesis
        self.stream_name = stream_name
        self.invoke = invoke
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.max_record_age_seconds = max_record_age_seconds
        self.bisect_on_error = bisect_on_error
        self.report_batch_item_failures = report_batch_item_failures
        self.on_failure_queue_url = on_failure_queue_url
        self.sqs = sqs
        self.function_arn = function_arn
        self.role_arn = role_arn
        self.clock = clock
        self.retry_delay = retry_delay
        self.stream_arn = kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        self.region = self.stream_arn.split(":")[3]
        self.stats = EsmStats()
        self.trace: list[Invocation] = []
        self.sent: list[dict[str, Any]] = []  # invocation records sent to the destination
        self._shards: dict[str, _Shard] = {}

    # -- public --------------------------------------------------------------
    def checkpoints(self) -> dict[str, str | None]:
        """Per shard, the last sequence number the mapping is done with (None: nothing yet)."""
        return {shard_id: state.checkpoint for shard_id, state in self._shards.items()}

    def poll_once(self) -> int:
        """One step per shard (at most one invocation each); returns the records delivered."""
        delivered, _ = self._poll()
        return delivered

    def run_until_idle(self, timeout: float = 10.0) -> EsmStats:
        """Poll until every shard is read to its end with nothing left to retry.

        Raises TimeoutError (naming the shards still busy) when that takes longer than
        ``timeout`` seconds of real time, e.g. a poison record with infinite retries.
        """
        deadline = time.monotonic() + timeout
        while True:
            _, busy = self._poll()
            if not busy:
                return self.stats
            if time.monotonic() > deadline:
                stuck = ", ".join(
                    f"{s.shard_id} (checkpoint {s.checkpoint}, next batch "
                    f"{s.batches[0].records[0]['SequenceNumber']}..{s.batches[0].records[-1]['SequenceNumber']}, "
                    f"{s.batches[0].retries} retries)"
                    for s in self._shards.values()
                    if s.batches
                )
                raise TimeoutError(
                    f"event source mapping for {self.stream_name} not idle after {timeout}s: {stuck or 'still reading'}"
                )

    # -- polling ---------------------------------------------------------------
    def _list_shards(self) -> list[str]:
        shard_ids: list[str] = []
        kwargs: dict[str, Any] = {"StreamName": self.stream_name}
        while True:
            page = self.kinesis.list_shards(**kwargs)
            shard_ids.extend(s["ShardId"] for s in page["Shards"])
            if not page.get("NextToken"):
                return shard_ids
            kwargs = {"NextToken": page["NextToken"]}

    def _poll(self) -> tuple[int, bool]:
        delivered, busy = 0, False
        for shard_id in self._list_shards():
            shard = self._shards.setdefault(shard_id, _Shard(shard_id))
            shard_delivered, shard_busy = self._step(shard)
            delivered += shard_delivered
            busy = busy or shard_busy
        return delivered, busy

    def _read(self, shard: _Shard) -> list[dict[str, Any]]:
        if shard.checkpoint is None:
            position: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        else:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": shard.checkpoint}
        iterator = self.kinesis.get_shard_iterator(StreamName=self.stream_name, ShardId=shard.shard_id, **position)[
            "ShardIterator"
        ]
        return self.kinesis.get_records(ShardIterator=iterator, Limit=self.batch_size)["Records"]

    def _step(self, shard: _Shard) -> tuple[int, bool]:
        """Returns (records delivered, whether the shard had work)."""
        if not shard.batches:
            records = self._read(shard)
            if not records:
                return 0, False
            shard.batches.append(_Batch(records))
        batch = shard.batches[0]
        if self._discard_expired(shard, batch):
            return 0, True
        delivered = len(batch.records)
        self._invoke(shard, batch)
        return delivered, True

    def _discard_expired(self, shard: _Shard, batch: _Batch) -> bool:
        """Discard the leading records older than the maximum age; True if nothing is left to invoke."""
        if self.max_record_age_seconds == INFINITE:
            return False
        oldest_allowed = self.clock() - self.max_record_age_seconds
        expired = 0
        while expired < len(batch.records) and arrival_epoch(batch.records[expired]) < oldest_allowed:
            expired += 1
        if not expired:
            return False
        gone = _Batch(
            batch.records[:expired], batch.retries, batch.invokes, batch.last_request_id, batch.last_response_context
        )
        self._give_up(shard, gone, RECORD_AGE_EXCEEDED)
        batch.records = batch.records[expired:]
        if not batch.records:
            shard.batches.popleft()
            return True
        return False

    # -- one invocation ----------------------------------------------------------
    def _invoke(self, shard: _Shard, batch: _Batch) -> None:
        event = lambda_event(
            batch.records,
            shard_id=shard.shard_id,
            stream_arn=self.stream_arn,
            invoke_identity_arn=self.role_arn,
            region=self.region,
        )
        sequence_numbers = [str(r["SequenceNumber"]) for r in batch.records]
        request_id = str(uuid.uuid4())
        batch.invokes += 1
        batch.last_request_id = request_id
        self.stats.invocations += 1
        self.stats.records_delivered += len(batch.records)
        try:
            response = self.invoke(event)
        except Exception as exc:  # a function error: the handler raised
            self.stats.function_errors += 1
            batch.last_response_context = {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            }
            self.trace.append(
                Invocation(
                    shard.shard_id,
                    sequence_numbers,
                    request_id,
                    "function_error",
                    batch.retries,
                    f"{type(exc).__name__}: {exc}",
                )
            )
            self._function_error(shard, batch)
            return
        batch.last_response_context = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": None}
        if not self.report_batch_item_failures:
            response = None  # not enabled on the mapping: Lambda does not read the response
        result = read_batch_response(response, sequence_numbers)
        if result.succeeded:
            self.trace.append(Invocation(shard.shard_id, sequence_numbers, request_id, "success", batch.retries))
            self._done(shard, batch)
            return
        outcome = "partial" if result.reason == "partial" else "invalid_response"
        self.trace.append(
            Invocation(shard.shard_id, sequence_numbers, request_id, outcome, batch.retries, result.reason)
        )
        self.stats.partial_failures += 1
        if result.retry_from:
            # Checkpoint before the lowest failure; the retry starts at it.
            shard.checkpoint = sequence_numbers[result.retry_from - 1]
            batch.records = batch.records[result.retry_from :]
        self._retry_or_give_up(shard, batch)

    def _function_error(self, shard: _Shard, batch: _Batch) -> None:
        if self.bisect_on_error and len(batch.records) > 1:
            half = math.ceil(len(batch.records) / 2)
            shard.batches.popleft()
            # Each half is a new batch: splitting does not consume the retry quota.
            shard.batches.appendleft(_Batch(batch.records[half:]))
            shard.batches.appendleft(_Batch(batch.records[:half]))
            self.stats.bisections += 1
            return
        self._retry_or_give_up(shard, batch)

    def _retry_or_give_up(self, shard: _Shard, batch: _Batch) -> None:
        if self.max_retries != INFINITE and batch.retries >= self.max_retries:
            self._give_up(shard, batch, RETRY_ATTEMPTS_EXHAUSTED)
            shard.batches.popleft()
            return
        batch.retries += 1
        self.stats.retries += 1
        if self.retry_delay:
            time.sleep(self.retry_delay)

    def _done(self, shard: _Shard, batch: _Batch) -> None:
        shard.checkpoint = str(batch.records[-1]["SequenceNumber"])
        shard.batches.popleft()

    def _give_up(self, shard: _Shard, batch: _Batch, condition: str) -> None:
        """Discard the batch: send its invocation record, if there is a destination, and move past it."""
        self.stats.records_discarded += len(batch.records)
        if self.on_failure_queue_url is not None:
            record = {
                "requestContext": {
                    "requestId": batch.last_request_id or str(uuid.uuid4()),
                    "functionArn": self.function_arn,
                    "condition": condition,
                    "approximateInvokeCount": batch.invokes,
                },
                "responseContext": dict(batch.last_response_context),
                "version": "1.0",
                "timestamp": iso_millis(self.clock()),
                "KinesisBatchInfo": batch_info(batch.records, shard_id=shard.shard_id, stream_arn=self.stream_arn),
            }
            self.sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(record))
            self.sent.append(record)
            self.stats.destination_messages += 1
            self.stats.records_to_destination += len(batch.records)
        shard.checkpoint = str(batch.records[-1]["SequenceNumber"])

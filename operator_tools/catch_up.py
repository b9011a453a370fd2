"""Replay the stream from a time into the processor: the catch-up after a point-in-time restore of the database.

    python -m operator_tools.catch_up --stream-arn ARN --function-name NAME --since 2026-12-04T01:29:00Z \
        [--until TIME] [--batch-size 500] [--region R] [--endpoint-url U] [--dry-run]

A database restored to time T lacks what arrived after T; the stream still holds it for its retention (24 h dev,
48 h prod). For every shard of the stream (closed parent shards too), this reads from ``--since``
(GetShardIterator AT_TIMESTAMP) to the end of a closed shard, the tip of an open one (later records are the live
event source mapping's), or ``--until``, rebuilds the same Lambda events the event source mapping would send, in
shard order, ``--batch-size`` records each (``operator_tools.kinesis_event_builder``), and invokes the function
synchronously. A batch with a function error or ``batchItemFailures`` is reported with its shard and sequence
range and the shard is not read further (its order matters); so is a shard whose reads stop short of its tip.
A ``--since`` older than the stream's retention (DescribeStreamSummary) is reported as lost: the records
still there are replayed, but the run fails, because the database lacks what was trimmed. The exit code is 1 if
any batch failed, a shard was not read to its end or records were lost, else 0.

Every processor write is idempotent (transactions by id, history entries by key), so records the restored
database already holds, or that the live event source mapping processes at the same time, are stored once.
Run it as the stack's replay role (output ``replay_role_arn``): it may read the stream and invoke the function.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from operator_tools.invoke import Invoke, caller_arn, invoke_batch, lambda_invoker, run_with_aws, target_problem
from operator_tools.kinesis_event_builder import arrival_epoch, lambda_event
from processor.kinesis import stream_parts

MAX_BATCH_SIZE = 10_000  # the event source mapping's own ceiling
MAX_EMPTY_READS = 5  # empty pages in a row that end a shard when the server does not say how far behind it is
#: Empty pages in a row, still behind the tip, before giving up on a shard (a reported failure, never an end).
MAX_EMPTY_BEHIND_READS = 1000


@dataclass
class ShardOutcome:
    shard_id: str
    records: int = 0
    batches: int = 0
    failure: str | None = None  # the first failed batch: where and why (the shard stops there)

    def line(self) -> str:
        status = f"FAILED {self.failure}" if self.failure else "ok"
        return f"{self.shard_id}: {self.records} records in {self.batches} batches, {status}"


@dataclass
class CatchUpReport:
    shards: list[ShardOutcome] = field(default_factory=list)
    lost: str | None = None  # the part of the asked-for time the stream no longer holds

    @property
    def ok(self) -> bool:
        return not self.lost and not any(s.failure for s in self.shards)

    @property
    def records(self) -> int:
        return sum(s.records for s in self.shards)

    def summary(self) -> str:
        failed = sum(1 for s in self.shards if s.failure)
        lost = f" LOST {self.lost}" if self.lost else ""
        return f"shards={len(self.shards)} records={self.records} failed_shards={failed}{lost}"


def _shards(kinesis: Any, stream: str) -> list[str]:
    """Every shard the stream still lists, closed ones too, each after its parents (a key's records move to a
    child at a reshard, so the parent's come first); ListShards' own order is kept where it allows."""
    listed, token = [], None
    while True:
        page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream)
        listed += page.get("Shards", [])
        token = page.get("NextToken")
        if not token:
            break
    known = {s["ShardId"] for s in listed}
    ordered: list[str] = []
    while len(ordered) < len(listed):
        for shard in listed:
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} & known
            if shard["ShardId"] not in ordered and parents <= set(ordered):
                ordered.append(shard["ShardId"])
                break
        else:
            raise ValueError(f"ListShards gave shards whose parents form a cycle: {sorted(known - set(ordered))}")
    return ordered


class ShardReadError(Exception):
    """The shard could not be read to its end; the message says where reading stopped."""


def _records(
    kinesis: Any, stream: str, shard_id: str, since: datetime, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """The shard's records that arrived at or after ``since`` (and before ``until``), in order.

    The end is a page that reaches the tip (``MillisBehindLatest`` 0): what arrives later, the live event
    source mapping processes. Kinesis may return empty pages while records lie further on (it reads the shard
    in time slices), so an empty page that is still behind means read on, never the end; a closed shard ends
    when it gives no next iterator. ShardReadError if the pages stay empty without reaching the tip."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="AT_TIMESTAMP", Timestamp=since
    )["ShardIterator"]
    empty, last = 0, "the start"
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=MAX_BATCH_SIZE)
        records = page.get("Records") or []
        for record in records:
            if until is not None and arrival_epoch(record) >= until.timestamp():
                return
            yield record
            last = str(record["SequenceNumber"])
        behind = page.get("MillisBehindLatest")
        if behind == 0:
            return
        empty = 0 if records else empty + 1
        if behind is None and empty >= MAX_EMPTY_READS:
            return
        if empty >= MAX_EMPTY_BEHIND_READS:
            raise ShardReadError(f"{empty} empty reads in a row still {behind} ms behind the tip, after {last}")
        iterator = page.get("NextShardIterator")


def catch_up(
    kinesis: Any,
    invoke: Invoke,
    *,
    stream_arn: str,
    since: datetime,
    until: datetime | None = None,
    batch_size: int = 500,
    invoke_identity_arn: str,
    dry_run: bool = False,
    now: datetime | None = None,
    on_shard: Callable[[ShardOutcome], None] = lambda outcome: None,
) -> CatchUpReport:
    """Invoke the function with every record of ``stream_arn`` from ``since``; see the module docstring."""
    region, stream = stream_parts(stream_arn)
    report = CatchUpReport()
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    hours = int(summary["RetentionPeriodHours"])
    horizon = (now or datetime.now(UTC)) - timedelta(hours=hours)
    if since < horizon:
        report.lost = (
            f"{since:%Y-%m-%dT%H:%M:%SZ} to {horizon:%Y-%m-%dT%H:%M:%SZ} is past the stream's retention ({hours} h): "
            "those records are gone, the database lacks them"
        )
    for shard_id in _shards(kinesis, stream):
        outcome = ShardOutcome(shard_id)
        batch: list[dict[str, Any]] = []

        def send(records: list[dict[str, Any]], outcome: ShardOutcome = outcome, shard_id: str = shard_id) -> bool:
            outcome.batches += 1
            outcome.records += len(records)
            if dry_run:
                return True
            event = lambda_event(
                records,
                shard_id=shard_id,
                stream_arn=stream_arn,
                invoke_identity_arn=invoke_identity_arn,
                region=region,
            )
            ok, detail = invoke_batch(invoke, event, [str(r["SequenceNumber"]) for r in records])
            if not ok:
                first, last = records[0]["SequenceNumber"], records[-1]["SequenceNumber"]
                outcome.failure = f"batch {first}..{last}: {detail}"
            return ok

        try:
            for record in _records(kinesis, stream, shard_id, since, until):
                batch.append(record)
                if len(batch) == batch_size:
                    if not send(batch):
                        break
                    batch = []
            else:
                if batch:
                    send(batch)
        except ShardReadError as exc:
            if not batch or send(batch):
                outcome.failure = f"read stopped: {exc}"
        report.shards.append(outcome)
        on_shard(outcome)
    return report


def parse_time(option: str, value: str) -> datetime:
    """An ISO-8601 UTC time (``2026-12-04T01:29:00Z``); ValueError names the option and the value."""
    try:
        moment: datetime | None = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    offset = moment.utcoffset() if moment else None
    if moment is None or offset is None or offset.total_seconds() != 0:
        raise ValueError(f"{option} must be a UTC time such as 2026-12-04T01:29:00Z, got {value!r}")
    return moment


def _validate(args: argparse.Namespace, now: datetime) -> str | None:
    """The first bad argument as one line naming it and its value, or None (times parsed in place)."""
    problem = target_problem(args.function_name, args.stream_arn, args.region, args.endpoint_url)
    if problem:
        return problem
    try:
        args.since = parse_time("--since", args.since)
        args.until = None if args.until is None else parse_time("--until", args.until)
    except ValueError as exc:
        return str(exc)
    if args.since > now:
        return f"--since must not be in the future (now {now:%Y-%m-%dT%H:%M:%SZ}), got {args.since:%Y-%m-%dT%H:%M:%SZ}"
    if args.until is not None and args.until <= args.since:
        return f"--until must be after --since ({args.since:%Y-%m-%dT%H:%M:%SZ}), got {args.until:%Y-%m-%dT%H:%M:%SZ}"
    if not (isinstance(args.batch_size, int) and 1 <= args.batch_size <= MAX_BATCH_SIZE):
        return f"--batch-size must be a whole number from 1 to {MAX_BATCH_SIZE}, got {args.batch_size!r}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operator_tools.catch_up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream-arn", required=True, help="the processor's stream (stack output kinesis_stream_arn)")
    parser.add_argument(
        "--function-name", required=True, help="function to invoke (stack output processor_function_name)"
    )
    parser.add_argument("--since", required=True, help="UTC time to replay from, e.g. the restore time minus a minute")
    parser.add_argument("--until", default=None, help="UTC time to stop at (default: the end of each shard)")
    parser.add_argument("--batch-size", type=int, default=500, help="records per invocation (the mapping's is 500)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=None, help="one endpoint for Kinesis, Lambda and STS")
    parser.add_argument("--dry-run", action="store_true", help="read and count; invoke nothing")
    args = parser.parse_args(argv)
    return run_with_aws(
        parser.prog,
        args,
        _validate(args, datetime.now(UTC)),
        lambda client: catch_up(
            client("kinesis"),
            lambda_invoker(client("lambda"), args.function_name),
            stream_arn=args.stream_arn,
            since=args.since,
            until=args.until,
            batch_size=args.batch_size,
            invoke_identity_arn=caller_arn(client),
            dry_run=args.dry_run,
            on_shard=lambda outcome: print(outcome.line()),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())

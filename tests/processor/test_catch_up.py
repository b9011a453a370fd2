"""The data half of the restore drill on the TLS rig: a point-in-time copy of the database, the processor
pointed at it, `operator_tools.catch_up` replaying the stream from the copy's time through the handler, and the
Redis history made whole again (the runbook's marker deletion, or a replaced node). Real PostgreSQL 16 (the app role, TLS, SCRAM), real Redis (TLS, the ACL user), moto's
Kinesis and Secrets Manager on loopback."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from operator_tools import catch_up as tool
from processor import contract as c
from processor import handler, pg_store, redis_store
from tests.support.pipeline import admin_rows, close_processor, point_processor_at, produce, running_pipeline
from tests.support.pipeline import run as produce_and_drain

pytestmark = pytest.mark.integration

RESTORED_DB = "restored"


#: The Redis history after the restore: the runbook's case (docs/operations.md, steps 4 and 5: the same node still
#: holds what was written before, and its ready marker is deleted after the catch-up), and a node replaced meanwhile.
SAME_NODE, REPLACED_NODE = "same node, marker deleted after the catch-up", "replaced node"
DAMAGED = '{"damaged":true}'


@pytest.mark.parametrize("redis_after_restore", [SAME_NODE, REPLACED_NODE])
def test_the_stream_replayed_from_the_restore_time_completes_the_restored_database_and_history(
    redis_after_restore: str,
) -> None:
    logging.getLogger("processor").setLevel(logging.ERROR)
    with running_pipeline(shards=2) as pipeline:
        pg, dbname = pipeline.pg, pipeline.pg.dbname
        produce_and_drain(pipeline, 600, seed=11, batch_size=200)
        close_processor()
        # Everything so far arrives before the replay starts: T minus a second, which botocore sends in whole
        # seconds (GetShardIterator's Timestamp is truncated, so a replay may start up to a second earlier still).
        time.sleep(2.1)
        # The point in time: a copy of the database as it is now (RDS restores one from its backups).
        admin_rows(pg, "postgres", f"CREATE DATABASE {RESTORED_DB} TEMPLATE {dbname}")
        restore_time = datetime.now(UTC)
        time.sleep(1.1)  # arrival timestamps after the copy are strictly later
        produce_and_drain(pipeline, 400, seed=12, batch_size=200)

        ids = "SELECT transaction_id FROM transactions ORDER BY 1"
        everything, copied = admin_rows(pg, dbname, ids), admin_rows(pg, RESTORED_DB, ids)
        assert len(copied) < len(everything), "the copy lacks what arrived after it"

        point_processor_at(pipeline, RESTORED_DB)
        damaged = [row[0] for row in copied[:5]]
        if redis_after_restore == REPLACED_NODE:
            old_run_id = pipeline.redis.run_id()
            pipeline.redis.restart()  # an empty node, a new run id: the history must be rebuilt from the copy
            assert pipeline.redis.run_id() != old_run_id
        redis = pipeline.redis.client(decode_responses=True)
        if redis_after_restore == SAME_NODE:
            # What was written before the restore is still there; some of it also differs from what the restored
            # database holds (the damage), which the catch-up does not touch (it replays from T on).
            for transaction_id in damaged:
                redis.set(redis_store.txn_key(transaction_id), DAMAGED, keepttl=True)
        report = _replay_since(pipeline, since=restore_time - timedelta(seconds=1))
        assert report.ok, [s.line() for s in report.shards]
        assert len(report.shards) == 2 and report.records >= len(everything) - len(copied)

        assert admin_rows(pg, RESTORED_DB, ids) == everything, "every transaction exactly once"
        windows = "SELECT * FROM customer_windows ORDER BY 1, 2, 3, 4"
        assert admin_rows(pg, RESTORED_DB, windows) == admin_rows(pg, dbname, windows)
        rejected = "SELECT shard_id, sequence_number FROM rejected_transactions ORDER BY 1, 2"
        assert admin_rows(pg, RESTORED_DB, rejected) == admin_rows(pg, dbname, rejected)

        if redis_after_restore == SAME_NODE:
            assert [redis.get(redis_store.txn_key(t)) for t in damaged] == [DAMAGED] * len(damaged)
            assert redis.delete(redis_store.READY_KEY) == 1, "step 5: the marker named this node until now"
            # The next batch (new transactions only) finds no marker and copies the day from the restored database.
            later = datetime.now(UTC)
            time.sleep(1.1)
            produce(pipeline, 50, seed=13, include_invalid=False)
            assert _replay_since(pipeline, since=later).ok
            everything = admin_rows(pg, RESTORED_DB, ids)
            assert [redis.get(redis_store.txn_key(t)) for t in damaged] == _stored_json(pg, damaged)
        history = {key.removeprefix("txn:") for key in redis.scan_iter("txn:*", count=1000)}
        assert history == {row[0] for row in everything}, "the history holds the whole day again"
        assert redis.get(redis_store.READY_KEY) == redis.info("server")["run_id"]
        busiest = "SELECT customer_id FROM transactions GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3"
        for (customer,) in admin_rows(pg, RESTORED_DB, busiest):
            expected = _customer_rows(pg, customer)
            assert expected and _customer_history(redis, customer) == expected, customer


def _replay_since(pipeline: Any, since: datetime) -> tool.CatchUpReport:
    """``operator_tools.catch_up`` from ``since`` through the handler, as the runbook's step 4 runs it."""
    return tool.catch_up(
        pipeline.client("kinesis"),
        lambda event: handler.handle(event, None),
        stream_arn=os.environ[c.ENV_STREAM_ARN],
        since=since,
        batch_size=200,
        invoke_identity_arn="arn:aws:iam::123456789012:role/japancart-dev-replay",
    )


def _stored_json(pg: Any, transaction_ids: list[str]) -> list[str]:
    """The canonical JSON of each transaction as the restored database holds it (what the history must say)."""
    quoted = ", ".join(f"'{t}'" for t in transaction_ids)
    rows = admin_rows(
        pg,
        RESTORED_DB,
        "SELECT transaction_id, customer_id, merchant_id, amount::text, currency, occurred_at, payment_method, "
        f"metadata FROM transactions WHERE transaction_id IN ({quoted})",
    )
    by_id = {row[0]: pg_store.transaction_from_row(row).to_json() for row in rows}
    return [by_id[t] for t in transaction_ids]


def _customer_history(redis: Any, customer: str) -> list[tuple[str, float]]:
    """A customer's sorted set in Redis: (member, score) in (score, member) order, as Redis keeps it."""
    return [
        (m, round(score, 3)) for m, score in redis.zrange(redis_store.customer_key(customer), 0, -1, withscores=True)
    ]


def _customer_rows(pg: Any, customer: str) -> list[tuple[str, float]]:
    """What the restored database says that set must hold: the customer's transactions of the last day."""
    rows = admin_rows(
        pg,
        RESTORED_DB,
        "SELECT transaction_id, customer_id, merchant_id, amount::text, currency, occurred_at, payment_method, "
        f"metadata FROM transactions WHERE customer_id = '{customer}' AND occurred_at > now() - interval '1 day'",
    )
    txns = [pg_store.transaction_from_row(row) for row in rows]
    pairs = [(redis_store.encode_member(t), round(t.occurred_at.timestamp(), 3)) for t in txns]
    return sorted(pairs, key=lambda pair: (pair[1], pair[0]))


def _args(**overrides: Any) -> list[str]:
    values = {
        "--stream-arn": "arn:aws:kinesis:ap-northeast-1:123456789012:stream/japancart-dev-transactions",
        "--function-name": "japancart-dev-processor",
        "--since": "2026-12-01T03:00:00Z",
        **overrides,
    }
    return [item for pair in values.items() for item in pair]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"--since": "yesterday"}, "--since must be a UTC time such as 2026-12-04T01:29:00Z, got 'yesterday'"),
        ({"--since": "2026-12-01T03:00:00+09:00"}, "--since must be a UTC time"),
        ({"--since": "2999-01-01T00:00:00Z"}, "--since must not be in the future"),
        (
            {"--until": "2026-12-01T02:00:00Z"},
            "--until must be after --since (2026-12-01T03:00:00Z), got 2026-12-01T02:00:00Z",
        ),
        ({"--batch-size": "0"}, "--batch-size must be a whole number from 1 to 10000, got 0"),
        ({"--stream-arn": "japancart-dev-transactions"}, "--stream-arn must be a Kinesis stream ARN"),
        ({"--function-name": "no spaces"}, "--function-name must be a Lambda function name or ARN"),
    ],
)
def test_bad_arguments_are_one_line_naming_the_option_exit_2(overrides, message, capsys) -> None:
    assert tool.main(_args(**overrides)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"python -m operator_tools.catch_up: error: {message}") and "\n" not in err, err


class _Stream:
    """A two-shard stream of five records each, enough to see batching and a failure stop one shard. ``pages``
    replaces a shard's GetRecords replies (records, MillisBehindLatest), one per call, the last repeated."""

    def __init__(self, pages: dict[str, list[tuple[range, int | None]]] | None = None, retention: int = 24) -> None:
        now = datetime.now(UTC)
        self.retention = retention
        self.shards = {
            f"shardId-00000000000{s}": [
                {
                    "SequenceNumber": f"{s}{n:05d}",
                    "ApproximateArrivalTimestamp": now + timedelta(seconds=n),
                    "Data": b"{}",
                    "PartitionKey": f"k{n}",
                }
                for n in range(5)
            ]
            for s in range(2)
        }
        self.pages = pages or {shard: [(range(5), 0)] for shard in self.shards}
        self.reads = dict.fromkeys(self.shards, 0)

    def describe_stream_summary(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescriptionSummary": {"RetentionPeriodHours": self.retention}}

    def list_shards(self, **_: Any) -> dict[str, Any]:
        return {"Shards": [{"ShardId": s} for s in self.shards]}

    def get_shard_iterator(self, ShardId: str, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return {"ShardIterator": ShardId}

    def get_records(self, ShardIterator: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        pages = self.pages[ShardIterator]
        wanted, behind = pages[min(self.reads[ShardIterator], len(pages) - 1)]
        self.reads[ShardIterator] += 1
        page: dict[str, Any] = {"Records": [self.shards[ShardIterator][n] for n in wanted]}
        page["NextShardIterator"] = ShardIterator
        if behind is not None:
            page["MillisBehindLatest"] = behind
        return page


def _catch_up(stream: _Stream, invoke: Any = None, **kwargs: Any) -> tool.CatchUpReport:
    return tool.catch_up(
        stream,
        invoke or (lambda event: {"batchItemFailures": []}),
        stream_arn="arn:aws:kinesis:ap-northeast-1:123456789012:stream/s",
        since=kwargs.pop("since", datetime.now(UTC) - timedelta(minutes=1)),
        invoke_identity_arn="arn:aws:iam::123456789012:role/r",
        **kwargs,
    )


def test_empty_pages_behind_the_tip_are_read_past_and_the_tip_ends_the_shard() -> None:
    """Kinesis reads a shard in time slices: an empty page that is still behind is not the end."""
    gap: list[tuple[range, int | None]] = [(range(2), 9000), *[(range(0), 8000)] * 30, (range(2, 5), 0)]
    stream = _Stream({"shardId-000000000000": gap, "shardId-000000000001": [(range(5), None), (range(0), None)]})
    report = _catch_up(stream, batch_size=10)
    assert report.ok and [s.records for s in report.shards] == [5, 5]
    assert stream.reads == {"shardId-000000000000": 32, "shardId-000000000001": 1 + tool.MAX_EMPTY_READS}


def test_a_shard_whose_pages_stay_empty_behind_the_tip_fails_after_what_was_read() -> None:
    stream = _Stream({"shardId-000000000000": [(range(3), 9000), (range(0), 5000)], "shardId-000000000001": []})
    stream.pages["shardId-000000000001"] = [(range(5), 0)]
    sent: list[int] = []
    report = _catch_up(stream, lambda event: sent.append(len(event["Records"])) or {}, batch_size=2)
    assert sent == [2, 1, 2, 2, 1], "the records read before the reads stopped are still replayed"
    assert report.shards[0].records == 3 and report.shards[1].failure is None and not report.ok
    assert report.shards[0].failure == (
        f"read stopped: {tool.MAX_EMPTY_BEHIND_READS} empty reads in a row still 5000 ms behind the tip, after 000002"
    )


def test_a_since_past_the_retention_replays_what_is_left_and_fails_naming_the_lost_time() -> None:
    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    report = _catch_up(_Stream(retention=48), since=now - timedelta(hours=50), now=now, batch_size=10)
    assert report.records == 10 and all(s.failure is None for s in report.shards) and not report.ok
    assert report.summary() == (
        "shards=2 records=10 failed_shards=0 LOST 2026-12-02T01:00:00Z to 2026-12-02T03:00:00Z is past the "
        "stream's retention (48 h): those records are gone, the database lacks them"
    )
    assert _catch_up(_Stream(retention=48), since=now - timedelta(hours=47), now=now).ok


def test_a_failed_batch_stops_its_shard_and_fails_the_run() -> None:
    seen: list[tuple[str, int]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        records = event["Records"]
        seen.append((records[0]["eventID"].split(":")[0], len(records)))
        first = records[0]["kinesis"]["sequenceNumber"]
        if first == "100002":  # the second batch of shard 1 reports one failed record
            return {"batchItemFailures": [{"itemIdentifier": first}]}
        return {"batchItemFailures": []}

    report = tool.catch_up(
        _Stream(),
        invoke,
        stream_arn="arn:aws:kinesis:ap-northeast-1:123456789012:stream/s",
        since=datetime.now(UTC) - timedelta(minutes=1),
        batch_size=2,
        invoke_identity_arn="arn:aws:iam::123456789012:role/r",
    )
    assert [(s.records, s.batches, s.failure is None) for s in report.shards] == [(5, 3, True), (4, 2, False)]
    assert "batch 100002..100003: function reported 1 failed records: 100002" in report.shards[1].failure
    assert not report.ok and report.summary() == "shards=2 records=9 failed_shards=1"
    assert [n for _, n in seen] == [2, 2, 1, 2, 2], "shard 1 stops at its failed batch"


def test_a_resharded_stream_is_read_whole_each_closed_parent_before_its_children() -> None:
    """A split and a merge, listed children first: parents are read first. (moto's SplitShard keeps writing
    into the closed parent, so this ordering is shown on a stand-in stream, not the rig.)"""
    stream = _Stream()
    listing = [
        {"ShardId": "shardId-000000000004", "ParentShardId": "shardId-000000000002"},
        {"ShardId": "shardId-000000000002", "ParentShardId": "shardId-000000000000"},
        {
            "ShardId": "shardId-000000000003",
            "ParentShardId": "shardId-000000000001",
            "AdjacentParentShardId": "shardId-000000000000",
        },
        {"ShardId": "shardId-000000000001"},
        {"ShardId": "shardId-000000000000", "ParentShardId": "shardId-trimmed-long-ago"},
    ]
    for shard in listing[:3]:
        stream.shards[shard["ShardId"]] = stream.shards["shardId-000000000000"]
        stream.pages[shard["ShardId"]] = [(range(5), 0)]
        stream.reads[shard["ShardId"]] = 0
    stream.list_shards = lambda **_: {"Shards": listing}  # type: ignore[method-assign]
    report = _catch_up(stream)
    order = [s.shard_id[-1] for s in report.shards]
    assert order.index("0") < order.index("2") < order.index("4") and order.index("1") < order.index("3")
    assert order.index("0") < order.index("3") and report.ok and report.records == 25


def test_the_command_exits_1_on_a_failing_batch_and_0_once_it_succeeds(monkeypatch, capsys) -> None:
    """The command line end to end against moto, the handler as the function: a processor pointed at a
    database that does not exist fails its batch; pointed back, the same replay succeeds (writes are idempotent)."""
    logging.getLogger("processor").setLevel(logging.CRITICAL)
    monkeypatch.setattr(tool, "lambda_invoker", lambda client, name: lambda event: handler.handle(event, None))
    with running_pipeline(shards=1) as pipeline:
        since = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        produce_and_drain(pipeline, 30, seed=5, batch_size=50)
        argv = [
            *("--stream-arn", os.environ[c.ENV_STREAM_ARN], "--function-name", "japancart-dev-processor"),
            *(
                "--since",
                since,
                "--batch-size",
                "10",
                "--region",
                "ap-northeast-1",
                "--endpoint-url",
                pipeline.endpoint,
            ),
        ]
        point_processor_at(pipeline, "gone")
        assert tool.main(argv) == 1
        out = capsys.readouterr().out
        # The processor reports every record of a batch it could not store as failed (no function error).
        assert "FAILED batch " in out and "function reported 10 failed records" in out, out
        assert out.strip().endswith("failed_shards=1"), out

        point_processor_at(pipeline, pipeline.pg.dbname)
        assert tool.main(argv) == 0
        assert capsys.readouterr().out.strip().endswith("failed_shards=0")

"""The Kinesis data stream that transactions enter."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream, KinesisStreamStreamModeDetails
from constructs import Construct

from .encryption import EncryptionKey
from .grants import PolicyGrantee
from .monitoring import AlarmSpec, DashboardGraph, SpecCommon
from .validation import NameRule, require_choice, require_int, require_range

SHARD_RECORDS_PER_SECOND = 1000
SHARD_BYTES_PER_SECOND = 1024 * 1024
#: What a consumer polling the stream (a Lambda event source mapping) needs.
CONSUMER_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
SHARD_LEVEL_METRICS = (
    "IncomingBytes",
    "IncomingRecords",
    "IteratorAgeMilliseconds",
    "OutgoingBytes",
    "OutgoingRecords",
    "ReadProvisionedThroughputExceeded",
    "WriteProvisionedThroughputExceeded",
)


@dataclass(frozen=True, kw_only=True)
class StreamSettings:
    """Capacity and retention of the stream.

    capacity_mode: ON_DEMAND (AWS scales shards; pay per GB) or PROVISIONED (shard count
      derived below; cheaper at steady load). Default: PROVISIONED.
    peak_records_per_second: the write peak to size for. Default: 170, ten times the launch
      load of about 1,000 transactions a minute.
    average_record_bytes: mean size of one transaction record. Default: 1,024.
    headroom: fraction added on top of the peak before rounding up to whole shards. Default: 0.5.
    retention_hours: how long records stay readable, 24-8760. Default: 24, enough for a
      consumer outage over a night.
    """

    capacity_mode: str = "PROVISIONED"
    peak_records_per_second: int = 170
    average_record_bytes: int = 1024
    headroom: float = 0.5
    retention_hours: int = 24

    def __post_init__(self) -> None:
        require_choice("capacity_mode", self.capacity_mode, frozenset({"ON_DEMAND", "PROVISIONED"}))
        require_int("peak_records_per_second", self.peak_records_per_second, 1, 10_000_000)
        require_int("average_record_bytes", self.average_record_bytes, 1, SHARD_BYTES_PER_SECOND)
        require_range("headroom", self.headroom, 0, 10)
        require_int("retention_hours", self.retention_hours, 24, 8760)

    @property
    def shard_count(self) -> int:
        """Shards needed for the peak plus headroom: one shard takes 1,000 records/s and 1 MiB/s."""
        by_records = self.peak_records_per_second / SHARD_RECORDS_PER_SECOND
        by_bytes = self.peak_records_per_second * self.average_record_bytes / SHARD_BYTES_PER_SECOND
        return max(1, math.ceil(max(by_records, by_bytes) * (1 + self.headroom)))


@dataclass(frozen=True, kw_only=True)
class TransactionStreamProps(StreamSettings):
    """Inputs of `TransactionStream`: capacity and retention (the `StreamSettings` fields, each defaulted) and:

    name: the stream's name. Required.
    key: the data key that encrypts the records. Required.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[A-Za-z0-9_.-]{1,128}", "a Kinesis stream name (letters, digits, '_', '.', '-')"
    )

    name: str
    key: EncryptionKey

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)


class TransactionStream(Construct):
    """An encrypted Kinesis stream with shard-level metrics."""

    def __init__(self, scope: Construct, construct_id: str, props: TransactionStreamProps) -> None:
        super().__init__(scope, construct_id)
        provisioned = props.capacity_mode == "PROVISIONED"
        self._stream = KinesisStream(
            self,
            "stream",
            name=props.name,
            shard_count=props.shard_count if provisioned else None,
            stream_mode_details=KinesisStreamStreamModeDetails(stream_mode=props.capacity_mode),
            retention_period=props.retention_hours,
            encryption_type="KMS",
            kms_key_id=props.key.key_arn,
            shard_level_metrics=list(SHARD_LEVEL_METRICS),
        )
        self.stream_name: str = self._stream.name
        self.stream_arn: str = self._stream.arn
        self.retention_hours: int = props.retention_hours

    def grant_read(self, grantee: PolicyGrantee, sid: str = "ReadTheTransactionStream") -> None:
        """Let `grantee` consume the stream (what a Lambda event source needs); decrypting its records is the
        key's grant (`grant_decrypt(via="kinesis")`)."""
        grantee.allow(sid, list(CONSUMER_ACTIONS), [self.stream_arn])

    def alarm_specs(self, *, iterator_age_ms: float, throttled_requests: float) -> list[AlarmSpec]:
        """Consumer lag, and reads or writes beyond the shards' capacity."""
        dims = {"StreamName": self.stream_name}
        common = SpecCommon(namespace="AWS/Kinesis", dimensions=dims, comparison="GreaterThanThreshold")
        return [
            AlarmSpec(
                suffix="stream-iterator-age",
                metric="GetRecords.IteratorAgeMilliseconds",
                statistic="Maximum",
                threshold=iterator_age_ms,
                treat_missing_data="notBreaching",
                description="The consumer is falling behind the stream",
                **common,
            ),
            AlarmSpec(
                suffix="stream-read-throttled",
                metric="ReadProvisionedThroughputExceeded",
                statistic="Sum",
                threshold=throttled_requests,
                treat_missing_data="notBreaching",
                description="Reads exceed the stream's shard capacity",
                **common,
            ),
            AlarmSpec(
                suffix="stream-write-throttled",
                metric="WriteProvisionedThroughputExceeded",
                statistic="Sum",
                threshold=throttled_requests,
                treat_missing_data="notBreaching",
                description="Producers are throttled: add shards or switch to on-demand",
                **common,
            ),
        ]

    def dashboard_graphs(self) -> list[DashboardGraph]:
        """Records in and out, and the consumer's lag."""
        stream = self.stream_name
        return [
            DashboardGraph(
                "Stream records in / out",
                [
                    ["AWS/Kinesis", "IncomingRecords", "StreamName", stream],
                    ["AWS/Kinesis", "GetRecords.Records", "StreamName", stream],
                ],
                "Sum",
            ),
            DashboardGraph(
                "Stream iterator age (ms)",
                [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", stream]],
                "Maximum",
            ),
        ]

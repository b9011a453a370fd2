"""Stream: capacity derived from the peak, retention, encryption, shard-level metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from environments import synth_environment

from constructs_lib.stream import StreamSettings
from processor.contract import ConfigError


@pytest.mark.parametrize(
    "peak, record_bytes, headroom, shards",
    [
        (170, 1024, 0.5, 1),  # launch load x10 fits one shard
        (1000, 1024, 0.0, 1),  # exactly one shard's record limit
        (1001, 1024, 0.0, 2),  # one record over
        (5000, 1024, 0.5, 8),  # record-bound: 5 shards x 1.5
        (1000, 4096, 0.5, 6),  # byte-bound: 3.9 MiB/s x 1.5
    ],
)
def test_shard_count_covers_peak_plus_headroom(peak: int, record_bytes: int, headroom: float, shards: int) -> None:
    settings = StreamSettings(peak_records_per_second=peak, average_record_bytes=record_bytes, headroom=headroom)
    assert settings.shard_count == shards


def test_fails_when_retention_exceeds_a_year() -> None:
    with pytest.raises(ConfigError, match="retention_hours must be a whole number from 24 to 8760, got 9000"):
        StreamSettings(retention_hours=9000)


def test_provisioned_stream(dev, prod) -> None:
    key_ref = dev.key_ref("data")
    _, stream = dev.one("aws_kinesis_stream", name="japancart-dev-transactions")
    assert stream["shard_count"] == 1
    assert stream["stream_mode_details"] == {"stream_mode": "PROVISIONED"}
    assert stream["retention_period"] == 24
    assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", key_ref)
    assert {
        "IncomingRecords",
        "IteratorAgeMilliseconds",
        "WriteProvisionedThroughputExceeded",
        "ReadProvisionedThroughputExceeded",
    } <= set(stream["shard_level_metrics"])
    assert prod.one("aws_kinesis_stream")[1]["retention_period"] == 48


def test_on_demand_stream_has_no_shard_count(tmp_path: Path) -> None:
    stack = synth_environment(tmp_path, stream={"capacity_mode": "ON_DEMAND"})
    _, stream = stack.one("aws_kinesis_stream")
    assert stream["stream_mode_details"] == {"stream_mode": "ON_DEMAND"}
    assert "shard_count" not in stream


def test_defaults_are_encrypted_provisioned_for_the_launch_peak_and_keep_a_day() -> None:
    from bare_stack import with_defaults

    from constructs_lib.stream import SHARD_LEVEL_METRICS, TransactionStream, TransactionStreamProps

    stack = with_defaults(
        lambda bare: TransactionStream(
            bare.stack, "stream", TransactionStreamProps(name="bare-transactions", key=bare.keys.data)
        )
    )
    _, stream = stack.one("aws_kinesis_stream", name="bare-transactions")
    assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", stack.key_ref("data"))
    assert (stream["stream_mode_details"], stream["shard_count"]) == ({"stream_mode": "PROVISIONED"}, 1)
    assert stream["retention_period"] == 24 and stream["shard_level_metrics"] == list(SHARD_LEVEL_METRICS)


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"name": "no spaces"}, "name must be a Kinesis stream name", id="name-malformed"),
        pytest.param({"capacity_mode": "AUTO"}, "capacity_mode must be one of", id="unknown-capacity-mode"),
        pytest.param({"peak_records_per_second": 0}, "peak_records_per_second must be a whole number", id="no-peak"),
        pytest.param(
            {"average_record_bytes": 1.5}, "average_record_bytes must be a whole number", id="fractional-bytes"
        ),
        pytest.param({"headroom": -0.1}, "headroom must be a number from 0 to 10", id="negative-headroom"),
        pytest.param(
            {"retention_hours": 23}, "retention_hours must be a whole number from 24", id="retention-under-a-day"
        ),
    ],
)
def test_fails_when_a_prop_is_refused(overrides: dict, message: str) -> None:
    from bare_stack import bare_stack

    from constructs_lib.stream import TransactionStreamProps

    with pytest.raises(ConfigError) as raised:
        TransactionStreamProps(**{"name": "bare-transactions", "key": bare_stack(network=False).keys.data, **overrides})
    assert message in str(raised.value)

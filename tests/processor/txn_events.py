"""Builders for transaction documents and Kinesis-shaped Lambda events (test helpers)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9))
#: The stream the events come from, and the one the rig's processor is configured to accept (STREAM_ARN).
STREAM_ARN = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/transactions"
SEQ_BASE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898


def txn_doc(n: int = 0, *, at: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid transaction; ``n`` makes ids unique, ``overrides`` replace fields."""
    occurred = at or datetime.now(UTC) - timedelta(seconds=n % 600)
    doc: dict[str, Any] = {
        "transaction_id": f"txn-{n:06d}",
        "customer_id": f"cust-{n % 97:03d}",
        "merchant_id": f"merchant-{n % 13:02d}",
        "amount": str(100 + n % 900),
        "currency": "JPY",
        "occurred_at": occurred.astimezone(JST).isoformat(),
        "payment_method": "konbini",
        "metadata": {"channel": "app"},
    }
    doc.update(overrides)
    return doc


def sequence_number(i: int) -> str:
    return str(SEQ_BASE + i)


def kinesis_event(
    payloads: Iterable[dict[str, Any] | bytes],
    first_seq: int = 0,
    *,
    stream_arn: str = STREAM_ARN,
    partition_keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Wrap payloads (dicts are JSON-encoded) as Lambda Kinesis event records of ``stream_arn``; partition
    keys are the customer ids (or "raw") unless given."""
    records: list[dict[str, Any]] = []
    keys = iter(partition_keys) if partition_keys is not None else None
    for i, payload in enumerate(payloads, start=first_seq):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        key = (
            next(keys)
            if keys is not None
            else (payload.get("customer_id", "x") if isinstance(payload, dict) else "raw")
        )
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": str(key),
                    "sequenceNumber": sequence_number(i),
                    "data": base64.b64encode(data).decode("ascii"),
                    "approximateArrivalTimestamp": 1764000000.0 + i,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence_number(i)}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "ap-northeast-1",
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}


def failed_ids(result: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in result["batchItemFailures"]]

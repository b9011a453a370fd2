"""Builders for transaction documents and Kinesis-shaped Lambda events (test helpers)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Union

JST = timezone(timedelta(hours=9))
#: The stream the events come from, and the one the rig's processor is configured to accept (STREAM_ARN).
STREAM_ARN = "arn:aws:kinesis:ap-northeast-1:123456789012:stream/transactions"
SEQ_BASE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898


def txn_doc(n: int = 0, *, at: Optional[datetime] = None, **overrides: Any) -> Dict[str, Any]:
    """A valid transaction; ``n`` makes ids unique, ``overrides`` replace fields."""
    occurred = at or datetime.now(timezone.utc) - timedelta(seconds=n % 600)
    doc: Dict[str, Any] = {
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


def kinesis_event(payloads: Iterable[Union[Dict[str, Any], bytes]], first_seq: int = 0, *,
                  stream_arn: str = STREAM_ARN, partition_keys: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Wrap payloads (dicts are JSON-encoded) as Lambda Kinesis event records of ``stream_arn``; partition
    keys are the customer ids (or "raw") unless given."""
    records: List[Dict[str, Any]] = []
    keys = iter(partition_keys) if partition_keys is not None else None
    for i, payload in enumerate(payloads, start=first_seq):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        key = next(keys) if keys is not None else (
            payload.get("customer_id", "x") if isinstance(payload, dict) else "raw")
        records.append({
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
        })
    return {"Records": records}


def failed_ids(result: Dict[str, Any]) -> List[str]:
    return [item["itemIdentifier"] for item in result["batchItemFailures"]]

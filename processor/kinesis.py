"""Turn a Lambda Kinesis event into validated transactions and rejects.

Parsing never raises for a bad record: anything undecodable becomes a
:class:`Rejected` that the caller stores with its raw bytes and sequence number.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from processor.schema import Transaction, ValidationError, parse_transaction


@dataclass(frozen=True)
class Accepted:
    sequence_number: str
    transaction: Transaction


@dataclass(frozen=True)
class Rejected:
    sequence_number: str
    partition_key: Optional[str]
    raw_payload: bytes
    reason: str


@dataclass
class ParsedBatch:
    accepted: List[Accepted] = field(default_factory=list)
    rejected: List[Rejected] = field(default_factory=list)

    @property
    def unique_accepted(self) -> List[Accepted]:
        """First occurrence of each transaction id (a producer may send duplicates)."""
        seen: Dict[str, Accepted] = {}
        for item in self.accepted:
            seen.setdefault(item.transaction.transaction_id, item)
        return list(seen.values())

    @property
    def unique_transactions(self) -> List[Transaction]:
        return [item.transaction for item in self.unique_accepted]


def _decode_record(record: Mapping[str, Any]) -> Rejected | Accepted:
    kinesis = record.get("kinesis") or {}
    sequence_number = str(kinesis.get("sequenceNumber", ""))
    partition_key = kinesis.get("partitionKey")
    data = kinesis.get("data", "")
    try:
        payload = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else b""
        return Rejected(sequence_number, partition_key, raw, "kinesis data is not valid base64")
    try:
        return Accepted(sequence_number, parse_transaction(payload))
    except ValidationError as exc:
        return Rejected(sequence_number, partition_key, payload, str(exc))


def parse_event(event: Mapping[str, Any]) -> ParsedBatch:
    """Split an event's records into accepted transactions and rejects, in order."""
    batch = ParsedBatch()
    for record in event.get("Records") or []:
        item = _decode_record(record)
        if isinstance(item, Accepted):
            batch.accepted.append(item)
        else:
            batch.rejected.append(item)
    return batch

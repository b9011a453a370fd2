"""Turn a Lambda Kinesis event into validated transactions and rejects.

Parsing never raises for a bad record: anything undecodable or invalid becomes a
:class:`Rejected` that the caller stores with its raw bytes and where it came from.
Within a batch, a repeated transaction id is either a harmless duplicate (same content)
or a :class:`Conflict` (different content): the first occurrence is the one stored.
"""

from __future__ import annotations

import binascii
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from processor.pan import redact, redact_bytes
from processor.schema import Transaction, ValidationError, parse_transaction

logger = logging.getLogger("processor")


@dataclass(frozen=True)
class RecordRef:
    """Where a record came from; unique across streams and shards (a sequence number alone is not)."""

    stream_arn: str
    shard_id: str
    sequence_number: str


@dataclass(frozen=True)
class Accepted:
    ref: RecordRef
    transaction: Transaction

    @property
    def sequence_number(self) -> str:
        return self.ref.sequence_number


@dataclass(frozen=True)
class Rejected:
    ref: RecordRef
    partition_key: Optional[str]
    raw_payload: bytes
    reason: str

    @property
    def sequence_number(self) -> str:
        return self.ref.sequence_number


@dataclass(frozen=True)
class Conflict:
    """A record whose transaction id is already stored (or earlier in the batch) with other content."""

    ref: RecordRef
    transaction: Transaction


@dataclass
class ParsedBatch:
    accepted: List[Accepted] = field(default_factory=list)
    rejected: List[Rejected] = field(default_factory=list)

    @property
    def sequence_numbers(self) -> List[str]:
        return [item.sequence_number for item in (*self.accepted, *self.rejected)]

    def first_versions(self) -> tuple[List[Accepted], List[Conflict]]:
        """First occurrence of each id, and the later occurrences whose content differs from it."""
        first: Dict[str, Accepted] = {}
        conflicts: List[Conflict] = []
        for item in self.accepted:
            txn = item.transaction
            seen = first.get(txn.transaction_id)
            if seen is None:
                first[txn.transaction_id] = item
            elif seen.transaction.content_sha256 != txn.content_sha256:
                conflicts.append(Conflict(item.ref, txn))
        return list(first.values()), conflicts


def _ref(record: Mapping[str, Any], kinesis: Mapping[str, Any]) -> RecordRef:
    sequence_number = str(kinesis.get("sequenceNumber", ""))
    event_id = str(record.get("eventID") or "")
    shard_id = event_id.rsplit(":", 1)[0] if ":" in event_id else ""
    return RecordRef(str(record.get("eventSourceARN") or ""), shard_id, sequence_number)


def _rejected(ref: RecordRef, partition_key: Optional[str], raw: bytes, reason: str) -> Rejected:
    """What is kept of a reject never holds a card number, whatever the record was."""
    return Rejected(ref, partition_key, redact_bytes(raw), redact(reason))


def _decode_record(record: Mapping[str, Any]) -> Rejected | Accepted:
    kinesis = record.get("kinesis") or {}
    ref = _ref(record, kinesis)
    partition_key = kinesis.get("partitionKey")
    data = kinesis.get("data", "")
    try:
        # Strict: only the base64 alphabet with correct padding (b64decode(validate=True) checks the
        # same with a regular expression first, which costs as much as the decoding).
        payload = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError, TypeError):
        raw = data.encode("utf-8", "replace") if isinstance(data, str) else b""
        return _rejected(ref, partition_key, raw, "kinesis data is not valid base64")
    try:
        return Accepted(ref, parse_transaction(payload))
    except ValidationError as exc:
        return _rejected(ref, partition_key, payload, str(exc))
    except Exception as exc:  # a validator bug must not fail the batch: the record is kept, not lost
        logger.exception("unexpected error validating record %s", ref.sequence_number)
        return _rejected(ref, partition_key, payload, f"record could not be validated ({type(exc).__name__})")


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

"""Turn a Lambda Kinesis event into validated transactions and rejects.

Parsing never raises for a bad record: anything undecodable or invalid becomes a
:class:`Rejected` that the caller stores with its raw bytes (card numbers masked) and where it
came from. An event is refused whole, before anything is parsed, when any of its records does not
come from the configured stream (``refuse_foreign_records``). Within a batch, a repeated
transaction id is inserted once (its first occurrence); whether an occurrence is a harmless
duplicate or a :class:`Conflict` is decided by ``pg_store.store_transactions`` against the version
PostgreSQL holds after the batch, never against another record of the batch.
"""

from __future__ import annotations

import binascii
import logging
import re
import traceback
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from processor import pan
from processor.schema import Transaction, ValidationError, parse_transaction, short_text

logger = logging.getLogger("processor")

#: The ``eventSource`` of every record Lambda's Kinesis event source mapping sends.
EVENT_SOURCE = "aws:kinesis"

# arn:<partition>:kinesis:<region>:<account>:stream/<name> (stream names: 1-128 of [a-zA-Z0-9_.-]).
_STREAM_ARN = re.compile(r"arn:aws[a-z-]*:kinesis:([a-z]{2}(?:-[a-z]+)+-\d+):\d{12}:stream/([A-Za-z0-9_.-]{1,128})")


def stream_parts(stream_arn: str) -> tuple[str, str]:
    """(region, stream name) of ``arn:aws:kinesis:<region>:<account>:stream/<name>``."""
    match = _STREAM_ARN.fullmatch(stream_arn) if isinstance(stream_arn, str) else None
    if match is None:
        raise ValueError(f"not a Kinesis stream ARN: {stream_arn!r}")
    return match.group(1), match.group(2)


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
    partition_key: str | None
    raw_payload: bytes
    reason: str

    @property
    def sequence_number(self) -> str:
        return self.ref.sequence_number


@dataclass(frozen=True)
class Conflict:
    """A record whose transaction id PostgreSQL holds with other content (stored before, or inserted by
    an earlier record of the same batch)."""

    ref: RecordRef
    transaction: Transaction


@dataclass
class ParsedBatch:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def sequence_numbers(self) -> list[str]:
        items: list[Accepted | Rejected] = [*self.accepted, *self.rejected]
        return [item.sequence_number for item in items]


class ForeignEventError(RuntimeError):
    """An invocation carried records that did not come from the configured stream: refused whole."""


def refuse_foreign_records(event: Any, stream_arn: str) -> None:
    """Raise :class:`ForeignEventError` unless every record is a Kinesis record of ``stream_arn``.

    Only the event source mapping of this function's own stream may hand it transactions; anyone else
    with ``lambda:InvokeFunction`` could otherwise inject them. The message counts the refused records
    per source (ARNs masked and shortened: they are the caller's text), never a payload.
    """
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        raise ForeignEventError("refused an invocation that is not a Kinesis event (no Records list)")
    try:  # the usual case, in one pass: every record a dict of the configured stream
        if {(r["eventSource"], r["eventSourceARN"]) for r in records} <= {(EVENT_SOURCE, stream_arn)}:
            return
    except (TypeError, KeyError):  # something is not a record: counted below
        pass
    foreign: Counter[tuple[str, str]] = Counter()
    for record in records:
        source = record.get("eventSource") if isinstance(record, Mapping) else None
        arn = record.get("eventSourceARN") if isinstance(record, Mapping) else None
        if source != EVENT_SOURCE or arn != stream_arn:
            foreign[(short_text(arn), short_text(source))] += 1  # quoted as text: any JSON value may come
    if foreign:
        parts = ", ".join(
            f"{count} from eventSourceARN {arn} (eventSource {source})"
            for (arn, source), count in foreign.most_common()
        )
        raise ForeignEventError(
            f"refused {sum(foreign.values())} of {len(records)} records, not from the "
            f"configured stream {stream_arn}: {parts}; nothing of this event was stored"
        )


def _ref(record: Mapping[str, Any], kinesis: Mapping[str, Any]) -> RecordRef:
    sequence_number = str(kinesis.get("sequenceNumber", ""))
    event_id = str(record.get("eventID") or "")
    shard_id = event_id.rsplit(":", 1)[0] if ":" in event_id else ""
    return RecordRef(str(record.get("eventSourceARN") or ""), shard_id, sequence_number)


def _rejected(ref: RecordRef, partition_key: str | None, raw: bytes, reason: str) -> Rejected:
    """What is kept of a reject never holds a card number, whatever the record was: its payload is
    masked on the decoded form (JSON escapes resolved), its partition key and reason as text."""
    key = pan.redact(partition_key) if isinstance(partition_key, str) else None
    return Rejected(ref, key, pan.mask_payload(raw), pan.redact(reason))


_PAN_KEY = "partition key contains a payment card number (PAN); the record is kept with it masked"


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
        transaction = parse_transaction(payload)
    except ValidationError as exc:
        return _rejected(ref, partition_key, payload, str(exc))
    except Exception as exc:  # a validator bug must not fail the batch: the record is kept, not lost
        # The traceback's last line quotes the exception, which may quote the record: masked too.
        logger.error(
            "unexpected error validating record %s: %s",
            ref.sequence_number,
            pan.redact("".join(traceback.format_exception(exc))),
        )
        return _rejected(ref, partition_key, payload, f"record could not be validated ({type(exc).__name__})")
    # Kinesis keeps the partition key with the record; a card there is refused like one in the record.
    if isinstance(partition_key, str) and _key_holds_pan(partition_key, transaction):
        return _rejected(ref, partition_key, payload, _PAN_KEY)
    return Accepted(ref, transaction)


def _key_holds_pan(partition_key: str, transaction: Transaction) -> bool:
    """The partition key is judged as an id field is (a card unless it is an identifier). Producers key
    by an id of the record (the customer id, usually): that value was judged so by ``card_field`` and the
    record accepted, so the answer is already known to be no and the scan is skipped."""
    if partition_key in (transaction.customer_id, transaction.transaction_id, transaction.merchant_id):
        return False
    return pan.contains_pan(partition_key) and not pan.is_identifier(partition_key)


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

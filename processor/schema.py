"""Transaction schema and validation.

Every Kinesis record is validated here. Invalid records are not errors for the
batch: the caller stores them in ``rejected_transactions`` with the reason this
module produces, which always names the field and the offending value.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from processor import pan

# ISO 4217 minor units for the currencies JapanCart accepts.
CURRENCY_MINOR_UNITS: Mapping[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CNY": 2,
    "HKD": 2,
    "TWD": 2,
    "SGD": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "THB": 2,
    "NZD": 2,
    "PHP": 2,
    "MYR": 2,
    "BHD": 3,
    "KWD": 3,
}
PAYMENT_METHODS = frozenset({"card", "bank_transfer", "konbini", "wallet", "cod"})
REQUIRED_FIELDS = (
    "transaction_id",
    "customer_id",
    "merchant_id",
    "amount",
    "currency",
    "occurred_at",
    "payment_method",
)
OPTIONAL_FIELDS = ("metadata",)
_REQUIRED = frozenset(REQUIRED_FIELDS)
_KNOWN = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
MAX_ID_LENGTH = 128
# NUMERIC(18, 3) in PostgreSQL: keep validation in step so inserts cannot overflow.
MAX_AMOUNT = Decimal("1e15")
# Event times outside these years are producer bugs; inside them every UTC conversion is safe.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_OCCURRED_AT = datetime(2100, 1, 1, tzinfo=UTC)
# Free-form metadata is bounded so one record cannot bloat Redis or the database.
MAX_METADATA_BYTES = 8192
MAX_METADATA_DEPTH = 8
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Lone UTF-16 surrogates decode from JSON escapes but cannot be encoded as UTF-8 by any store.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# Either of the two: one search per identifier; only a failing one looks again to say which.
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


# One encoder for every canonical document (json.dumps with options builds a new one per call).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)
_string: Callable[[str], str] = json.encoder.encode_basestring  # a str as a JSON string literal (C)


def _canonical_encoder() -> Callable[[Any], str]:
    """``_CANONICAL.encode`` for metadata objects, without its per-call setup.

    ``JSONEncoder.encode`` builds a C encoder on every call, which costs twice what encoding a
    small object does. This builds it once with the same options (no circular check: decoded
    JSON cannot be circular). Without the C encoder, ``_CANONICAL.encode`` does the work.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _CANONICAL.encode
    encoder = make(
        None,
        _CANONICAL.default,
        json.encoder.encode_basestring,
        None,
        _CANONICAL.key_separator,
        _CANONICAL.item_separator,
        True,
        False,
        True,
    )
    return lambda value: "".join(encoder(value, 0))


_canonical_object = _canonical_encoder()


class ValidationError(ValueError):
    """A record does not match the transaction schema."""


@dataclass(frozen=True)
class Transaction:
    transaction_id: str
    customer_id: str
    merchant_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime  # always timezone-aware, normalised to UTC
    payment_method: str
    metadata: dict[str, Any] | None = field(default=None)
    # The canonical JSON of `metadata` when validation already made it (it is made once, not twice).
    metadata_json: str | None = field(default=None, compare=False, repr=False)

    @cached_property
    def epoch_seconds(self) -> float:
        """Used for the windows, the Redis score and the expiry: computed once."""
        return self.occurred_at.timestamp()

    @cached_property
    def content_sha256(self) -> str:
        """Identity of the content: two records with one id and different digests conflict."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        """Canonical JSON (amount as a string so no precision is lost); computed once."""
        return self._canonical_json

    @cached_property
    def _canonical_json(self) -> str:
        # The same text as _CANONICAL.encode of the document (keys sorted, no spaces), written out
        # field by field: this runs for every transaction and is the hot path's largest single cost.
        if self.metadata is None:
            metadata = ""
        else:
            metadata = f',"metadata":{self.metadata_json or _canonical_object(self.metadata)}'
        return (
            f'{{"amount":{_string(str(self.amount))},"currency":{_string(self.currency)},'
            f'"customer_id":{_string(self.customer_id)},"merchant_id":{_string(self.merchant_id)}{metadata},'
            f'"occurred_at":{_string(self.occurred_at.isoformat())},'
            f'"payment_method":{_string(self.payment_method)},"transaction_id":{_string(self.transaction_id)}}}'
        )

    def _document(self) -> dict[str, Any]:
        """The canonical document as a dict (what ``to_json`` spells out)."""
        doc: dict[str, Any] = {
            "transaction_id": self.transaction_id,
            "customer_id": self.customer_id,
            "merchant_id": self.merchant_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "occurred_at": self.occurred_at.isoformat(),
            "payment_method": self.payment_method,
        }
        if self.metadata is not None:
            doc["metadata"] = self.metadata
        return doc


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_text(value: Any) -> str:
    """A value quoted for a message: card numbers masked first, then shortened."""
    return _short(pan.redact_value(value))


def _fail(name: str, value: Any, why: str) -> ValidationError:
    # Masked before quoting: repr() escapes a no-break space (a card's separator) and _short() may cut
    # a number short, and either would hide a card from masking the reason afterwards.
    return ValidationError(f"field '{name}' {why}, got {short_text(value)}")


def _identifier(doc: Mapping[str, Any], name: str) -> str:
    value = doc[name]
    if not isinstance(value, str) or not value.strip():
        raise _fail(name, value, "must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise _fail(name, value, f"must be at most {MAX_ID_LENGTH} characters")
    if _UNSTORABLE.search(value):
        if _CONTROL_CHARS.search(value):
            raise _fail(name, value, "must not contain control characters")
        raise _fail(name, value, "must be valid Unicode (a lone surrogate escape is not)")
    return value


def _currency(doc: Mapping[str, Any]) -> str:
    value = doc["currency"]
    if not isinstance(value, str) or value not in CURRENCY_MINOR_UNITS:
        raise _fail("currency", value, "must be a supported ISO 4217 code")
    return value


def _amount(doc: Mapping[str, Any], currency: str) -> Decimal:
    raw = doc["amount"]
    if isinstance(raw, bool) or not isinstance(raw, (int, str, Decimal)):
        raise _fail("amount", raw, "must be a decimal number or numeric string")
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except InvalidOperation:
        raise _fail("amount", raw, "must be a decimal number") from None
    if not value.is_finite() or value <= 0:
        raise _fail("amount", raw, "must be a finite number greater than 0")
    if value >= MAX_AMOUNT:
        raise _fail("amount", raw, f"must be less than {MAX_AMOUNT:f}")
    allowed = CURRENCY_MINOR_UNITS[currency]
    written = value.as_tuple().exponent  # an int: the value is finite
    if isinstance(written, int) and written < -allowed:  # too many places as written; trailing zeros may not count
        exponent = value.normalize().as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if decimals > allowed:
            raise _fail("amount", raw, f"has {decimals} decimal places but {currency} allows {allowed}")
    # Canonical form (1E+3 -> 1000, USD 12.3 -> 12.30) so every store sees the same text.
    return value.quantize(_QUANTUM[allowed])


# Decimal(1).scaleb(-places) per number of minor-unit places, made once.
_QUANTUM = {places: Decimal(1).scaleb(-places) for places in set(CURRENCY_MINOR_UNITS.values())}


def _occurred_at(doc: Mapping[str, Any]) -> datetime:
    raw = doc["occurred_at"]
    if not isinstance(raw, str):
        raise _fail("occurred_at", raw, "must be an ISO 8601 string")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _fail("occurred_at", raw, "must be an ISO 8601 timestamp") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail("occurred_at", raw, "must include a time zone offset (e.g. +09:00 or Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+09:00 has no UTC equivalent
        utc = None
    if utc is None or not EARLIEST_OCCURRED_AT <= utc < LATEST_OCCURRED_AT:
        raise _fail("occurred_at", raw, f"must be from {EARLIEST_OCCURRED_AT.year} to {LATEST_OCCURRED_AT.year - 1}")
    return utc


_NEEDS_A_LOOK = (dict, list, Decimal)


def _plain_json(value: Any, depth: int = 0) -> Any:
    """Metadata as plain JSON values: numbers that survive a round trip through a double.

    The parser reads fractions as Decimal (amounts must be exact). Metadata is free-form, so
    its fractions become floats, and only when no digit is lost: what every consumer reads back
    is then exactly what the producer sent.
    """
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"nests deeper than {MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        if not any(isinstance(item, _NEEDS_A_LOOK) for item in value.values()):
            return value  # flat, no fractions: already plain (most metadata)
        return {key: _plain_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_json(item, depth + 1) for item in value]
    if isinstance(value, Decimal):
        number = float(value)
        if not math.isfinite(number) or Decimal(repr(number)) != value:
            raise ValueError(f"has the number {value} that a double cannot hold exactly")
        return number
    return value


def _payment_method(doc: Mapping[str, Any]) -> str:
    value = doc["payment_method"]
    if not isinstance(value, str) or value not in PAYMENT_METHODS:
        raise _fail("payment_method", value, f"must be one of {', '.join(sorted(PAYMENT_METHODS))}")
    return value


def _metadata(doc: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The metadata as plain JSON values, and its canonical JSON text."""
    value = doc.get("metadata")
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _fail("metadata", value, "must be a JSON object")
    try:
        plain = _plain_json(value)
    except ValueError as exc:
        raise _fail("metadata", value, str(exc)) from None
    text = _canonical_object(plain)
    if "\\u0000" in text:
        raise _fail("metadata", value, "must not contain NUL characters (PostgreSQL cannot store them)")
    if _SURROGATES.search(text):
        raise _fail("metadata", value, "must be valid Unicode (a lone surrogate escape is not)")
    if len(text.encode("utf-8")) > MAX_METADATA_BYTES:
        raise _fail("metadata", value, f"must be at most {MAX_METADATA_BYTES} bytes of JSON")
    return plain, text


def validate(doc: Any) -> Transaction:
    """Validate a decoded JSON document and return a :class:`Transaction`."""
    if not isinstance(doc, dict):
        raise ValidationError(f"record must be a JSON object, got {type(doc).__name__}")
    if not _REQUIRED <= doc.keys():
        missing = [name for name in REQUIRED_FIELDS if name not in doc]
        raise ValidationError(f"missing required field(s): {', '.join(missing)}")
    if not doc.keys() <= _KNOWN:
        unknown = sorted(doc.keys() - _KNOWN)
        raise ValidationError(f"unknown field(s): {', '.join(short_text(k) for k in unknown)}")
    currency = _currency(doc)
    transaction_id = _identifier(doc, "transaction_id")
    customer_id = _identifier(doc, "customer_id")
    merchant_id = _identifier(doc, "merchant_id")
    amount, occurred_at, payment_method = _amount(doc, currency), _occurred_at(doc), _payment_method(doc)
    metadata, metadata_json = _metadata(doc)
    txn = Transaction(
        transaction_id, customer_id, merchant_id, amount, currency, occurred_at, payment_method, metadata, metadata_json
    )
    name = card_field(txn)
    if name is not None:
        raise ValidationError(f"field '{name}' contains a payment card number (PAN); the record is kept with it masked")
    return txn


_IDENTIFIERS = ("transaction_id", "customer_id", "merchant_id")
# repr() of a float from 1e16 up: "4.111111111111111e+16" (stored by PostgreSQL as 41111111111111110).
_LARGE_FLOAT = "e+1"


def card_field(txn: Transaction) -> str | None:
    """The first field of ``txn`` holding a card number, as it is stored, or None.

    Every stored value is scanned in the form the stores keep: the canonical JSON (Redis, and the text
    PostgreSQL reads) spells every id, the quantized amount, every metadata key, string and number
    (floats as repr() writes them) with its digits unescaped, so one look at it clears nearly every
    record. Only when that text has a card-sized digit run, or a float from 1e16 up (PostgreSQL prints
    those without the exponent), are the fields looked at one by one; ids that are identifiers
    (``pan.is_identifier``: a uuid, a producer id) are not cards.
    """
    text = txn.to_json()
    if not pan.may_contain_pan(text) and _LARGE_FLOAT not in text:
        return None
    for name in _IDENTIFIERS:
        value = getattr(txn, name)
        # The id test first: it is two anchored matches, while a uuid that passed the pre-filter (one in
        # sixteen has a card-sized run of digits and hyphens) costs the full scan of its digit groups.
        if not pan.is_identifier(value) and pan.contains_pan(value):
            return name
    if pan.contains_pan(str(txn.amount)):
        return "amount"
    # currency and payment_method are from fixed lists; occurred_at is stored as a UTC timestamp, whose
    # text has no digit run longer than the six of its microseconds.
    if txn.metadata is not None:
        metadata_text = txn.metadata_json or _canonical_object(txn.metadata)
        if pan.contains_pan(metadata_text) or (
            _LARGE_FLOAT in metadata_text and any(pan.number_holds_pan(n) for n in _numbers(txn.metadata))
        ):
            return "metadata"
    return None


def _numbers(value: Any) -> Any:
    """Every number of a decoded JSON value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-standard JSON constant {token}")


# Fractions as Decimal (amounts must be exact); NaN and Infinity are not JSON.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def parse_transaction(payload: bytes) -> Transaction:
    """Decode UTF-8 JSON bytes (numbers as Decimal) and validate them."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"record is not valid UTF-8 (byte {exc.start})") from None
    try:
        doc = _DECODER.decode(text)
    except ValueError as exc:
        raise ValidationError(f"record is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationError("record is JSON nested too deeply to parse") from None
    return validate(doc)

"""Parsing and validation of transaction records (no servers)."""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from txn_events import kinesis_event, sequence_number, txn_doc

from processor.kinesis import parse_event
from processor.schema import ValidationError, parse_transaction, validate


def encode(doc) -> bytes:
    return json.dumps(doc).encode("utf-8")


def test_valid_record_parses_to_transaction():
    txn = parse_transaction(encode(txn_doc(1, amount=1200, occurred_at="2026-11-25T10:00:00+09:00")))
    assert txn.transaction_id == "txn-000001"
    assert txn.amount == Decimal(1200)
    assert txn.occurred_at.tzinfo == UTC
    assert txn.occurred_at.hour == 1
    assert txn.metadata == {"channel": "app"}


def test_json_float_amount_keeps_exact_decimal():
    txn = parse_transaction(
        b'{"transaction_id":"t","customer_id":"c","merchant_id":"m",'
        b'"amount":19.99,"currency":"USD","occurred_at":"2026-11-25T10:00:00Z",'
        b'"payment_method":"card"}'
    )
    assert txn.amount == Decimal("19.99")
    assert txn.metadata is None


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("transaction_id", "", "field 'transaction_id' must be a non-empty string, got ''"),
        ("transaction_id", 42, "field 'transaction_id' must be a non-empty string, got 42"),
        ("customer_id", "   ", "field 'customer_id' must be a non-empty string, got '   '"),
        ("merchant_id", None, "field 'merchant_id' must be a non-empty string, got None"),
        ("amount", "-5", "field 'amount' must be a finite number greater than 0, got '-5'"),
        ("amount", 0, "field 'amount' must be a finite number greater than 0, got 0"),
        ("amount", "abc", "field 'amount' must be a decimal number, got 'abc'"),
        ("amount", True, "field 'amount' must be a decimal number or numeric string, got True"),
        ("amount", "1e20", "field 'amount' must be less than"),
        ("currency", "XYZ", "field 'currency' must be a supported ISO 4217 code, got 'XYZ'"),
        ("currency", "jpy", "field 'currency' must be a supported ISO 4217 code, got 'jpy'"),
        ("occurred_at", "yesterday", "field 'occurred_at' must be an ISO 8601 timestamp, got 'yesterday'"),
        ("occurred_at", 1764000000, "field 'occurred_at' must be an ISO 8601 string, got 1764000000"),
        (
            "payment_method",
            "bitcoin",
            "field 'payment_method' must be one of bank_transfer, card, cod, konbini, wallet, got 'bitcoin'",
        ),
        ("metadata", [1, 2], "field 'metadata' must be a JSON object, got [1, 2]"),
        ("metadata", "x", "field 'metadata' must be a JSON object, got 'x'"),
        ("metadata", {"k": "a\x00b"}, "field 'metadata' must not contain NUL characters"),
        ("customer_id", "c\n1", "field 'customer_id' must not contain control characters, got 'c\\n1'"),
    ],
)
def test_each_bad_field_is_named_with_its_value(field, value, expected):
    with pytest.raises(ValidationError) as err:
        validate(txn_doc(1, **{field: value}))
    assert expected in str(err.value)


def test_jpy_rejects_any_decimal_places():
    with pytest.raises(ValidationError, match=r"field 'amount' has 1 decimal places but JPY allows 0, got '10.5'"):
        validate(txn_doc(1, amount="10.5", currency="JPY"))


def test_jpy_accepts_trailing_zero_decimals_and_integers():
    assert str(validate(txn_doc(1, amount="1000.00", currency="JPY")).amount) == "1000"
    assert str(validate(txn_doc(1, amount="1e3", currency="JPY")).amount) == "1000"
    assert str(validate(txn_doc(1, amount="12.3", currency="USD")).amount) == "12.30"
    assert validate(txn_doc(1, amount=1000, currency="JPY")).amount == Decimal(1000)


@pytest.mark.parametrize(
    "currency, ok, bad", [("USD", "9.99", "9.999"), ("EUR", "0.01", "0.001"), ("KWD", "1.234", "1.2345")]
)
def test_minor_units_per_currency(currency, ok, bad):
    assert validate(txn_doc(1, amount=ok, currency=currency)).amount == Decimal(ok)
    with pytest.raises(ValidationError, match="allows"):
        validate(txn_doc(1, amount=bad, currency=currency))


@pytest.mark.parametrize("stamp", ["2026-11-25T10:00:00", "2026-11-25 10:00:00.123456"])
def test_naive_timestamp_is_rejected(stamp):
    with pytest.raises(ValidationError, match=r"field 'occurred_at' must include a time zone offset"):
        validate(txn_doc(1, occurred_at=stamp))


@pytest.mark.parametrize("stamp", ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00+09:00", "2026-11-25T01:00:00.5-05:30"])
def test_zoned_timestamps_are_accepted(stamp):
    assert validate(txn_doc(1, occurred_at=stamp)).occurred_at.tzinfo == UTC


def test_missing_and_unknown_fields_are_listed():
    doc = txn_doc(1)
    del doc["currency"], doc["merchant_id"]
    with pytest.raises(ValidationError, match="missing required field\\(s\\): merchant_id, currency"):
        validate(doc)
    with pytest.raises(ValidationError, match="unknown field\\(s\\): 'colour'"):
        validate(txn_doc(1, colour="red"))


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"not json at all", "record is not valid JSON"),
        (b"[1, 2]", "record must be a JSON object, got list"),
        (b"\xff\xfe", "record is not valid UTF-8"),
        (b'{"amount": NaN}', "record is not valid JSON"),
    ],
)
def test_undecodable_payloads(payload, reason):
    with pytest.raises(ValidationError, match=reason):
        parse_transaction(payload)


def test_parse_event_splits_accepted_and_rejected_keeping_raw_bytes():
    event = kinesis_event([txn_doc(1), b"{broken", txn_doc(2, amount="1.5")])
    event["Records"].append({"kinesis": {"sequenceNumber": "99", "partitionKey": "p", "data": "!!notb64"}})
    batch = parse_event(event)
    assert [a.sequence_number for a in batch.accepted] == [sequence_number(0)]
    assert [(r.sequence_number, r.raw_payload) for r in batch.rejected][:1] == [(sequence_number(1), b"{broken")]
    assert "field 'amount' has 1 decimal places but JPY allows 0, got '1.5'" in batch.rejected[1].reason
    assert batch.rejected[2].reason == "kinesis data is not valid base64"
    assert batch.rejected[2].raw_payload == b"!!notb64"


def test_records_are_keyed_by_stream_shard_and_sequence():
    [item] = parse_event(kinesis_event([txn_doc(1)])).accepted
    assert (item.ref.stream_arn, item.ref.shard_id) == (
        "arn:aws:kinesis:ap-northeast-1:123456789012:stream/transactions",
        "shardId-000000000000",
    )


@pytest.mark.parametrize(
    "payload, reason",
    [
        # Each of these once failed a whole batch with an exception instead of being rejected.
        (encode(txn_doc(1, metadata={"lat": 35.68, "deep": {"x": [1.5, 2]}})), None),
        (
            encode(txn_doc(1, metadata={"n": "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', b"1e400"),
            "a double cannot hold exactly",
        ),
        (
            encode(txn_doc(1, metadata={"n": "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', b"0.10000000000000000001"),
            "a double cannot hold exactly",
        ),
        (encode(txn_doc(1, occurred_at="0001-01-01T00:00:00+09:00")), "field 'occurred_at' must be from 2000 to 2099"),
        (encode(txn_doc(1, occurred_at="9999-12-31T23:00:00-05:00")), "field 'occurred_at' must be from 2000 to 2099"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            encode(txn_doc(1, metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}})),
            "nests deeper than 8 levels",
        ),
        (encode(txn_doc(1, metadata={"s": "\ud800"})), "a lone surrogate"),
        (json.dumps(txn_doc(1, customer_id="\udfff")).encode("ascii"), "field 'customer_id' must be valid Unicode"),
        (encode(txn_doc(1, metadata={"s": "\u0000"})), "must not contain NUL"),
        (encode(txn_doc(1, metadata={"big": "x" * 9000})), "at most 8192 bytes"),
    ],
    ids=[
        "fractions in metadata",
        "1e400",
        "inexact double",
        "year 1",
        "year 9999",
        "deep JSON",
        "deep metadata",
        "surrogate in metadata",
        "surrogate in id",
        "NUL",
        "huge metadata",
    ],
)
def test_hostile_records_are_rejected_or_accepted_never_raised(payload, reason):
    if reason is None:
        txn = parse_transaction(payload)
        assert json.loads(txn.to_json())["metadata"] == {"deep": {"x": [1.5, 2]}, "lat": 35.68}
        txn.to_json().encode("utf-8")
        return
    with pytest.raises(ValidationError, match=reason):
        parse_transaction(payload)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "transaction_id": json_values,
            "customer_id": json_values,
            "merchant_id": json_values,
            "amount": json_values,
            "currency": st.sampled_from(["JPY", "USD", "XXX"]) | json_values,
            "occurred_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()) | json_values,
            "payment_method": json_values,
            "metadata": json_values,
        },
    ),
    raw=st.binary(max_size=64),
)
def test_any_payload_is_accepted_or_rejected_with_a_reason(doc, raw):
    """Nothing a producer sends can make parsing raise anything but ValidationError."""
    for payload in (json.dumps(doc).encode("utf-8", "surrogatepass"), raw):
        try:
            txn = parse_transaction(payload)
        except ValidationError as exc:
            assert str(exc)
            str(exc).encode("utf-8")  # the reason itself must be storable
        else:
            txn.to_json().encode("utf-8")
            assert txn.content_sha256


@pytest.mark.parametrize(
    "doc, field",
    [
        (txn_doc(1, metadata={"note": "card 4111 1111 1111 1111"}), "metadata"),
        (txn_doc(1, metadata={"pan": "PLACEHOLDER"}), "metadata"),
        (txn_doc(1, customer_id="3530111333300000"), "customer_id"),
    ],
    ids=["spaced Visa in metadata", "JCB as a JSON number", "PAN as an id"],
)
def test_a_card_number_is_rejected_and_never_kept(doc, field):
    payload = encode(doc).replace(b'"PLACEHOLDER"', b"3530111333300000")
    [rejected] = parse_event(kinesis_event([payload])).rejected
    assert rejected.reason.startswith(f"field '{field}' contains a payment card number (PAN)")
    for digits in (b"4111 1111 1111 1111", b"3530111333300000"):
        assert digits not in rejected.raw_payload
    assert b"1111" in rejected.raw_payload or b"0000" in rejected.raw_payload  # last four kept


def test_long_digit_runs_that_are_not_cards_pass():
    from processor.pan import contains_pan

    assert not contains_pan("order 1234567890123456")  # fails Luhn
    assert not contains_pan("7000000000000000005")  # no card network starts with 7
    txn = parse_transaction(encode(txn_doc(1, metadata={"order": "1234567890123456"})))
    assert txn.metadata == {"order": "1234567890123456"}


def test_other_rejection_reasons_are_masked_too():
    doc = txn_doc(1, occurred_at="4111111111111111")
    [rejected] = parse_event(kinesis_event([doc])).rejected
    assert "4111111111111111" not in rejected.reason and "************1111" in rejected.reason


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=20).filter(lambda t: t.strip()), min_size=3, max_size=3),
    metadata=st.none()
    | st.dictionaries(
        st.text(max_size=8),
        st.integers() | st.text(max_size=8) | st.floats(allow_nan=False, allow_infinity=False),
        max_size=4,
    ),
)
def test_canonical_json_is_exactly_the_sorted_compact_encoding(ids, metadata):
    """to_json spells the document out by hand for speed; it must equal the generic encoding."""
    from datetime import datetime

    from processor.schema import Transaction

    txn = Transaction(
        ids[0],
        ids[1],
        ids[2],
        Decimal("12.30"),
        "USD",
        datetime(2026, 11, 27, 5, 6, 7, 890, tzinfo=UTC),
        "card",
        metadata,
    )
    assert txn.to_json() == json.dumps(txn._document(), separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(value=st.dictionaries(st.text(max_size=6), _JSON_VALUES, max_size=4))
def test_metadata_encoder_built_once_matches_the_generic_encoding(value):
    """The metadata encoder skips JSONEncoder's per-call setup; its text must be the same."""
    from processor.schema import _canonical_object

    assert _canonical_object(value) == json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

"""The card-number guard (processor/pan.py, schema.card_field, what kinesis.parse_event keeps of a reject),
without servers. Issue 17: it rejected good transactions (uuid ids) and leaked card numbers (escaped
digits, exponent numbers, the partition key, separators it did not know). The rig test
(test_card_guard_rig.py) checks the same through the handler in PostgreSQL, Redis and the logs."""

from __future__ import annotations

import json

import pytest
from cards import card_numbers, card_texts, exposes, grouped, ids, payload_with_card
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from txn_events import kinesis_event, txn_doc

from processor import pan
from processor.kinesis import parse_event
from processor.schema import ValidationError, parse_transaction

VISA = "4111111111111111"


def encode(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def only(event):
    batch = parse_event(event)
    assert len(batch.accepted) + len(batch.rejected) == 1
    return batch


def assert_rejected_and_masked(event, card: str, field: str):
    batch = only(event)
    assert batch.accepted == [], f"a record holding {card} was accepted"
    [rejected] = batch.rejected
    assert rejected.reason.startswith(f"{field} contains a payment card number (PAN)"), rejected.reason
    for kept in (rejected.raw_payload, rejected.reason, rejected.partition_key):
        assert not exposes(kept, card), kept
    return rejected


# -- each finding of the issue (these fail on the code before the fix) ---------------------------------


def test_the_uuid4_id_from_the_issue_is_accepted():
    """`11e55118-2923-4442-84e5-b96a648c38ae` holds `55118-2923-4442-84`, a Luhn-valid run joined by
    hyphens; 151 of 200,000 uuid4 ids were rejected and their identity masked."""
    transaction_id = "11e55118-2923-4442-84e5-b96a648c38ae"
    batch = only(kinesis_event([txn_doc(1, transaction_id=transaction_id)], partition_keys=[transaction_id]))
    assert [a.transaction.transaction_id for a in batch.accepted] == [transaction_id]


def test_an_escaped_digit_in_metadata_does_not_hide_a_card():
    raw = encode(txn_doc(1, metadata={"note": "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', b'"\\u0034111111111111111"')
    rejected = assert_rejected_and_masked(kinesis_event([raw]), VISA, "field 'metadata'")
    # Masked in place: the escape itself became "*"; every other byte is as the producer sent it.
    assert rejected.raw_payload == raw.replace(b"\\u0034111111111111111", b"************1111")


def test_an_escaped_digit_in_the_customer_id_does_not_hide_a_card():
    raw = encode(txn_doc(1, customer_id="PLACEHOLDER")).replace(b'"PLACEHOLDER"', b'"\\u0034111111111111111"')
    assert_rejected_and_masked(kinesis_event([raw]), VISA, "field 'customer_id'")


@pytest.mark.parametrize(
    "number", ["4.111111111111111e15", "4111111111111111.0", "41111111111111.11e2", "4111111111111111e0"]
)
def test_a_card_written_as_a_json_number_in_any_form_is_found_as_stored(number):
    """4.111111111111111e15 was checked as the text 4.111111111111111E+15 but stored as 4111111111111111.0."""
    raw = encode(txn_doc(1, metadata={"n": "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', number.encode())
    assert_rejected_and_masked(kinesis_event([raw]), VISA, "field 'metadata'")


def test_a_float_postgres_prints_without_its_exponent_is_checked_in_that_form():
    """repr() writes 4.011111111111118e+16 with an exponent; PostgreSQL's numeric prints 40111111111111180,
    a 17-digit Visa number (Luhn-valid, and a double holds it exactly): stored like that it is a card."""
    assert pan.luhn_valid("40111111111111180") and repr(40111111111111180.0) == "4.011111111111118e+16"
    raw = encode(txn_doc(1, metadata={"n": "PLACEHOLDER"})).replace(b'"PLACEHOLDER"', b"4.011111111111118e16")
    assert_rejected_and_masked(kinesis_event([raw]), "40111111111111180", "field 'metadata'")


def test_a_partition_key_that_is_a_card_rejects_the_record_and_is_stored_masked():
    event = kinesis_event([txn_doc(1)], partition_keys=["4111 1111 1111 1111"])
    rejected = assert_rejected_and_masked(event, VISA, "partition key")
    assert rejected.partition_key == "**** **** **** 1111"
    # Every reject's partition key is masked, whatever the reason.
    [other] = parse_event(kinesis_event([b"{not json"], partition_keys=[VISA])).rejected
    assert other.partition_key == "************1111"


@pytest.mark.parametrize(
    "text",
    [
        "4111\u00a01111\u00a01111\u00a01111",
        "4111 - 1111 - 1111 - 1111",
        "4111.1111.1111.1111",
        "3782 822463 10005",
        "3056-930902-5904",
        "４１１１ １１１１ １１１１ １１１１",
    ],
    ids=["no-break space", "spaced hyphen", "dots", "Amex 4-6-5", "Diners 4-6-4", "fullwidth"],
)
def test_cards_grouped_as_cards_are_written_are_found(text):
    digits = "".join(str(int(c)) for c in text if c.isdecimal())
    assert_rejected_and_masked(
        kinesis_event([txn_doc(1, metadata={"note": f"card {text} thanks"})]), digits, "field 'metadata'"
    )


def test_a_value_quoted_in_a_reason_is_masked_before_it_is_quoted():
    """repr() writes a no-break space as \\xa0, which masking the reason afterwards could not see."""
    doc = txn_doc(1, occurred_at="4111\u00a01111\u00a01111\u00a01111")
    [rejected] = parse_event(kinesis_event([doc])).rejected
    assert rejected.reason.startswith("field 'occurred_at' must be an ISO 8601 timestamp")
    assert not exposes(rejected.reason, VISA) and not exposes(rejected.raw_payload, VISA)
    # A long value is masked before it is cut short, so no unmasked part of a card survives the cut.
    long = txn_doc(1, occurred_at="x" * 64 + VISA)
    [rejected] = parse_event(kinesis_event([long])).rejected
    assert "41111111" not in rejected.reason


# -- what is and is not a card ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "55118-2923-4442-84",  # 5-4-4-2: no card is written so
        "order 1234567890123456",  # fails Luhn
        "7000000000000000005",  # no network starts with 7
        "41111111111111111111",  # 20 digits
        "x4111 1111 1111 11112",  # the last group is glued to a fifth digit: 4-4-4-5
        "4111 1111 1111 1111".replace(" ", "  "),  # two spaces are not one separator
        "4111,1111,1111,1111",  # commas do not group card numbers
        "2026-11-25T10:00:00.123456+09:00",
    ],
)
def test_digit_runs_that_are_not_cards(text):
    assert not pan.contains_pan(text)
    assert pan.redact(text) == text


@pytest.mark.parametrize(
    "text, masked",
    [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("ref 12 4111-1111-1111-1111 5", "ref 12 ****-****-****-1111 5"),  # a card inside a longer chain
        ("6521 0009 9013 9424 122", "**** **** **** ***4 122"),  # 4-4-4-4-3 (19-digit Discover)
        ("4111111111111111 and 5555555555554444", "************1111 and ************4444"),
    ],
)
def test_masking_keeps_the_last_four_digits_of_each_card(text, masked):
    assert pan.redact(text) == masked


def test_an_identifier_is_not_a_card_but_anything_else_is_scanned():
    assert pan.is_identifier("11e55118-2923-4442-84e5-b96a648c38ae")
    assert pan.is_identifier("cust-trip-burst-1234567890") and pan.is_identifier("merchant-0007")
    assert not pan.is_identifier("cust-4111111111111111")  # a number of 13 digits or more is no producer id
    assert not pan.is_identifier("cust-4111-1111-1111-1111")
    with pytest.raises(ValidationError, match="field 'customer_id' contains a payment card number"):
        parse_transaction(encode(txn_doc(1, customer_id="cust-4111-1111-1111-1111")))


def test_payloads_are_masked_in_utf16_and_utf32_too():
    for encoding in ("utf-16-le", "utf-16", "utf-32-be"):
        raw = json.dumps({"note": "card 4111 1111 1111 1111"}).encode(encoding)
        masked = pan.mask_payload(raw)
        assert json.loads(masked.decode(encoding)) == {"note": "card **** **** **** 1111"}


def test_bytes_that_are_not_text_are_masked_and_otherwise_kept():
    raw = b"\xff\xfe\x00 card 4111111111111111 \x80"
    assert pan.mask_payload(raw) == b"\xff\xfe\x00 card ************1111 \x80"
    assert pan.mask_payload(b"\xffno card here\x00") == b"\xffno card here\x00"
    # Starting like UTF-16 JSON does not hide an ASCII card from the UTF-8 reading.
    assert pan.mask_payload(b"\x00\x01 4111111111111111!") == b"\x00\x01 ************1111!"


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(transaction_id=ids, customer_id=ids, merchant_id=ids, partition_key=ids)
def test_no_uuid_or_producer_id_is_ever_taken_for_a_card(transaction_id, customer_id, merchant_id, partition_key):
    doc = txn_doc(1, transaction_id=transaction_id, customer_id=customer_id, merchant_id=merchant_id)
    batch = parse_event(kinesis_event([doc], partition_keys=[partition_key]))
    assert batch.rejected == [], batch.rejected[0].reason
    assert batch.accepted[0].transaction.transaction_id == transaction_id


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_card_in_any_encoding_is_accepted_or_kept_unmasked(data):
    raw, how, card = data.draw(payload_with_card(txn_doc(1)))
    batch = only(kinesis_event([raw], partition_keys=["cust-001"]))
    assert batch.accepted == [], f"accepted a record with {how}"
    [rejected] = batch.rejected
    for kept in (rejected.raw_payload, rejected.reason, rejected.partition_key):
        assert not exposes(kept, card), (how, kept)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_no_card_in_a_partition_key_is_accepted_or_kept_unmasked(data):
    card = data.draw(card_numbers())
    key = data.draw(card_texts(card))
    batch = only(kinesis_event([txn_doc(1)], partition_keys=[key]))
    assert batch.accepted == []
    assert not exposes(batch.rejected[0].partition_key, card)


@settings(max_examples=300, deadline=None)
@given(card=card_numbers(), data=st.data())
def test_the_prefilter_is_sound(card, data):
    """The cheap first look never says "no card" for text holding one, in any layout or separator."""
    from cards import SEPARATORS, layouts

    text = grouped(card, data.draw(st.sampled_from(layouts(len(card)))), data.draw(st.sampled_from(SEPARATORS)))
    assert pan.may_contain_pan(text) and pan.contains_pan(text)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), field=st.sampled_from(["transaction_id", "customer_id", "merchant_id"]))
def test_a_partition_key_equal_to_an_id_of_the_record_is_judged_as_if_scanned(data, field):
    """The fast path (a key equal to one of the record's ids is not scanned again) decides as the full scan
    does: a card there, in any layout, still rejects the record and is masked; an id never does."""
    card = data.draw(card_numbers())
    key = data.draw(card_texts(card) | ids)
    batch = only(kinesis_event([txn_doc(1, **{field: key})], partition_keys=[key]))
    holds_card = pan.contains_pan(key) and not pan.is_identifier(key)
    assert (batch.accepted == []) == holds_card, (key, batch.rejected and batch.rejected[0].reason)
    if holds_card:
        assert not exposes(batch.rejected[0].partition_key, card)
        assert not exposes(batch.rejected[0].raw_payload, card)

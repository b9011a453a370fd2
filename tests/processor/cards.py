"""Card numbers and the encodings a producer might send them in, and an independent check that a text
does not expose one (test helpers for the card-number guard; nothing here imports processor.pan).

The card table and layouts are written out here on purpose, from the card networks' published IIN
ranges and lengths and the gaps card forms use (braintree credit-card-type: [4, 8, 12], and [4, 10]
for American Express and Diners Club), not copied from the product.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# (first digits, length): one per network and length worth covering.
CARD_KINDS: tuple[tuple[str, int], ...] = (
    ("4", 16),
    ("4", 13),
    ("4", 19),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("36", 14),
    ("300", 14),
    ("6011", 16),
    ("65", 19),
    ("3528", 16),
    ("3589", 19),
    ("62", 16),
    ("62", 19),
    ("2200", 16),
)


#: Groupings as card forms print them.
def layouts(length: int) -> list[tuple[int, ...]]:
    fours = tuple([4] * (length // 4) + ([length % 4] if length % 4 else []))
    return [fours] + ([(4, 6, length - 10)] if length in (14, 15, 16, 19) else [])


SEPARATORS = (" ", "\u00a0", "-", ".", " - ")


def luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        value = int(char)
        if index % 2 == 0:  # doubled: the check digit will be appended to the right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: Any) -> str:
    prefix, length = draw(st.sampled_from(CARD_KINDS))
    body = prefix + "".join(
        draw(
            st.lists(
                st.sampled_from("0123456789"), min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1
            )
        )
    )
    return body + luhn_check_digit(body)


def grouped(card: str, layout: tuple[int, ...], separator: str) -> str:
    groups, at = [], 0
    for size in layout:
        groups.append(card[at : at + size])
        at += size
    return separator.join(groups)


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def card_texts(draw: Any, card: str) -> str:
    """The card as text: plain, grouped with any separator, or in fullwidth digits."""
    form = draw(st.sampled_from(["plain", "grouped", "fullwidth"]))
    if form == "plain":
        return card
    text = grouped(card, draw(st.sampled_from(layouts(len(card)))), draw(st.sampled_from(SEPARATORS)))
    return text.translate(FULLWIDTH) if form == "fullwidth" else text


# Text around a card in free text: no digit may touch it (glued to other digits it is not a card number).
surrounding = st.text(alphabet="abcxyz ,:;!?()/ü日本", max_size=8)


def escape_some_digits(text: str, picks: list[bool]) -> str:
    """A JSON string body with the picked digits and separators written as \\uXXXX escapes."""
    out = []
    for char, pick in zip(text, picks + [False] * len(text), strict=False):
        escape = pick and (char.isdecimal() or not char.isalnum())
        out.append(f"\\u{ord(char):04x}" if escape else json.dumps(char, ensure_ascii=False)[1:-1])
    return "".join(out)


def number_forms(card: str) -> list[str]:
    """The card as JSON numbers: an integer, with a fraction, with an exponent (exact for a double when
    the card is below 2**53, else rejected as inexact: both must keep it masked)."""
    mantissa = f"{card[0]}.{card[1:]}".rstrip("0").rstrip(".")
    return [card, f"{card}.0", f"{mantissa}e{len(card) - 1}", f"{mantissa}E+{len(card) - 1}", f"-{card}"]


@st.composite
def payload_with_card(draw: Any, base: dict[str, Any]) -> tuple[bytes, str, str]:
    """A record (bytes) holding a card number somewhere, how, and the card.

    Places: a metadata string (alone or inside text), a metadata key, an id, the amount (cards of up to 15
    digits are valid amounts), a metadata number. Strings may have some digits JSON-escaped.
    """
    card = draw(card_numbers())
    place = draw(st.sampled_from(["text", "key", "transaction_id", "customer_id", "merchant_id", "number", "amount"]))
    if place == "amount" and len(card) > 15:
        place = "number"
    doc = dict(base)
    if place in ("number", "amount"):
        # An amount must be positive and exact: the plain integer. A metadata number may take any form.
        token = card if place == "amount" else draw(st.sampled_from(number_forms(card)))
        if place == "amount":
            doc["amount"] = "PLACEHOLDER"
        else:
            doc["metadata"] = {"n": "PLACEHOLDER"}
        raw = json.dumps(doc, ensure_ascii=False).replace('"PLACEHOLDER"', token)
        return raw.encode("utf-8"), f"{place} {token}", card
    text = draw(card_texts(card))
    if place == "text":
        text = draw(surrounding) + text + draw(surrounding)
    picks = draw(st.lists(st.booleans(), max_size=len(text)))
    body = escape_some_digits(text, picks)
    if place == "key":
        doc["metadata"] = {"PLACEHOLDER": "x"}
    elif place == "text":
        doc["metadata"] = {"note": "PLACEHOLDER"}
    else:
        doc[place] = "PLACEHOLDER"
    raw = json.dumps(doc, ensure_ascii=False).replace('"PLACEHOLDER"', f'"{body}"')
    return raw.encode("utf-8"), f"{place} {body!r}", card


# -- identifiers that are not cards -------------------------------------------------------------------


def digit_dense_uuids() -> st.SearchStrategy[str]:
    """Version 4 uuids whose hex digits are mostly decimal: the ones a digit-run scan mistakes for cards."""
    hexdigits = st.sampled_from("0123456789" * 6 + "abcdef")
    return st.tuples(st.lists(hexdigits, min_size=32, max_size=32), st.sampled_from("89ab"), st.booleans()).map(
        _uuid4_text
    )


def _uuid4_text(parts) -> str:
    digits, variant, upper = parts
    text = "".join(digits)
    value = str(uuid.UUID(f"{text[:12]}4{text[13:16]}{variant}{text[17:]}"))
    return value.upper() if upper else value


# The ids operator_tools/produce.py makes (and the tests' txn-000001): customers, trippers (seeded), merchants.
producer_ids = (
    st.integers(0, 99_999).map("cust-{:05d}".format)
    | st.integers(0, 9999).map("merchant-{:04d}".format)
    | st.tuples(st.sampled_from(["burst", "daily", "single"]), st.integers(0, 2**31 - 1)).map(
        lambda t: f"cust-trip-{t[0]}-{t[1]}"
    )
    | st.integers(0, 999_999).map("txn-{:06d}".format)
    | st.just("cust-invalid")
)
ids = st.uuids().map(str) | digit_dense_uuids() | producer_ids


# -- the independent check ----------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_EXPONENT = re.compile(r"(\d+(?:\.\d+)?)[eE]([+-]?\d+)")


def _digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(c)) for c in text if c.isdecimal())


def exposes(value: Any, card: str) -> bool:
    """Whether ``value`` (text, bytes, or a structure of them) shows ``card``'s digits in any form: every
    JSON escape decoded, every script's digits, any separators, exponents expanded."""
    if isinstance(value, (list, tuple)):
        return any(exposes(item, card) for item in value)
    if isinstance(value, dict):
        return any(exposes(k, card) or exposes(v, card) for k, v in value.items())
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        texts = [raw.decode("utf-8", "replace")]
        for encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
            texts.append(raw.decode(encoding, "replace"))
        return any(exposes(text, card) for text in texts)
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), str(value))
    expanded = _EXPONENT.sub(lambda m: _expand(m.group(0)), text)
    return card in _digits(text) or card in _digits(expanded)


def _expand(token: str) -> str:
    value = Decimal(token)
    return token if abs(value.adjusted()) > 60 else " " + format(value, "f") + " "

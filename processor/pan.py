"""A guard against payment card numbers (PANs) in transaction records.

A PAN has no place in this system (PCI DSS 3.4): a record carrying one is rejected, and whatever
is kept of a reject (raw payload, reason, partition key) and whatever is logged has every card
number masked down to its last four digits. The guard works on decoded text (JSON escapes
resolved; numbers in the form the stores keep them), never on raw bytes alone.

What counts as a card number (``contains_pan``):

* A run of 13-19 decimal digits (any script's: fullwidth ``４１１１`` counts), not glued to other
  digits, either ungrouped or grouped as cards are written: groups joined by one separator (a
  space, no-break space, figure or narrow no-break space, ideographic space, a hyphen or dash, a
  dot, or ``" - "``), in one of the layouts card forms use (``LAYOUTS``: groups of four,
  ``4-4-4-4``, ``4-4-4-4-3``, ..., or the Amex/Diners ``4-6-x``: ``4-6-5``, ``4-6-4``, ...). The
  layouts come from the card-form library most checkouts use (braintree credit-card-type:
  ``gaps`` [4, 8, 12] and [4, 10]). A grouping cards never use (``55118-2923-4442-84``, from a
  uuid) is not a card.
* whose prefix and length belong to a card network (``NETWORKS``: Visa, Mastercard, American
  Express, Diners Club, Discover, JCB, UnionPay, Maestro, Mir; same source) and
* that passes the Luhn check.

An id (transaction, customer, merchant id, or the partition key) whose whole value is an identifier
(``is_identifier``) is not a card: a canonical UUID (versions 1-8, RFC 9562 variant), in which a
card-like run occurs by chance (measured: 11 of 200,000 uuid4s hold a run in a card layout with a
network's prefix that passes the Luhn check), or a producer id (``ID_GRAMMAR``). Other values are
scanned whole.
"""

from __future__ import annotations

import bisect
import json
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

MIN_DIGITS, MAX_DIGITS = 13, 19

_SPACES = " \u00a0\u2007\u202f\u3000"
_DASHES = "\\-\u2010\u2011\u2012\u2013\uff0d"
_DOTS = ".\uff0e"
#: One separator between two groups: one space, dash or dot, or a dash between two spaces (" - ").
_SEPARATOR = f"(?:[{_SPACES}][{_DASHES}][{_SPACES}]|[{_SPACES}{_DASHES}{_DOTS}])"
#: Digit groups joined by separators (``\\d`` is every script's decimal digits in a str pattern).
_CHAIN = re.compile(rf"\d+(?:{_SEPARATOR}\d+)*")
_GROUP = re.compile(r"\d+")
#: The pre-filter: a card needs at least 13 digits with separators only between them, so its text is a
#: run of at least 13 characters that are digits or separator characters. Text without one holds none.
_CARD_SIZED_RUN = re.compile(f"[\\d{_SPACES}{_DASHES}{_DOTS}]{{{MIN_DIGITS}}}")


def _layouts(digits: int) -> frozenset[tuple[int, ...]]:
    """The groupings a card of ``digits`` digits is written in: gaps every four digits, or the
    Amex/Diners gaps after 4 and 10 (braintree credit-card-type's two gap patterns)."""
    fours = tuple([4] * (digits // 4) + ([digits % 4] if digits % 4 else []))
    return frozenset({fours, (4, 6, digits - 10)})


#: Group lengths a card is written in, per card length: e.g. 16 -> 4-4-4-4 or 4-6-6, 15 -> 4-4-4-3 or 4-6-5.
LAYOUTS = {n: _layouts(n) for n in range(MIN_DIGITS, MAX_DIGITS + 1)}

#: Card networks: (name, prefix ranges (inclusive, compared on as many leading digits), lengths). From
#: braintree credit-card-type's card table, with 13-digit Visa (legacy, and VPay's 13-19) kept.
NETWORKS: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    ("Visa", (("4", "4"),), frozenset(range(13, 20))),
    ("Mastercard", (("51", "55"), ("2221", "2720")), frozenset({16})),
    ("American Express", (("34", "34"), ("37", "37")), frozenset({15})),
    ("Diners Club", (("300", "305"), ("36", "36"), ("38", "39")), frozenset({14, 16, 19})),
    ("Discover", (("6011", "6011"), ("644", "649"), ("65", "65")), frozenset({16, 19})),
    ("JCB", (("3528", "3589"),), frozenset({16, 17, 18, 19})),
    ("JCB (legacy)", (("1800", "1800"), ("2131", "2131")), frozenset({15, 16})),
    ("UnionPay", (("62", "62"), ("81", "81")), frozenset(range(14, 20))),
    ("Maestro", (("50", "50"), ("56", "59"), ("6", "6")), frozenset(range(13, 20))),
    ("Mir", (("2200", "2204"),), frozenset({16, 17, 18, 19})),
)
# First digit -> (low, high, lengths) ranges starting with it.
_BY_FIRST_DIGIT: dict[str, list[tuple[str, str, frozenset[int]]]] = {}
for _name, _ranges, _lengths in NETWORKS:
    for _low, _high in _ranges:
        _BY_FIRST_DIGIT.setdefault(_low[0], []).append((_low, _high, _lengths))

#: Canonical UUID text, versions 1-8 with the RFC 9562 variant (what uuid.uuid4() etc. print).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
#: The producer's id grammar (operator_tools/produce.py): lowercase words joined by hyphens, optionally ending
#: in one number of at most 12 digits: `cust-00042`, `merchant-0007`, `cust-trip-burst-1234567`,
#: `cust-invalid`, `invalid-3`, `txn-000001`. One group of at most 12 digits cannot hold a card, so
#: recognising these ids skips a scan that could find nothing: it makes nothing pass that would not.
ID_GRAMMAR = re.compile(r"[a-z]+(?:-[a-z]+)*(?:-[0-9]{1,12})?")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card_number(digits: str) -> bool:
    """ASCII digits of a network's prefix and length that pass the Luhn check."""
    for low, high, lengths in _BY_FIRST_DIGIT.get(digits[0], ()):
        if len(digits) in lengths and low <= digits[: len(low)] <= high:
            return luhn_valid(digits)
    return False


def _ascii(digits: str) -> str:
    return digits if digits.isascii() else "".join(str(unicodedata.decimal(c)) for c in digits)


def _card_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every card number in ``text``; overlapping ones too."""
    for chain in _CHAIN.finditer(text):
        if chain.end() - chain.start() < MIN_DIGITS:
            continue
        groups = [(g.start(), g.end()) for g in _GROUP.finditer(text, chain.start(), chain.end())]
        for i in range(len(groups)):
            length = 0
            for j in range(i, len(groups)):
                length += groups[j][1] - groups[j][0]
                if length > MAX_DIGITS:
                    break
                if length < MIN_DIGITS:
                    continue
                if j > i and tuple(e - s for s, e in groups[i : j + 1]) not in LAYOUTS[length]:
                    continue
                digits = "".join(text[s:e] for s, e in groups[i : j + 1])
                if _is_card_number(_ascii(digits)):
                    yield groups[i][0], groups[j][1]


def contains_pan(text: str) -> bool:
    """Whether ``text`` holds a card number (a cheap pre-filter answers most texts)."""
    if not may_contain_pan(text):
        return False
    return next(_card_spans(text), None) is not None


# ASCII text: digits, space, hyphen and dot -> "d", every other byte -> ".". A bytes translation and a
# substring search cost a tenth of the regular expression; the expression is kept for other text.
_ASCII_CARD_CHARACTERS = bytes(ord("d") if chr(i) in "0123456789 -." else ord(".") for i in range(256))
_ASCII_RUN = b"d" * MIN_DIGITS


def may_contain_pan(text: str) -> bool:
    """The pre-filter alone: False means ``contains_pan(text)`` is False, for any part of ``text`` too."""
    if text.isascii():
        return _ASCII_RUN in text.encode("ascii").translate(_ASCII_CARD_CHARACTERS)
    return _CARD_SIZED_RUN.search(text) is not None


def is_identifier(value: str) -> bool:
    """A canonical UUID or a producer id (``ID_GRAMMAR``): such an id value is not a card."""
    return bool(_UUID.fullmatch(value) or ID_GRAMMAR.fullmatch(value))


def number_holds_pan(value: Any) -> bool:
    """A JSON number of metadata, in every form it is kept in: its text in the canonical JSON (Redis)
    and, for a float written with an exponent (1e16 and up), the digits PostgreSQL's numeric prints."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return False
    text = repr(value) if isinstance(value, float) else str(value)
    if contains_pan(text):
        return True
    if "e" in text or "E" in text:
        return contains_pan(_expanded(text) or "")
    return False


# -- masking ------------------------------------------------------------------------------------------

# A number written with an exponent: 4.111111111111111e15 is a card number too.
_EXPONENT_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)[eE]([+-]?\d{1,4})(?!\d)")
# Expansions are bounded: a card needs at most 19 digits before or after the point.
_MAX_EXPONENT = 40


def _expanded(number: str) -> str | None:
    """``4.1e3`` -> ``4100`` (what PostgreSQL's numeric prints), or None if far out of a card's range."""
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value.adjusted()) > _MAX_EXPONENT:
        return None
    return format(value, "f")


def _masked_positions(text: str) -> list[int]:
    """Indexes of the digits of ``text`` to hide: all but the last four of every card number."""
    hidden: set[int] = set()
    for start, end in _card_spans(text):
        positions = [i for i in range(start, end) if text[i].isdecimal()]
        hidden.update(positions[:-4])
    for match in _EXPONENT_NUMBER.finditer(text):
        expanded = _expanded(match.group(0))
        if expanded is not None and contains_pan(expanded):
            positions = [i for i in range(match.start(1), match.end(1)) if text[i].isdecimal()]
            hidden.update(positions[:-4])
    return sorted(hidden)


def redact(text: str) -> str:
    """``text`` with every card number masked to its last four digits (``*`` for each hidden digit)."""
    if not may_contain_pan(text) and _EXPONENT_NUMBER.search(text) is None:
        return text
    chars = list(text)
    for index in _masked_positions(text):
        chars[index] = "*"
    return "".join(chars)


def redact_value(value: Any) -> Any:
    """A decoded JSON value with its card numbers masked (strings, keys and numbers), for quoting it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        text = repr(value) if isinstance(value, float) else str(value)
        masked = redact(text)
        return value if masked == text else masked
    return value


# JSON escapes: \uXXXX, or a backslash and one character (\\, \", \n, ...), read left to right.
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_CARD_CHARACTERS = re.compile(f"[\\d{_SPACES}{_DASHES}{_DOTS}]")


def _decoded_view(text: str) -> tuple[str, list[int], list[int], list[int]]:
    """``text`` with each JSON ``\\uXXXX`` escape of a digit or separator replaced by that character and every
    other escape by one backslash, plus where each escape sits: (view, view index, raw start, raw end)."""
    pieces: list[str] = []
    at_view: list[int] = []
    raw_start: list[int] = []
    raw_end: list[int] = []
    position = length = 0
    for match in _JSON_ESCAPE.finditer(text):
        pieces.append(text[position : match.start()])
        length += match.start() - position
        code = match.group(1)
        char = chr(int(code, 16)) if code else ""
        pieces.append(char if _CARD_CHARACTERS.fullmatch(char) else "\\")
        at_view.append(length)
        raw_start.append(match.start())
        raw_end.append(match.end())
        length += 1
        position = match.end()
    pieces.append(text[position:])
    return "".join(pieces), at_view, raw_start, raw_end


def _redact_json_text(text: str) -> str:
    """``redact`` for text holding JSON escapes: a card is found in the decoded view, and each of its
    hidden digits masked where it sits in ``text`` (a literal digit, or its whole ``\\uXXXX`` escape)."""
    if "\\" not in text:
        return redact(text)
    view, at_view, raw_start, raw_end = _decoded_view(text)
    hidden = _masked_positions(view)
    if not hidden:
        return text
    replace: dict[int, int] = {}  # raw start -> raw end of each piece to replace with "*"
    for index in hidden:
        k = bisect.bisect_right(at_view, index) - 1
        if k >= 0 and at_view[k] == index:
            replace[raw_start[k]] = raw_end[k]
        else:  # a literal character, shifted by the escapes before it (each is one character of the view)
            raw = index + (raw_end[k] - at_view[k] - 1 if k >= 0 else 0)
            replace[raw] = raw + 1
    out: list[str] = []
    position = 0
    for start in sorted(replace):
        out.append(text[position:start])
        out.append("*")
        position = replace[start]
    out.append(text[position:])
    return "".join(out)


def mask_payload(raw: bytes) -> bytes:
    """A raw record with every card number masked, on the decoded form: JSON escapes resolved
    (``"\\u0034111..."`` is found, and its escapes masked in place). Read as UTF-8 (bytes that are not
    UTF-8 kept as they are), and again in UTF-16 or UTF-32 when the record starts like JSON in one of
    those (RFC 8259's predecessors allowed them). Every other byte stays as the producer sent it."""
    masked = _mask_in(raw, "utf-8")
    encoding = json.detect_encoding(raw)
    if encoding.startswith(("utf-16", "utf-32")):
        masked = _mask_in(masked, encoding)
    return masked


def _mask_in(raw: bytes, encoding: str) -> bytes:
    errors = "surrogateescape" if encoding == "utf-8" else "strict"
    try:
        text = raw.decode(encoding, errors)
    except UnicodeDecodeError:  # not text in this encoding: nothing to find in it
        return raw
    masked = _redact_json_text(text)
    return raw if masked == text else masked.encode(encoding, errors)

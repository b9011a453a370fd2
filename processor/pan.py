"""A guard against payment card numbers (PANs) in transaction records.

A PAN has no place in this system (PCI DSS 3.4): a record carrying one is rejected, and
whatever is kept of it (the raw payload and the reason of a reject) has every card-number-like
digit run masked down to its last four digits. A run counts as a PAN when it is 13 to 19 digits
long (single spaces or hyphens between groups allowed), passes the Luhn check and starts like
a card of a major network (Visa, Mastercard, Amex, JCB, Discover, Diners, UnionPay).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

# Digits with optional single separators, not glued to other digits.
_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_CANDIDATE_BYTES = re.compile(rb"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_NETWORK_PREFIX = re.compile(r"^(4|5[1-5]|2[2-7]|3[47]|35|6011|64[4-9]|65|30[0-5]|36|38|62)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_pan(run: str) -> bool:
    digits = re.sub(r"[ -]", "", run)
    return 13 <= len(digits) <= 19 and bool(_NETWORK_PREFIX.match(digits)) and luhn_valid(digits)


def contains_pan(text: str) -> bool:
    return any(_is_pan(match.group()) for match in _CANDIDATE.finditer(text))


def _mask(run: str) -> str:
    digits_seen = sum(c.isdigit() for c in run)
    out, kept = [], 0
    for char in reversed(run):
        if char.isdigit():
            kept += 1
            out.append(char if kept <= 4 else "*")
        else:
            out.append(char)
    assert kept == digits_seen
    return "".join(reversed(out))


def redact(text: str) -> str:
    """``text`` with every PAN-like run masked to its last four digits."""
    return _CANDIDATE.sub(lambda m: _mask(m.group()) if _is_pan(m.group()) else m.group(), text)


def redact_bytes(payload: bytes) -> bytes:
    """The same for raw payloads (the digits are ASCII in any encoding a producer may send)."""
    def sub(match: "re.Match[bytes]") -> bytes:
        run = match.group().decode("ascii")
        return _mask(run).encode("ascii") if _is_pan(run) else match.group()
    return _CANDIDATE_BYTES.sub(sub, payload)


# Digits and separators -> "d", everything else -> ".": a PAN needs 13 "d" in a row.
_DIGITISH = bytes(ord("d") if chr(i) in "0123456789 -" else ord(".") for i in range(256))
_THIRTEEN = b"d" * 13


def bytes_hold_pan(payload: bytes) -> bool:
    """Cheap first look at a raw record (nearly all have no card-length digit run at all)."""
    if _THIRTEEN not in payload.translate(_DIGITISH):
        return False
    return any(_is_pan(match.group().decode("ascii")) for match in _CANDIDATE_BYTES.finditer(payload))


def strings_in(value: Any) -> Iterator[str]:
    """Every string and number of a JSON value, keys included, as text."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, bool) or value is None:
        return
    else:
        yield str(value)

"""Parsers for PostgreSQL's text output of arrays, hstore, bytea, bit strings, money and points.

Theory of operation: pure functions from one value's text (as pgoutput or a ``SELECT col::text`` gives it)
to Python values; pg_types.py then shapes them as Debezium does.  Malformed text raises `ValueError`
naming the value.

Text formats (PostgreSQL's output functions)::

    array    [lower:upper[...]=]{elem,elem,...}   elements: NULL (unquoted, any case) is null;
             "..." quoted with \\" and \\\\ escapes; unquoted ones trimmed of surrounding blanks, with
             backslash escapes; a nested {..} is a sub-array (multi-dimensional arrays)
    hstore   "key"=>"value", "key"=>NULL           (keys and values quoted, \\" and \\\\ escaped)
    bytea    \\x0a0b...                           (bytea_output = hex, the default; as Debezium, escape
                                                  output is not supported)
    bit      0110...                              (most significant bit first)
    money    $1,234.56 / -$1,234.56               (lc_monetary's symbol and separators; any symbol and
                                                  grouping characters are dropped, parentheses or a
                                                  minus sign mean negative)
    point    (x,y)
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

ArrayValue = list["str | ArrayValue | None"]

_DIMENSIONS: Final = re.compile(r"(\[-?\d+:-?\d+\])+=")
_POINT: Final = re.compile(r"\(\s*([^,()\s]+)\s*,\s*([^,()\s]+)\s*\)")


def parse_array(text: str) -> ArrayValue:
    """An array literal as nested lists of element texts (None for NULL)."""
    body = text
    dims = _DIMENSIONS.match(body)
    if dims:
        body = body[dims.end():]
    value, end = _parse_array_at(body, 0, text)
    if body[end:].strip():
        raise ValueError(f"trailing text after the array: {text!r}")
    return value


def _parse_array_at(body: str, pos: int, text: str) -> tuple[ArrayValue, int]:
    if pos >= len(body) or body[pos] != "{":
        raise ValueError(f"not an array literal: {text!r}")
    pos += 1
    items: ArrayValue = []
    if pos < len(body) and body[pos] == "}":
        return items, pos + 1
    while True:
        while pos < len(body) and body[pos] == " ":
            pos += 1
        if pos >= len(body):
            raise ValueError(f"unterminated array literal: {text!r}")
        char = body[pos]
        if char == "{":
            sub, pos = _parse_array_at(body, pos, text)
            items.append(sub)
        elif char == '"':
            element, pos = _quoted(body, pos, text)
            items.append(element)
        else:
            start = pos
            chars: list[str] = []
            while pos < len(body) and body[pos] not in ",}":
                if body[pos] == "\\" and pos + 1 < len(body):
                    pos += 1
                chars.append(body[pos])
                pos += 1
            raw = "".join(chars).strip()
            unescaped = "\\" not in body[start:pos]
            items.append(None if unescaped and raw.upper() == "NULL" else raw)
        while pos < len(body) and body[pos] == " ":
            pos += 1
        if pos >= len(body):
            raise ValueError(f"unterminated array literal: {text!r}")
        if body[pos] == "}":
            return items, pos + 1
        if body[pos] != ",":
            raise ValueError(f"expected ',' or '}}' at {pos} in array literal {text!r}")
        pos += 1


def _quoted(body: str, pos: int, text: str) -> tuple[str, int]:
    """A double-quoted string starting at ``pos``; returns it unescaped and the position after it."""
    pos += 1
    chars: list[str] = []
    while pos < len(body):
        char = body[pos]
        if char == "\\":
            if pos + 1 >= len(body):
                break
            chars.append(body[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(chars), pos + 1
        else:
            chars.append(char)
            pos += 1
    raise ValueError(f"unterminated quoted string in {text!r}")


def parse_hstore(text: str) -> dict[str, str | None]:
    """An hstore value as a dict, in the order PostgreSQL printed the pairs."""
    pairs: dict[str, str | None] = {}
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " ,":
            pos += 1
        if pos >= len(text):
            return pairs
        if text[pos] != '"':
            raise ValueError(f"not an hstore value: {text!r}")
        key, pos = _quoted(text, pos, text)
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if not text.startswith("=>", pos):
            raise ValueError(f"expected '=>' at {pos} in hstore value {text!r}")
        pos += 2
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if text.startswith("NULL", pos):
            pairs[key] = None
            pos += 4
        elif pos < len(text) and text[pos] == '"':
            pairs[key], pos = _quoted(text, pos, text)
        else:
            raise ValueError(f"expected a quoted value or NULL at {pos} in hstore value {text!r}")


def parse_bytea(text: str) -> bytes:
    """A bytea in hex output format."""
    if not text.startswith("\\x"):
        raise ValueError("bytea value is not in hex output format (set bytea_output = 'hex', the default)")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"bad hex in bytea value {text[:40]!r}") from None


def bits_to_bytes(text: str) -> bytes:
    """A bit string as Debezium's Bits value: the number it spells, little-endian, in as few bytes as its
    highest set bit needs (so ``'0000'`` is empty)."""
    if text.strip("01"):
        raise ValueError(f"not a bit string: {text!r}")
    number = int(text, 2) if text else 0
    return number.to_bytes((number.bit_length() + 7) // 8, "little")


def parse_money(text: str) -> Decimal:
    """A money value's amount (currency symbol and grouping dropped)."""
    negative = text.startswith("-") or (text.startswith("(") and text.endswith(")"))
    digits = "".join(char for char in text if char.isdigit() or char == ".")
    try:
        amount = Decimal(digits)
    except InvalidOperation:
        raise ValueError(f"not a money value: {text!r}") from None
    return -amount if negative else amount


def parse_point(text: str) -> tuple[float, float]:
    match = _POINT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a point: {text!r}")
    return float(match[1]), float(match[2])

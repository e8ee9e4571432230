"""Numbers and strings as Java and Jackson write them in JSON text (Kafka's JsonConverter output).

Theory of operation: Kafka's JsonConverter builds a Jackson tree and writes it compactly; for the bytes
on a topic to match Kafka's, the leaves must be written as Jackson writes them:

* ``double`` (Connect float64): ``Double.toString`` as specified since JDK 19 (older JDKs sometimes
  print a digit more): the shortest decimal that reads back as the same double (Python's ``repr``
  finds the same digits), at least two digits (``4.9E-324``, the nearer of the two-digit ones), laid out
  as Java lays it out: plain notation with at least one digit after the point when
  10^-3 <= |x| < 10^7 (``100.0``, ``0.001``), otherwise "computerized scientific notation"
  (``1.0E7``, ``1.234E-5``; no ``+`` in the exponent).
* ``float`` (Connect float32): ``Float.toString``, the shortest decimal that reads back as the same
  32-bit float (so 0.1 stays ``0.1``), same layout.
* NaN and the infinities: Jackson's default ``QUOTE_NON_NUMERIC_NUMBERS`` writes them as the strings
  ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
* ``BigDecimal`` (Decimal with ``decimal.format=NUMERIC``): ``BigDecimal.toString``, which follows the
  same rule as Python's ``str(Decimal)`` (scientific when the exponent is positive or the adjusted
  exponent is below -6).
* strings: Jackson escapes ``"``, ``\\``, and the control characters below 0x20 (``\\b \\t \\n \\f \\r``
  by letter, the rest as ``\\u00XX`` with upper-case hex digits); everything else, non-ASCII included,
  is written as is in UTF-8.  Python's C encoder does the same except for lower-case hex digits, which
  the few affected characters are rewritten to.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Final

_FLOAT32: Final = struct.Struct(">f")
_LOWER_HEX_CONTROLS: Final = re.compile(r"[\x0b\x0e\x0f\x1a-\x1f]")
_LOWER_HEX_ESCAPE: Final = re.compile(r"\\u00(1[a-f]|0[bef])")


_FLOAT32_MAX: Final = 3.4028234663852886e38
_FLOAT32_ROUNDS_TO_INF: Final = _FLOAT32_MAX + 2.0 ** 103  # half a unit in the last place above the max


def round_float32(value: float) -> float:
    """The float32 nearest ``value`` (as a Python float), as Java's ``(float)`` rounds: past the largest
    float32 by half a unit or more is infinity."""
    try:
        result: float = _FLOAT32.unpack(_FLOAT32.pack(value))[0]
    except OverflowError:  # struct refuses what rounds down to the largest float32 too
        magnitude = _FLOAT32_MAX if abs(value) < _FLOAT32_ROUNDS_TO_INF else math.inf
        return math.copysign(magnitude, value)
    return result


def _non_finite(value: float) -> str | None:
    if math.isnan(value):
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    return None


def _java_layout(negative: bool, digits: str, exponent: int) -> str:
    """Java's layout of ``0.<digits> x 10^exponent`` (digits without leading or trailing zeros)."""
    sign = "-" if negative else ""
    if -3 < exponent <= 7:  # 10^-3 <= |x| < 10^7: plain notation
        if exponent <= 0:
            return f"{sign}0.{'0' * -exponent}{digits}"
        if exponent >= len(digits):
            return f"{sign}{digits}{'0' * (exponent - len(digits))}.0"
        return f"{sign}{digits[:exponent]}.{digits[exponent:]}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent - 1}"


def _digits_of(text: str) -> tuple[bool, str, int]:
    """Sign, significant digits and exponent (value = 0.digits x 10^exponent) of a non-zero decimal text."""
    sign, digit_tuple, exponent = Decimal(text).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    return bool(sign), digits, exponent + len(digits)


def _shortest(text: str, value: float) -> tuple[bool, str, int]:
    """Java prints at least two digits, and when one digit would do it picks the two-digit decimal
    nearest the exact value (``4.9E-324``, not ``5.0E-324``); for all but subnormals that is ``d.0``."""
    negative, digits, exponent = _digits_of(text)
    if len(digits) == 1:
        negative, digits, exponent = _digits_of(f"{value:.1e}")
    return negative, digits, exponent


def java_double(value: float) -> str:
    """JSON text of a Connect float64 as Jackson writes it (``Double.toString``)."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    return _java_layout(*_shortest(repr(value), value))


def java_float(value: float) -> str:
    """JSON text of a Connect float32 as Jackson writes it (``Float.toString``): the value is taken to
    the nearest float32 first."""
    special = _non_finite(value)
    if special is not None:
        return special
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    single = round_float32(value)
    if math.isinf(single):
        return '"Infinity"' if single > 0 else '"-Infinity"'
    for precision in range(1, 10):
        text = f"{single:.{precision - 1}e}"
        if round_float32(float(text)) == single:
            return _java_layout(*_shortest(text, single))
    raise AssertionError("a float32 always has a decimal form of at most 9 digits")  # pragma: no cover


def java_decimal(value: Decimal) -> str:
    """JSON text of a BigDecimal (``BigDecimal.toString``)."""
    return str(value)


def json_string(text: str) -> str:
    """A JSON string literal as Jackson writes it."""
    literal: str = encode_basestring(text)
    if _LOWER_HEX_CONTROLS.search(text):
        literal = _LOWER_HEX_ESCAPE.sub(lambda match: "\\u00" + match.group(1).upper(), literal)
    return literal

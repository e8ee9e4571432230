"""Kafka Connect's logical types as the converters need them: Decimal's bytes, Date/Time/Timestamp ints.

Theory of operation: in Streamlog's data model (data.py) a logical type's value is already its
primitive, except Connect's ``Decimal``, which a connector may hand over as `decimal.Decimal`.  Both
converters write a Decimal as its *unscaled* value in bytes, the form Kafka's ``Decimal.fromLogical``
produces (and Avro's ``decimal`` logical type reads)::

    unscaled = value x 10^scale                (scale: the schema's "scale" parameter)
    bytes    = unscaled, big-endian two's complement, in the fewest bytes that hold its sign
               (Java's BigInteger.toByteArray: 0 -> 00, 127 -> 7F, 128 -> 00 80, -128 -> 80, -129 -> FF 7F)

A value with more fraction digits than the scale is refused (Kafka: "BigDecimal has mismatching scale
value for given Decimal schema"); fewer are padded (1.5 at scale 2 is 150).  As a convenience the
Connect time types also take Python's date/time objects (Date: days since 1970-01-01, Time: ms since
midnight, Timestamp: ms since the epoch, UTC), where Kafka takes ``java.util.Date``; they are read back as
the ints of the data model.
"""

from __future__ import annotations

import datetime as dt
import decimal
from decimal import Decimal
from typing import Any, Final

from streamlog.connect.api import ConnectError

DECIMAL: Final = "org.apache.kafka.connect.data.Decimal"
DATE: Final = "org.apache.kafka.connect.data.Date"
TIME: Final = "org.apache.kafka.connect.data.Time"
TIMESTAMP: Final = "org.apache.kafka.connect.data.Timestamp"
TIME_TYPES: Final = frozenset({DATE, TIME, TIMESTAMP})

_EXACT: Final = decimal.Context(prec=100_000, traps=[decimal.InvalidOperation])
_EPOCH_DAY: Final = dt.date(1970, 1, 1)
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def decimal_value(value: Any, scale: int) -> Decimal:
    """``value`` (Decimal, int, or unscaled bytes) as a Decimal with exactly ``scale`` fraction digits."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return decimal_from_bytes(bytes(value), scale)
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise ConnectError(f"Invalid type for Decimal: {type(value).__name__} (expected decimal.Decimal)")
    number = Decimal(value)
    if not number.is_finite():
        raise ConnectError(f"Decimal value {number} cannot be written (Connect's Decimal has no NaN or "
                           "infinity)")
    rescaled = number.quantize(Decimal(1).scaleb(-scale), context=_EXACT)
    if rescaled != number:
        raise ConnectError(f"BigDecimal has mismatching scale value for given Decimal schema: {number} "
                           f"has more than {scale} fraction digits")
    return rescaled


def decimal_bytes(value: Any, scale: int) -> bytes:
    """The unscaled value's two's-complement big-endian bytes (``Decimal.fromLogical``)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    number = decimal_value(value, scale)
    sign, digits, _exponent = number.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0")
    if sign:
        unscaled = -unscaled
    bits = unscaled.bit_length() if unscaled >= 0 else (~unscaled).bit_length()
    return unscaled.to_bytes(bits // 8 + 1, "big", signed=True)


def decimal_from_bytes(data: bytes, scale: int) -> Decimal:
    """A Decimal from its unscaled bytes (``Decimal.toLogical``)."""
    if not data:
        raise ConnectError("Invalid Decimal bytes: zero length")
    unscaled = int.from_bytes(data, "big", signed=True)
    _sign, digits, _exponent = Decimal(abs(unscaled)).as_tuple()
    return Decimal((1 if unscaled < 0 else 0, digits, -scale))


def scale_of(parameters: Any) -> int:
    """The ``scale`` parameter of a Decimal schema."""
    try:
        return int((parameters or {})["scale"])
    except (KeyError, ValueError, TypeError):
        raise ConnectError(f"Invalid Decimal schema: missing or bad 'scale' parameter in "
                           f"{parameters}") from None


def time_int(name: str, value: Any) -> Any:
    """A Connect Date/Time/Timestamp value as its int; ints (and anything else) pass through unchanged."""
    if name == TIMESTAMP and isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return (moment - _EPOCH) // dt.timedelta(milliseconds=1)
    if name == DATE and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return (value - _EPOCH_DAY).days
    if name == TIME and isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000
    return value

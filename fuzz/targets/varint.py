"""Target ``varint``: the record layer's zig-zag varint reader against the protocol primitives'.

Input: bytes holding a varint at offset 0 (and whatever follows).

Two independent implementations decode the same encoding: ``records.varint.read_varint`` (records,
with a byte limit: 5 for varints, 10 for varlongs) and ``primitives.read_varint`` (the request
codec, at most 10 bytes).  Documented refusals: ``CorruptRecordError`` and ``DecodeError``.

Invariants: where both accept, they agree on value and length; the record reader refuses exactly
the encodings longer than its limit or running past the data; a value read back through
``write_varint`` (which encodes int64 values) is read again as the same value when it fits in an
int64; ``size_of_varint`` is the length ``write_varint`` writes.
"""

from __future__ import annotations

from fuzz.common import Finding, check
from streamlog.protocol import primitives as p
from streamlog.protocol.primitives import DecodeError
from streamlog.protocol.records.errors import CorruptRecordError
from streamlog.protocol.records.varint import (
    VARINT_MAX_BYTES,
    VARLONG_MAX_BYTES,
    read_varint,
    size_of_varint,
    write_varint,
)

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _encoded_length(data: bytes) -> int | None:
    """Bytes of the varint at 0, or None if it never ends within ``data``."""
    for i, b in enumerate(data):
        if b < 0x80:
            return i + 1
    return None


def test_one_input(data: bytes) -> None:
    length = _encoded_length(data)
    for limit in (VARINT_MAX_BYTES, VARLONG_MAX_BYTES):
        try:
            value, end = read_varint(data, 0, limit)
        except CorruptRecordError:
            check(length is None or length > limit,
                  f"read_varint(limit {limit}) refused a {length}-byte varint")
            continue
        check(length is not None and end == length <= limit,
              f"read_varint(limit {limit}) read {end} bytes of a {length}-byte varint")
        try:
            reference, reference_end = p.read_varint(data, 0)
        except DecodeError:
            raise Finding(f"primitives.read_varint refuses what records read as {value}") from None
        check((reference, reference_end) == (value, end),
              f"records read {(value, end)}, primitives {(reference, reference_end)}")
        if _INT64_MIN <= value <= _INT64_MAX:
            out = bytearray()
            write_varint(out, value)
            check(len(out) == size_of_varint(value), f"size_of_varint({value}) != {len(out)}")
            check(read_varint(bytes(out), 0) == (value, len(out)), f"{value} does not survive write_varint")
            check(len(out) <= end, f"{value} re-encodes to {len(out)} bytes, longer than its {end}")

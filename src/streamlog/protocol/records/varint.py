"""Zig-zag varints (protobuf style) as used inside v2 records.

Theory of operation: a signed value ``v`` is zig-zag mapped to an unsigned one
(``(v << 1) ^ (v >> 63)``) so small magnitudes of either sign stay short, then written 7 bits per
byte, least significant group first, with the high bit set on every byte but the last. A VARINT
(int32) takes at most 5 bytes, a VARLONG (int64) at most 10.

Decoding is on the per-record path, so callers inline the one-byte case (``b < 0x80``) and call
``read_varint`` only for longer encodings. All readers raise ``CorruptRecordError`` for an encoding
that is too long or runs past the end of the buffer.
"""

from __future__ import annotations

from .errors import CorruptRecordError

__all__ = ["VARINT_MAX_BYTES", "VARLONG_MAX_BYTES", "read_varint", "size_of_varint", "write_varint"]

VARINT_MAX_BYTES = 5
VARLONG_MAX_BYTES = 10

Buffer = bytes | bytearray | memoryview


def read_varint(buf: Buffer, pos: int, max_bytes: int = VARLONG_MAX_BYTES) -> tuple[int, int]:
    """Decode one zig-zag varint at ``pos``; return ``(value, next_pos)``."""
    try:
        b = buf[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
        result = b & 0x7F
        shift = 7
        limit = 7 * max_bytes
        while True:
            pos += 1
            b = buf[pos]
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return (result >> 1) ^ -(result & 1), pos + 1
            shift += 7
            if shift >= limit:
                raise CorruptRecordError(f"varint longer than {max_bytes} bytes")
    except IndexError:
        raise CorruptRecordError("varint runs past the end of the data") from None


def write_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (a signed int64) as a zig-zag varint."""
    n = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def size_of_varint(value: int) -> int:
    """Bytes ``write_varint`` uses for ``value``."""
    n = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    size = 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return size

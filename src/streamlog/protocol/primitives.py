"""Primitive wire types of the Kafka protocol, as small read/write functions.

Theory of operation: every reader takes ``(buf, pos)`` and returns ``(value, new_pos)``; every writer
appends to a ``bytearray``.  The generic codec (``codec.py``) composes these into whole messages, so
nothing here knows about messages or versions.  Readers raise :class:`DecodeError` on truncated or
impossible input and never anything else, which lets the broker turn any malformed request into a
clean error.

Encodings (big-endian throughout):

    int8/int16/int32/int64  two's complement, 1/2/4/8 bytes
    uint16                  unsigned, 2 bytes
    float64                 IEEE-754 double, 8 bytes
    bool                    1 byte, 0 or 1
    uuid                    16 raw bytes
    varint / varlong        zig-zag, then base-128 little-endian groups (protobuf style)
    uvarint                 base-128 little-endian groups, no zig-zag
    string                  int16 length (-1 = null) + UTF-8 bytes
    compact string          uvarint (length + 1, 0 = null) + UTF-8 bytes
    bytes                   int32 length (-1 = null) + bytes
    compact bytes           uvarint (length + 1, 0 = null) + bytes
    array                   int32 count (-1 = null), then the elements
    compact array           uvarint (count + 1, 0 = null), then the elements
"""

from __future__ import annotations

import struct
import uuid
from typing import Final

Buffer = bytes | bytearray | memoryview


class DecodeError(Exception):
    """The bytes do not form a valid value of the expected type."""


_I8: Final = struct.Struct(">b")
_I16: Final = struct.Struct(">h")
_U16: Final = struct.Struct(">H")
_I32: Final = struct.Struct(">i")
_U32: Final = struct.Struct(">I")
_I64: Final = struct.Struct(">q")
_F64: Final = struct.Struct(">d")

ZERO_UUID: Final = uuid.UUID(int=0)


def _need(buf: Buffer, pos: int, n: int) -> None:
    if n < 0 or pos + n > len(buf):
        raise DecodeError(f"need {n} bytes at {pos}, have {len(buf) - pos}")


def read_int8(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 1)
    return _I8.unpack_from(buf, pos)[0], pos + 1


def read_int16(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 2)
    return _I16.unpack_from(buf, pos)[0], pos + 2


def read_uint16(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 2)
    return _U16.unpack_from(buf, pos)[0], pos + 2


def read_int32(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 4)
    return _I32.unpack_from(buf, pos)[0], pos + 4


def read_uint32(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 4)
    return _U32.unpack_from(buf, pos)[0], pos + 4


def read_int64(buf: Buffer, pos: int) -> tuple[int, int]:
    _need(buf, pos, 8)
    return _I64.unpack_from(buf, pos)[0], pos + 8


def read_float64(buf: Buffer, pos: int) -> tuple[float, int]:
    _need(buf, pos, 8)
    return _F64.unpack_from(buf, pos)[0], pos + 8


def read_bool(buf: Buffer, pos: int) -> tuple[bool, int]:
    _need(buf, pos, 1)
    return buf[pos] != 0, pos + 1


def read_uuid(buf: Buffer, pos: int) -> tuple[uuid.UUID, int]:
    _need(buf, pos, 16)
    return uuid.UUID(bytes=bytes(buf[pos : pos + 16])), pos + 16


def read_uvarint(buf: Buffer, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def read_varint(buf: Buffer, pos: int) -> tuple[int, int]:
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def write_int8(out: bytearray, v: int) -> None:
    out += _I8.pack(v)


def write_int16(out: bytearray, v: int) -> None:
    out += _I16.pack(v)


def write_uint16(out: bytearray, v: int) -> None:
    out += _U16.pack(v)


def write_int32(out: bytearray, v: int) -> None:
    out += _I32.pack(v)


def write_uint32(out: bytearray, v: int) -> None:
    out += _U32.pack(v)


def write_int64(out: bytearray, v: int) -> None:
    out += _I64.pack(v)


def write_float64(out: bytearray, v: float) -> None:
    out += _F64.pack(v)


def write_bool(out: bytearray, v: bool) -> None:
    out.append(1 if v else 0)


def write_uuid(out: bytearray, v: uuid.UUID) -> None:
    out += v.bytes


def write_uvarint(out: bytearray, v: int) -> None:
    if v < 0:
        raise ValueError("uvarint must be non-negative")
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def write_varint(out: bytearray, v: int) -> None:
    write_uvarint(out, (v << 1) ^ (v >> 63))


def uvarint_bytes(v: int) -> bytes:
    out = bytearray()
    write_uvarint(out, v)
    return bytes(out)


# --- strings and bytes -------------------------------------------------------------------------


def decode_utf8(raw: Buffer) -> str:
    """UTF-8 text from raw bytes; DecodeError if they are not UTF-8."""
    return _decode_utf8(raw)


def _decode_utf8(raw: Buffer) -> str:
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"invalid UTF-8: {exc}") from None


def read_string(buf: Buffer, pos: int) -> tuple[str | None, int]:
    n, pos = read_int16(buf, pos)
    if n < 0:
        if n != -1:
            raise DecodeError(f"bad string length {n}")
        return None, pos
    _need(buf, pos, n)
    return _decode_utf8(buf[pos : pos + n]), pos + n


def read_compact_string(buf: Buffer, pos: int) -> tuple[str | None, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    if n > 0x7FFF:
        raise DecodeError(f"string length {n} exceeds the int16 maximum")
    _need(buf, pos, n)
    return _decode_utf8(buf[pos : pos + n]), pos + n


def read_bytes(buf: Buffer, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_int32(buf, pos)
    if n < 0:
        if n != -1:
            raise DecodeError(f"bad bytes length {n}")
        return None, pos
    _need(buf, pos, n)
    return bytes(buf[pos : pos + n]), pos + n


def read_compact_bytes(buf: Buffer, pos: int) -> tuple[bytes | None, int]:
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    n -= 1
    _need(buf, pos, n)
    return bytes(buf[pos : pos + n]), pos + n


def write_string(out: bytearray, v: str | None) -> None:
    if v is None:
        out += b"\xff\xff"
        return
    raw = v.encode("utf-8")
    if len(raw) > 0x7FFF:
        raise ValueError("string too long")
    out += _I16.pack(len(raw))
    out += raw


def write_compact_string(out: bytearray, v: str | None) -> None:
    if v is None:
        out.append(0)
        return
    raw = v.encode("utf-8")
    if len(raw) > 0x7FFF:
        raise ValueError("string too long")
    write_uvarint(out, len(raw) + 1)
    out += raw


def write_bytes(out: bytearray, v: Buffer | None) -> None:
    if v is None:
        out += b"\xff\xff\xff\xff"
        return
    out += _I32.pack(len(v))
    out += v


def write_compact_bytes(out: bytearray, v: Buffer | None) -> None:
    if v is None:
        out.append(0)
        return
    write_uvarint(out, len(v) + 1)
    out += v

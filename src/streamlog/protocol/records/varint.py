"""Zig-zag varints (protobuf style) as used inside v2 records, and the one decoder of a record's varints.

Theory of operation: a signed value ``v`` is zig-zag mapped to an unsigned one
(``(v << 1) ^ (v >> 63)``) so small magnitudes of either sign stay short, then written 7 bits per
byte, least significant group first, with the high bit set on every byte but the last. A VARINT
(int32) takes at most 5 bytes, a VARLONG (int64) at most 10. Encodings longer than necessary but
within those limits are accepted (as Kafka's readers accept them).

``read_varint`` decodes one varint of any length. Every reader raises ``CorruptRecordError`` for an
encoding longer than its limit or one that runs past the end of the buffer.

Records are decoded here too, and only here: the per-record varints are most of what reading a
record costs, and a function call per varint (or per record) costs a quarter of it again, so they
are decoded in line, in one generator per batch (``bench/varint.py`` measures this):

``iter_record_heads(data, p, end, count)`` walks a batch's records section and yields, per record,
the fixed run of varints that opens it (length, timestampDelta, offsetDelta, keyLength) as a
``RecordHead``: ``(start, body, after_timestamp, end, timestamp_delta, offset_delta, key_start,
key_length, tail)``. ``start..end`` are the record's bytes, length varint included; ``body`` is
where its attributes byte is; ``after_timestamp`` where the bytes after its timestampDelta begin;
the key is ``data[key_start:tail]`` (``key_length`` -1: null, and then ``tail == key_start``);
``tail`` is where the valueLength varint begins. The cleaner needs nothing more (a tombstone is a
record whose tail byte is ``NULL_LENGTH``). ``read_record_tail(data, tail, end)`` decodes the rest
(valueLength, headersCount, each header's two lengths) for the readers that check or build whole
records, and returns ``(value_start, value_length, header_spans)``, a span being ``(key_start,
key_length, value_start, value_length)``.

Together they check what every reader checked before: the batch holds exactly ``count`` records
(``InvalidRecordError`` otherwise, as Kafka reports a count mismatch), each record's length is at
least ``MIN_RECORD_BODY`` and inside the section, its head leaves room in it for the value length
and the header count (so a head-only reader never reads past the record), no length is below -1
(key and header keys: not negative), the header count fits, and a record's fields end exactly at
its end (the last two checks are the tail's). Damage is ``CorruptRecordError``. Record layout: see ``record``.

Fast paths by table: for a first byte ``b`` below 0x80 the value is ``ZIGZAG_FIRST[b]``; for a
two-byte encoding ``b, c`` (``b >= 0x80 > c``) it is ``ZIGZAG_FIRST[b] + ZIGZAG_STEP[b] * c``.
Proof: the raw value is ``n = (b & 0x7F) | c << 7`` and decodes to ``(n >> 1) ^ -(n & 1)``, where
``n & 1 == b & 1``; for even ``b`` that is ``((b & 0x7F) >> 1) + 64 * c``, for odd ``b``
``~((b & 0x7F) >> 1) - 64 * c``. Longer encodings (values beyond +-8191) go to ``read_varint``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from .errors import CorruptRecordError, InvalidRecordError

__all__ = [
    "MIN_RECORD_BODY",
    "NULL_LENGTH",
    "VARINT_MAX_BYTES",
    "VARLONG_MAX_BYTES",
    "ZIGZAG_FIRST",
    "ZIGZAG_STEP",
    "HeaderSpan",
    "RecordHead",
    "iter_record_heads",
    "read_record_tail",
    "read_varint",
    "size_of_varint",
    "write_varint",
]

VARINT_MAX_BYTES: Final = 5
VARLONG_MAX_BYTES: Final = 10
# Smallest record body (after the length varint): attributes + five one-byte varints.
MIN_RECORD_BODY: Final = 6
NULL_LENGTH: Final = 1  # the one-byte varint of -1: the length of a null key, value or header value

ZIGZAG_FIRST: Final = tuple(((b & 0x7F) >> 1) ^ -(b & 1) for b in range(256))
ZIGZAG_STEP: Final = tuple(0 if b < 0x80 else -64 if b & 1 else 64 for b in range(256))

Buffer = bytes | bytearray | memoryview
# (start, body, after_timestamp, end, timestamp_delta, offset_delta, key_start, key_length, tail)
RecordHead = tuple[int, int, int, int, int, int, int, int, int]
HeaderSpan = tuple[int, int, int, int]  # (key_start, key_length, value_start, value_length)


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


def iter_record_heads(data: Buffer, p: int, end: int, count: int) -> Iterator[RecordHead]:
    """The heads of the ``count`` records in ``data[p:end]`` (see the module docstring).

    The checks after the last record (nothing left over) run when the iterator is exhausted.
    """
    first, step, rv, vi = ZIGZAG_FIRST, ZIGZAG_STEP, read_varint, VARINT_MAX_BYTES
    try:
        for index in range(count):
            if p >= end:
                raise InvalidRecordError(f"batch declares {count} records but holds {index}")
            start = p
            b = data[p]
            if b < 0x80:
                length, p = first[b], p + 1
            elif (c := data[p + 1]) < 0x80:
                length, p = first[b] + step[b] * c, p + 2
            else:
                length, p = rv(data, p, vi)
            record_end = p + length
            if length < MIN_RECORD_BODY or record_end > end:
                raise CorruptRecordError(f"bad record length {length}")
            body = p
            b = data[p + 1]  # after the attributes byte
            if b < 0x80:
                timestamp_delta, p = first[b], p + 2
            elif (c := data[p + 2]) < 0x80:
                timestamp_delta, p = first[b] + step[b] * c, p + 3
            else:
                timestamp_delta, p = rv(data, p + 1)
            after_timestamp = p
            b = data[p]
            if b < 0x80:
                offset_delta, p = first[b], p + 1
            elif (c := data[p + 1]) < 0x80:
                offset_delta, p = first[b] + step[b] * c, p + 2
            else:
                offset_delta, p = rv(data, p, vi)
            b = data[p]
            if b < 0x80:
                key_length, p = first[b], p + 1
            elif (c := data[p + 1]) < 0x80:
                key_length, p = first[b] + step[b] * c, p + 2
            else:
                key_length, p = rv(data, p, vi)
            if key_length >= 0:
                tail = p + key_length
            elif key_length == -1:
                tail = p
            else:
                raise CorruptRecordError(f"bad key length {key_length}")
            if tail > record_end - 2:  # the value length and the header count must follow in the record
                raise CorruptRecordError(f"record fields run past its length {length}")
            yield start, body, after_timestamp, record_end, timestamp_delta, offset_delta, p, key_length, tail
            p = record_end
    except IndexError:
        raise CorruptRecordError("record runs past the end of the records section") from None
    if p != end:
        raise InvalidRecordError(f"{end - p} bytes remain after the {count} declared records")


def read_record_tail(data: Buffer, p: int, record_end: int) -> tuple[int, int, Sequence[HeaderSpan]]:
    """``(value_start, value_length, header_spans)`` of the record whose tail starts at ``p``
    (a head's ``tail``) and which ends at ``record_end``; ``value_length`` -1 is a null value."""
    first, step, rv, vi = ZIGZAG_FIRST, ZIGZAG_STEP, read_varint, VARINT_MAX_BYTES
    try:
        b = data[p]
        if b < 0x80:
            value_length, p = first[b], p + 1
        elif (c := data[p + 1]) < 0x80:
            value_length, p = first[b] + step[b] * c, p + 2
        else:
            value_length, p = rv(data, p, vi)
        value_start = p
        if value_length >= 0:
            p += value_length
        elif value_length != -1:
            raise CorruptRecordError(f"bad value length {value_length}")
        b = data[p]
        if b < 0x80:
            count, p = first[b], p + 1
        else:
            count, p = rv(data, p, vi)
        spans: Sequence[HeaderSpan] = ()
        if count:
            if count < 0 or count > (record_end - p) // 2:
                raise CorruptRecordError(f"bad header count {count}")
            found: list[HeaderSpan] = []
            for _ in range(count):
                b = data[p]
                if b < 0x80:
                    key_length, p = first[b], p + 1
                else:
                    key_length, p = rv(data, p, vi)
                if key_length < 0 or p + key_length > record_end:
                    raise CorruptRecordError(f"bad header key length {key_length}")
                key_start = p
                b = data[p + key_length]
                if b < 0x80:
                    length, p = first[b], p + key_length + 1
                else:
                    length, p = rv(data, p + key_length, vi)
                found.append((key_start, key_length, p, length))
                if length >= 0:
                    p += length
                elif length != -1:
                    raise CorruptRecordError(f"bad header value length {length}")
            spans = found
    except IndexError:
        raise CorruptRecordError("record runs past the end of the records section") from None
    if p != record_end:
        raise CorruptRecordError(f"record length does not match its contents ({p - record_end:+} bytes)")
    return value_start, value_length, spans


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

"""Records inside a v2 batch: lazy decoding for tools, fetch-side readers and compaction.

Theory of operation: ``iter_records`` parses the batch header eagerly (so a bad header raises at
the call), then yields records one at a time. An uncompressed records section is read in place
from the caller's buffer; a compressed one is inflated once, on the first ``next()``. Offsets and
timestamps are made absolute: offset = baseOffset + offsetDelta; timestamp = baseTimestamp +
timestampDelta, or the batch's maxTimestamp for every record under LogAppendTime (as Kafka's
readers do). The CRC is not checked here; call ``verify_crc`` (or ``validate_batch``) for that.

Record layout (varints are zig-zag, see ``varint``)::

    length          varint   bytes of the record after this field
    attributes      int8     unused (0)
    timestampDelta  varlong  relative to baseTimestamp
    offsetDelta     varint   relative to baseOffset
    keyLength       varint   -1 = null key
    key             bytes
    valueLength     varint   -1 = null value (a tombstone)
    value           bytes
    headersCount    varint
    headers         repeated: headerKeyLength varint, headerKey UTF-8,
                              headerValueLength varint (-1 = null), headerValue bytes

Control record (in a batch with attribute bit 5 set)::

    key   = version int16 (0), type int16 (0 ABORT, 1 COMMIT; 2-6 are KRaft types)
    value = version int16 (0), coordinatorEpoch int32        (end-transaction marker)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from .compression import DEFAULT_MAX_DECOMPRESSED, Compression, decompress
from .errors import CorruptRecordError, InvalidRecordError
from .header import ATTR_LOG_APPEND_TIME, HEADER_SIZE, BatchHeader, parse_header
from .varint import VARINT_MAX_BYTES, read_varint

__all__ = [
    "CONTROL_KEY_STRUCT",
    "END_TXN_VALUE_STRUCT",
    "MIN_RECORD_BODY",
    "ControlType",
    "Header",
    "Record",
    "decode_control_record",
    "iter_records",
    "records_section",
]

Buffer = bytes | bytearray | memoryview

# Smallest record body (after the length varint): attributes + five one-byte varints.
MIN_RECORD_BODY = 6

CONTROL_KEY_STRUCT = struct.Struct(">hh")
END_TXN_VALUE_STRUCT = struct.Struct(">hi")


class ControlType(IntEnum):
    """Type field of a transaction control record's key."""

    ABORT = 0
    COMMIT = 1


@dataclass(frozen=True, slots=True)
class Header:
    """One record header: a UTF-8 key and a nullable byte value."""

    key: str
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Record:
    """One decoded record, with absolute offset and timestamp."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]


def records_section(
    buf: Buffer, pos: int, header: BatchHeader, max_decompressed: int | None = DEFAULT_MAX_DECOMPRESSED
) -> tuple[Buffer, int, int]:
    """The (decompressed) records section of a batch as ``(data, start, end)``.

    Uncompressed batches are not copied: ``data`` is ``buf`` itself and ``start``/``end`` bound
    the records inside it.
    """
    end = pos + header.batch_length + 12
    if end > len(buf):
        raise CorruptRecordError("batch runs past the end of the buffer")
    codec = header.attributes & 0x07
    if codec == Compression.NONE:
        return buf, pos + HEADER_SIZE, end
    with memoryview(buf) as view:
        data = decompress(Compression(codec), view[pos + HEADER_SIZE : end], max_size=max_decompressed)
    return data, 0, len(data)


def iter_records(
    buf: Buffer, pos: int = 0, *, max_decompressed: int | None = DEFAULT_MAX_DECOMPRESSED
) -> Iterator[Record]:
    """Lazily decode the records of the one batch at ``pos`` (decompressing if needed).

    Raises ``CorruptRecordError`` for malformed data and ``InvalidRecordError`` if the number of
    records differs from the header's recordsCount.
    """
    header = parse_header(buf, pos)
    return _iter_records(buf, pos, header, max_decompressed)


def _iter_records(
    buf: Buffer, pos: int, header: BatchHeader, max_decompressed: int | None
) -> Iterator[Record]:
    data, p, end = records_section(buf, pos, header, max_decompressed)
    count = header.records_count
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    append_time = header.max_timestamp if header.attributes & ATTR_LOG_APPEND_TIME else None
    for index in range(count):
        if p >= end:
            raise InvalidRecordError(f"batch declares {count} records but holds {index}")
        record, p = _decode_record(data, p, end, base_offset, base_timestamp, append_time)
        yield record
    if p != end:
        raise InvalidRecordError(f"{end - p} bytes remain after the {count} declared records")


def _decode_record(
    data: Buffer, p: int, end: int, base_offset: int, base_timestamp: int, append_time: int | None
) -> tuple[Record, int]:
    try:
        length, p = read_varint(data, p, VARINT_MAX_BYTES)
        record_end = p + length
        if length < MIN_RECORD_BODY or record_end > end:
            raise CorruptRecordError(f"bad record length {length}")
        timestamp_delta, p = read_varint(data, p + 1)  # skip the attributes byte
        offset_delta, p = read_varint(data, p, VARINT_MAX_BYTES)
        key_length, p = read_varint(data, p, VARINT_MAX_BYTES)
        key = None
        if key_length >= 0:
            key = bytes(data[p : p + key_length])
            p += key_length
        elif key_length != -1:
            raise CorruptRecordError(f"bad key length {key_length}")
        value_length, p = read_varint(data, p, VARINT_MAX_BYTES)
        value = None
        if value_length >= 0:
            value = bytes(data[p : p + value_length])
            p += value_length
        elif value_length != -1:
            raise CorruptRecordError(f"bad value length {value_length}")
        count, p = read_varint(data, p, VARINT_MAX_BYTES)
        if count < 0 or count > (record_end - p) // 2:
            raise CorruptRecordError(f"bad header count {count}")
        headers: list[Header] = []
        for _ in range(count):
            hk_length, p = read_varint(data, p, VARINT_MAX_BYTES)
            if hk_length < 0 or p + hk_length > record_end:
                raise CorruptRecordError(f"bad header key length {hk_length}")
            h_key = bytes(data[p : p + hk_length]).decode("utf-8", "replace")
            p += hk_length
            hv_length, p = read_varint(data, p, VARINT_MAX_BYTES)
            h_value = None
            if hv_length >= 0:
                h_value = bytes(data[p : p + hv_length])
                p += hv_length
            elif hv_length != -1:
                raise CorruptRecordError(f"bad header value length {hv_length}")
            headers.append(Header(h_key, h_value))
    except IndexError:
        raise CorruptRecordError("record runs past the end of the records section") from None
    if p != record_end:
        raise CorruptRecordError(f"record length {length} does not match its contents")
    timestamp = base_timestamp + timestamp_delta if append_time is None else append_time
    return Record(base_offset + offset_delta, timestamp, key, value, tuple(headers)), p


def decode_control_record(record: Record) -> tuple[int, int] | None:
    """``(ControlType, coordinator_epoch)`` of a transaction marker; None for anything else."""
    key, value = record.key, record.value
    if key is None or len(key) < 4 or value is None or len(value) < 6:
        return None
    version, control_type = CONTROL_KEY_STRUCT.unpack_from(key)
    if version < 0 or control_type not in (ControlType.ABORT, ControlType.COMMIT):
        return None
    _, coordinator_epoch = END_TXN_VALUE_STRUCT.unpack_from(value)
    return ControlType(control_type), coordinator_epoch

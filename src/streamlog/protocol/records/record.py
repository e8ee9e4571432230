"""Records inside a v2 batch: lazy decoding for tools, fetch-side readers and compaction.

Theory of operation: ``iter_records`` parses the batch header eagerly (so a bad header raises at
the call), then yields records one at a time. An uncompressed records section is read in place
from the caller's buffer; a compressed one is inflated once, on the first ``next()``. Offsets and
timestamps are made absolute: offset = baseOffset + offsetDelta; timestamp = baseTimestamp +
timestampDelta, or the batch's maxTimestamp for every record under LogAppendTime (as Kafka's
readers do); a record whose offset or timestamp falls outside int64 is corrupt. The CRC is not
checked here; call ``verify_crc`` (or ``validate_batch``) for that.
The varints are decoded by ``varint.iter_record_heads`` and ``varint.read_record_tail``, the one
decoder of record fields that the validator and the cleaner use too.

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
from .errors import CorruptRecordError
from .header import ATTR_LOG_APPEND_TIME, HEADER_SIZE, BatchHeader, parse_header
from .varint import MIN_RECORD_BODY, iter_record_heads, read_record_tail

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

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1  # offsets and timestamps are int64 on the wire

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
    base_offset = header.base_offset
    base_timestamp = header.base_timestamp
    append_time = header.max_timestamp if header.attributes & ATTR_LOG_APPEND_TIME else None
    for _start, _body, _after, record_end, timestamp_delta, offset_delta, key_start, key_length, tail in (
        iter_record_heads(data, p, end, header.records_count)
    ):
        value_start, value_length, spans = read_record_tail(data, tail, record_end)
        offset = base_offset + offset_delta
        timestamp = base_timestamp + timestamp_delta if append_time is None else append_time
        if not (_INT64_MIN <= offset <= _INT64_MAX and _INT64_MIN <= timestamp <= _INT64_MAX):
            raise CorruptRecordError(f"record offset {offset} or timestamp {timestamp} is not an int64")
        yield Record(
            offset,
            timestamp,
            None if key_length < 0 else bytes(data[key_start:tail]),
            None if value_length < 0 else bytes(data[value_start : value_start + value_length]),
            tuple(
                Header(
                    bytes(data[k : k + k_length]).decode("utf-8", "replace"),
                    None if v_length < 0 else bytes(data[v : v + v_length]),
                )
                for k, k_length, v, v_length in spans
            )
            if spans
            else (),
        )


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
